"""The MIME builder keeps non-ASCII free-text headers intact, however they fold."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from agentmail_server.mail.build import Composition, Mailbox, compose

SUBJECTS = [
    "Привет! Напоминаю о встрече в понедельник утром в главном офисе компании",
    "日本語 テスト " * 12,
    "Grüße aus Köln — " * 9 + "Ende",
    "short ü",
]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_non_ascii_subjects_and_custom_headers_survive_folding(subject: str) -> None:
    raw = compose(Composition(sender=Mailbox("Agent", "agent@agentmail.localhost"), message_id="<id@x.test>",
                              date=datetime.now(UTC), subject=subject, text="body", headers={"X-Note": subject}))
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == subject
    assert parsed["X-Note"] == subject
