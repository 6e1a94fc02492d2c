"""A scriptable remote mail server (aiosmtpd on loopback) for outbound delivery tests.

Recipients' local parts choose what happens to them:

    reject-…    550 5.1.1 at RCPT (no such user)
    greylist-…  451 4.7.1 at RCPT the first time, then accepted
    full-…      452 4.2.2 at RCPT, always (mailbox full)
    stall-…     the first DATA for it is recorded, then the reply is held back (the sender's worker
                can be killed meanwhile); later ones are answered at once
    anything    250

STARTTLS is offered with a throwaway self-signed certificate (senders use opportunistic TLS).
Every DATA that arrives is recorded in `received`, even one whose reply never goes out.
"""

from __future__ import annotations

import asyncio
import datetime
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .postgres import free_port


@dataclass
class Delivery:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    mail_options: list[str]
    helo: str | None
    login: str | None = None
    session: int = 0  # which connection carried it (numbered in order of first use)


@dataclass
class Handler:
    received: list[Delivery] = field(default_factory=list)
    rcpt_attempts: list[str] = field(default_factory=list)
    stall_seconds: float = 30.0
    _seen: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sessions: int = 0

    def _first(self, key: str) -> bool:
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        local = address.lower().rpartition("@")[0]
        self.rcpt_attempts.append(address)
        if local.startswith("reject-"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if local.startswith("full-"):
            return "452 4.2.2 Mailbox full, try again later"
        if local.startswith("greylist-") and self._first(f"greylist:{address.lower()}"):
            return "451 4.7.1 Greylisted, please try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content if envelope.original_content is not None else envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        login = session.auth_data if isinstance(session.auth_data, str) else None
        self.received.append(Delivery(
            mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), data=data,
            tls=session.ssl is not None, mail_options=list(envelope.mail_options), helo=session.host_name,
            login=login, session=self._session_number(session),
        ))
        stalled = [r for r in envelope.rcpt_tos if r.lower().startswith("stall-")]
        if stalled and self._first(f"stall:{stalled[0].lower()}"):
            await asyncio.sleep(self.stall_seconds)
        return "250 2.0.0 OK queued"

    def to(self, address: str) -> list[Delivery]:
        return [d for d in list(self.received) if address.lower() in (r.lower() for r in d.rcpt_tos)]

    def _session_number(self, session: Session) -> int:
        with self._lock:
            if not hasattr(session, "number"):
                self._sessions += 1
                session.number = self._sessions  # type: ignore[attr-defined]
            return session.number  # type: ignore[attr-defined,no-any-return]


def self_signed_context() -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx.remote.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    directory = Path(tempfile.mkdtemp(prefix="fake-mx-"))
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


class FakeMX:
    """The server runs on its own thread and event loop; `stop()` when done."""

    def __init__(self, *, tls: bool = True, credentials: tuple[str, str] | None = None) -> None:
        self.handler = Handler()
        self.port = free_port()
        params: dict[str, Any] = {"enable_SMTPUTF8": True, "decode_data": False}
        if tls:
            params["tls_context"] = self_signed_context()
        if credentials is not None:
            def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                             auth_data: Any) -> AuthResult:
                ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(),
                                                               auth_data.password.decode()) == credentials
                # handled=False: aiosmtpd itself answers 535 to a failure.
                return AuthResult(success=ok, handled=False, auth_data=auth_data.login.decode() if ok else None)

            params.update(authenticator=authenticate, auth_require_tls=False)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **params)

    def start(self) -> FakeMX:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Delivery]:
        return self.handler.received

    def to(self, address: str) -> list[Delivery]:
        return self.handler.to(address)
