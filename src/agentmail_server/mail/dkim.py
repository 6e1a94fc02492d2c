"""DKIM for outgoing mail (RFC 6376): key generation, the DNS record, and signing.

Signatures are rsa-sha256 over relaxed/relaxed canonicalization with 2048-bit keys, the shape every
receiver accepts. The signed header set is dkimpy's copy of RFC 6376 §5.4.1's recommendation (From,
To, Cc, Subject, Date, Message-ID, In-Reply-To, References, MIME and List-* headers, …) restricted to
those present; the identity-bearing singletons are signed once more than they occur ("oversigned")
so nobody can add a second From or Subject after signing. The l= body length tag is never used: it
would let anyone append content under our signature.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_BITS = 2048
ALGORITHM = "rsa-sha256"
# Singletons a forger would most like to prepend; an extra h= entry for each makes an added copy fail.
OVERSIGNED = (b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"reply-to")


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_b64: str


def generate_key() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return KeyPair(private_pem=private, public_b64=base64.b64encode(public).decode("ascii"))


def record_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain}"


def record_value(public_b64: str) -> str:
    """The TXT record value (one string; DNS providers split values over 255 bytes themselves)."""
    return f"v=DKIM1; k=rsa; p={public_b64}"


def sign(message: bytes, *, domain: str, selector: str, private_pem: str) -> bytes:
    """`message` with a DKIM-Signature header prepended. CPU-bound (~10 ms): call it in a thread."""
    signer = dkim.DKIM(message, linesep=b"\r\n")
    signer.frozen_sign = set(OVERSIGNED)
    header = signer.sign(selector.encode("ascii"), domain.encode("idna"), private_pem.encode("ascii"),
                         canonicalize=(b"relaxed", b"relaxed"))
    return header + message
