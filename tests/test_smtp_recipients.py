"""RCPT answers and the listener's cache of accepted addresses (mail/recipients.py).

The listener remembers the addresses it accepted; a committed change to inboxes or domains clears
that memory in every process. The cache keeps entries for 30 s otherwise, so a refusal seen within a
few seconds of a change was caused by the change's notification, not by the entry expiring.
"""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from agentmail.inboxes import CreateInboxRequest

from .conftest import database_url, make_sdk
from .mail_helpers import wait_for
from .server import Server

DOMAIN = "agentmail.localhost"


def _rcpt(server: Server, address: str) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        client.ehlo("remote.test")
        client.mail("someone@remote.test")
        code, reply = client.rcpt(address)
    return code, reply[:5]


def test_an_accepted_address_follows_its_inbox_changes(server: Server) -> None:
    sdk = make_sdk(server)
    inbox = sdk.inboxes.create(request=CreateInboxRequest(username=f"rc-{uuid.uuid4().hex[:8]}")).inbox_id
    tagged = inbox.replace("@", "+news@")
    assert _rcpt(server, inbox) == (250, b"2.1.5")
    assert _rcpt(server, tagged) == (250, b"2.1.5")

    sdk.inboxes.update(inbox, status="paused")
    assert _rcpt(server, inbox) == (550, b"5.2.1")
    assert _rcpt(server, tagged) == (550, b"5.2.1")
    sdk.inboxes.update(inbox, status="active")
    assert _rcpt(server, inbox) == (250, b"2.1.5")

    sdk.inboxes.delete(inbox)
    assert _rcpt(server, inbox) == (550, b"5.1.1")
    assert _rcpt(server, tagged) == (550, b"5.1.1")


@pytest.fixture
def listener_and_api(request: pytest.FixtureRequest, server: Server, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """An smtp-only and an api-only process on one database (one SQLite file, or one PostgreSQL)."""
    url = database_url(server.backend, tmp_path, request)
    api = Server(backend=server.backend, database_url=url, workdir=tmp_path / "api",
                 extra_env={"AGENTMAIL_ROLES": "api"})
    smtp = Server(backend=server.backend, database_url=url, workdir=tmp_path / "smtp", api_key=api.api_key,
                  extra_env={"AGENTMAIL_ROLES": "smtp"})
    try:
        api.start()  # first: migrates and creates the organization
        smtp.start()
        yield smtp, api
    finally:
        smtp.stop()
        api.stop()


def test_a_change_made_by_another_process_reaches_the_listener(listener_and_api: tuple[Server, Server]) -> None:
    smtp, api = listener_and_api
    sdk = make_sdk(api)
    inbox = sdk.inboxes.create(request=CreateInboxRequest(username=f"rx-{uuid.uuid4().hex[:8]}")).inbox_id
    assert _rcpt(smtp, inbox) == (250, b"2.1.5")  # now remembered by the smtp process
    sdk.inboxes.update(inbox, status="paused")
    wait_for(lambda: _rcpt(smtp, inbox) == (550, b"5.2.1") or None, timeout=3,
             what="the smtp process to hear that the inbox was paused")
    sdk.inboxes.delete(inbox)
    wait_for(lambda: _rcpt(smtp, inbox) == (550, b"5.1.1") or None, timeout=3,
             what="the smtp process to hear that the inbox was deleted")
