"""The web console served by the server itself (issue 8)."""

from __future__ import annotations

from fastapi import FastAPI


def mount(app: FastAPI) -> None:
    """Add the console's routes to `app`."""
    return None
