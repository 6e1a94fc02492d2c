"""Housekeeping on a real server: finished work and expired records go, live data stays."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from .conftest import database_url, make_http
from .db_access import run_sql
from .mail_helpers import build, crlf, send_raw, wait_for, wait_messages
from .server import Server
from .wire import error


@pytest.fixture
def tidy_server(request, server, tmp_path):
    srv = Server(backend=server.backend, database_url=database_url(server.backend, tmp_path, request),
                 workdir=tmp_path, extra_env={
                     "AGENTMAIL_JANITOR_INTERVAL_SECONDS": "0.3",
                     "AGENTMAIL_FINISHED_JOB_RETENTION_HOURS": "0",
                     "AGENTMAIL_INBOUND_ENVELOPE_RETENTION_HOURS": "0",
                 }).start()
    try:
        yield srv
    finally:
        srv.stop()


def _count(srv: Server, sql: str, **params) -> int:
    return int(run_sql(srv.database_url, sql, **params)[0][0])


def _old(srv: Server) -> datetime:
    # Stored as naive UTC on SQLite (see db/types.py) and as timestamptz on PostgreSQL.
    when = datetime.now(UTC) - timedelta(days=2)
    return when.replace(tzinfo=None) if srv.backend == "sqlite" else when


def test_janitor_purges_finished_work_and_orphans_but_keeps_messages(tidy_server):
    srv = tidy_server
    with make_http(srv) as http:
        inbox = http.post("/v0/inboxes", json={"username": f"j-{uuid.uuid4().hex[:8]}"}).json()["inbox_id"]
        send_raw(srv, crlf(build(to=inbox, subject="keep me", text="body\n").as_bytes()), [inbox])
        [kept] = wait_messages(http, inbox, 1)

        # The envelope and its finished job go; the message and the blob it points at stay.
        wait_for(lambda: _count(srv, "SELECT count(*) FROM inbound_mail") == 0 or None, what="envelope purged")
        wait_for(lambda: _count(srv, "SELECT count(*) FROM jobs WHERE status = 'done'") == 0 or None,
                 what="done jobs purged")
        raw = http.get(f"/v0/inboxes/{inbox}/messages/{kept['message_id']}/raw")
        assert raw.status_code == 200

        # A deleted message's blob becomes unreferenced; once past the grace period it is removed.
        send_raw(srv, crlf(build(to=inbox, subject="delete me", text="gone\n").as_bytes()), [inbox])
        doomed = next(m for m in wait_messages(http, inbox, 2) if m["subject"] == "delete me")
        blob_id = run_sql(srv.database_url, "SELECT blob_id FROM messages WHERE message_id = :m",
                          m=doomed["message_id"])[0][0]
        assert http.delete(f"/v0/inboxes/{inbox}/messages/{doomed['message_id']}").status_code == 204
        run_sql(srv.database_url, "UPDATE blobs SET created_at = :t WHERE id = :b", t=_old(srv), b=blob_id)
        wait_for(lambda: _count(srv, "SELECT count(*) FROM blobs WHERE id = :b", b=blob_id) == 0 or None,
                 what="orphan blob removed")
        error(http.get(f"/v0/inboxes/{inbox}/messages/{doomed['message_id']}/raw"), 404)
        assert http.get(f"/v0/inboxes/{inbox}/messages/{kept['message_id']}/raw").status_code == 200

        # Idempotency records live 24 hours.
        other = http.post("/v0/inboxes", json={"username": f"j-{uuid.uuid4().hex[:8]}"}).json()["inbox_id"]
        sent = http.post(f"/v0/inboxes/{inbox}/messages/send", headers={"Idempotency-Key": "janitor-key"},
                         json={"to": [other], "subject": "s", "text": "t"})
        assert sent.status_code == 200
        assert _count(srv, "SELECT count(*) FROM idempotency_keys WHERE key = 'janitor-key'") == 1
        run_sql(srv.database_url, "UPDATE idempotency_keys SET created_at = :t WHERE key = 'janitor-key'", t=_old(srv))
        wait_for(lambda: _count(srv, "SELECT count(*) FROM idempotency_keys WHERE key = 'janitor-key'") == 0
                 or None, what="expired idempotency record removed")
