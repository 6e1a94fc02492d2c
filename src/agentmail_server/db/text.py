"""Text from outside (a remote server's reply, a receiver's response body) made storable."""

from __future__ import annotations


def storable(text: str | None, *, limit: int | None = None) -> str | None:
    """Valid UTF-8 without NUL, optionally cut to `limit` characters.

    Both engines refuse lone surrogates (what undecodable bytes become with surrogateescape) and
    PostgreSQL refuses NUL; a row that cannot be written would otherwise fail the whole transaction
    recording an outcome, and the work would be repeated.
    """
    if text is None:
        return None
    cleaned = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    return cleaned[:limit] if limit is not None else cleaned
