"""The SMTP listener's edges: size limit, STARTTLS, and temporary failures instead of lost mail."""

from __future__ import annotations

import asyncio
import datetime as dt
import smtplib
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from agentmail.inboxes import CreateInboxRequest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .conftest import database_url, make_http, make_sdk
from .mail_helpers import build, crlf, wait_messages
from .server import Server


def _server(request: pytest.FixtureRequest, backend: str, tmp_path: Path, **env: str) -> Server:
    return Server(backend=backend, database_url=database_url(backend, tmp_path, request), workdir=tmp_path,
                  extra_env=env).start()


def _inbox(srv: Server) -> str:
    return make_sdk(srv).inboxes.create(request=CreateInboxRequest(username=f"s-{uuid.uuid4().hex[:8]}")).inbox_id


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def small_server(request: pytest.FixtureRequest, server: Server, tmp_path: Path) -> Iterator[Server]:
    srv = _server(request, server.backend, tmp_path, AGENTMAIL_SMTP_MAX_MESSAGE_BYTES="20000")
    yield srv
    srv.stop()


def test_oversized_message_is_refused_with_552(small_server: Server):
    inbox = _inbox(small_server)
    big = crlf(build(to=inbox, text="y" * 40_000).as_bytes())
    with smtplib.SMTP("127.0.0.1", small_server.smtp_port) as client:
        client.ehlo()
        assert client.has_extn("size") and client.esmtp_features["size"] == "20000"
        with pytest.raises(smtplib.SMTPSenderRefused) as declared:
            client.sendmail("a@example.test", [inbox], big)  # smtplib declares SIZE= itself
        assert declared.value.smtp_code == 552
        client.rset()
        # Not declared: refused after the data, and the session stays usable.
        client.mail("a@example.test")
        client.rcpt(inbox)
        code, _ = client.data(big)
        assert code == 552
        assert client.noop()[0] == 250
        client.sendmail("a@example.test", [inbox], crlf(build(to=inbox, subject="small").as_bytes()))
    with make_http(small_server) as http:
        assert [m["subject"] for m in wait_messages(http, inbox, 1)] == ["small"]


def test_starttls_when_a_certificate_is_configured(request: pytest.FixtureRequest, server: Server, tmp_path: Path):
    cert, key = _self_signed(tmp_path)
    srv = _server(request, server.backend, tmp_path, AGENTMAIL_SMTP_TLS_CERT=str(cert),
                  AGENTMAIL_SMTP_TLS_KEY=str(key))
    try:
        inbox = _inbox(srv)
        context = ssl.create_default_context(cafile=str(cert))
        with smtplib.SMTP("localhost", srv.smtp_port) as client:
            client.ehlo()
            assert client.has_extn("starttls")
            client.starttls(context=context)
            client.ehlo()
            client.sendmail("a@example.test", [inbox], crlf(build(to=inbox, subject="over tls").as_bytes()))
        with make_http(srv) as http:
            assert [m["subject"] for m in wait_messages(http, inbox, 1)] == ["over tls"]
    finally:
        srv.stop()


def test_overload_answers_451(request: pytest.FixtureRequest, server: Server, tmp_path: Path):
    srv = _server(request, server.backend, tmp_path, AGENTMAIL_SMTP_MAX_INFLIGHT="0")
    try:
        inbox = _inbox(srv)
        with smtplib.SMTP("127.0.0.1", srv.smtp_port) as client, pytest.raises(smtplib.SMTPDataError) as exc:
            client.sendmail("a@example.test", [inbox], crlf(build(to=inbox).as_bytes()))
        assert exc.value.smtp_code == 451
        with make_http(srv) as http:
            assert http.get(f"/v0/inboxes/{inbox}/messages").json()["count"] == 0
    finally:
        srv.stop()


def _sql(admin_url: str, statement: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def test_database_outage_answers_4xx_never_250(request: pytest.FixtureRequest, postgres_admin_url: str,
                                                tmp_path: Path):
    # PostgreSQL only: it can refuse connections to one database while the server keeps running.
    srv = _server(request, "postgres", tmp_path)
    name = srv.database_url.rsplit("/", 1)[1]
    try:
        inbox = _inbox(srv)
        _sql(postgres_admin_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        _sql(postgres_admin_url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        with smtplib.SMTP("127.0.0.1", srv.smtp_port) as client:
            client.ehlo()
            client.mail("a@example.test")
            code, _ = client.rcpt(inbox)
            assert 400 <= code < 500, code
        _sql(postgres_admin_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        with smtplib.SMTP("127.0.0.1", srv.smtp_port) as client:
            client.sendmail("a@example.test", [inbox], crlf(build(to=inbox, subject="after").as_bytes()))
        with make_http(srv) as http:
            assert [m["subject"] for m in wait_messages(http, inbox, 1)] == ["after"]
    finally:
        _sql(postgres_admin_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        srv.stop()


def test_smtputf8_and_8bitmime(sdk, http, server):
    inbox = sdk.inboxes.create(request=CreateInboxRequest(username=f"utf8-{uuid.uuid4().hex[:8]}")).inbox_id
    raw = (
        f"From: 用户 <用户@例え.テスト>\r\nTo: {inbox}\r\nSubject: Grüße aus Köln ✓\r\n"
        f"Message-ID: <utf8-{uuid.uuid4().hex}@example.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Schöne Grüße — 你好\r\n"
    ).encode()
    with smtplib.SMTP("127.0.0.1", server.smtp_port) as client:
        client.ehlo()
        assert client.has_extn("smtputf8") and client.has_extn("8bitmime")
        client.sendmail("用户@例え.テスト", [inbox], raw, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    [item] = wait_messages(http, inbox, 1)
    got = http.get(f"/v0/inboxes/{inbox}/messages/{item['message_id']}").json()
    assert got["subject"] == "Grüße aus Köln ✓"
    assert got["from"] == "用户 <用户@例え.テスト>"
    assert got["text"].strip() == "Schöne Grüße — 你好"
