"""Hundreds of malformed and unusual messages over SMTP: each stored or refused, none breaks anything."""

from __future__ import annotations

import hashlib
import smtplib
import uuid

from agentmail.inboxes import CreateInboxRequest

from .corpus import generate_corpus
from .mail_helpers import smtp, wait_for


def test_corpus_is_stored_or_refused_and_reads_back(sdk, http, server):
    inbox = sdk.inboxes.create(request=CreateInboxRequest(username=f"corpus-{uuid.uuid4().hex[:8]}")).inbox_id
    corpus = generate_corpus()
    assert len(corpus) >= 200
    accepted: dict[str, bytes] = {}
    refused: dict[str, int] = {}
    client = smtp(server)
    try:
        for name, raw in corpus:
            try:
                client.sendmail("fuzz@example.test", [inbox], raw)
                accepted[name] = raw
            except smtplib.SMTPResponseException as exc:
                assert 400 <= exc.smtp_code < 600, (name, exc)
                refused[name] = exc.smtp_code
                client.rset()
            except smtplib.SMTPRecipientsRefused as exc:
                raise AssertionError(f"{name}: recipient refused {exc.recipients}") from exc
            # The session survives whatever the message was.
            assert client.noop()[0] == 250, name
    finally:
        client.quit()
    assert len(accepted) >= 200, refused

    distinct = {hashlib.sha256(raw).hexdigest() for raw in accepted.values()}

    def processed() -> list[dict] | None:
        items: list[dict] = []
        token = None
        while True:
            body = http.get(f"/v0/inboxes/{inbox}/messages",
                            params={"limit": 1000, **({"page_token": token} if token else {})}).json()
            items += body["messages"]
            token = body.get("next_page_token")
            if not token:
                break
        return items if len(items) >= len(distinct) else None

    items = wait_for(processed, timeout=120, what="the corpus to be processed", interval=0.5)
    assert len(items) == len(distinct)
    for item in items:
        mid = item["message_id"]
        got = http.get(f"/v0/inboxes/{inbox}/messages/{_q(mid)}")
        assert got.status_code == 200, (mid, got.text)
        raw = http.get(f"/v0/inboxes/{inbox}/messages/{_q(mid)}/raw")
        assert raw.status_code == 200, (mid, raw.text)
        assert http.get(raw.json()["download_url"]).status_code == 200
        attachments = got.json().get("attachments", [])
        # Both ends of very long attachment lists, as test_mail_parse samples them: with hundreds of
        # parts at two requests each, reading every one took about 70 s per backend.
        for att in attachments[:10] + attachments[10:][-3:]:
            meta = http.get(f"/v0/inboxes/{inbox}/messages/{_q(mid)}/attachments/{att['attachment_id']}")
            assert meta.status_code == 200, (mid, meta.text)
            assert http.get(meta.json()["download_url"]).status_code == 200
        thread = http.get(f"/v0/threads/{item['thread_id']}")
        assert thread.status_code == 200, (mid, thread.text)


def _q(message_id: str) -> str:
    from urllib.parse import quote

    return quote(message_id, safe="")
