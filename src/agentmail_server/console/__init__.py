"""The web console served by the server itself (issue 8).

Plain HTML, CSS and JavaScript modules from `static/`, served as they are: nothing to build. The
pages hold no data; the console signs in with an API key and talks to the server only through the
public /v0 API, like any other client. So `/console` needs no authentication of its own (it is
outside /v0, which api/guard.py authenticates).

Every console response carries a strict Content-Security-Policy: scripts and styles from this origin
only, requests to this origin only (the WebSocket included), no plugins, no framing by other sites.
Inline styles are allowed because an HTML message is shown in a sandboxed `srcdoc` iframe, which
inherits this policy, and mail relies on them; the frame adds its own stricter policy on top (no
remote images, fonts or frames) and runs no script (`sandbox` without allow-scripts). Trusted Types
make the browser refuse any HTML string assigned to the console's DOM except through the one policy
that builds that frame.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI, Response
from fastapi.responses import RedirectResponse

STATIC = Path(__file__).parent / "static"
PREFIX = "/console"
TRUSTED_TYPES_POLICY = "mail-frame"  # created in static/frame.js

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    f"trusted-types {TRUSTED_TYPES_POLICY}",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    # Always revalidated: a new server version's files are picked up at once.
    "Cache-Control": "no-cache",
}

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(html|js|css|svg)$")


def _files() -> dict[str, Path]:
    """The servable files by name: flat, with known extensions (no path from the request reaches the disk)."""
    return {p.name: p for p in STATIC.iterdir() if p.is_file() and _NAME.match(p.name)}


def _serve(path: Path) -> Response:
    # The server leaves the body out of HEAD answers itself.
    return Response(path.read_bytes(), media_type=MEDIA_TYPES[path.suffix], headers=SECURITY_HEADERS)


def _not_found() -> Response:
    return Response("Not found\n", status_code=404, media_type="text/plain; charset=utf-8", headers=SECURITY_HEADERS)


def mount(app: FastAPI) -> None:
    """Add the console's routes to `app`: `/console` (the page) and `/console/<file>` (its modules)."""
    files = _files()

    @app.api_route(PREFIX, methods=["GET", "HEAD"], include_in_schema=False)
    async def console_root() -> Response:
        # Relative module URLs in index.html resolve against /console/.
        return RedirectResponse(f"{PREFIX}/", status_code=308, headers=SECURITY_HEADERS)

    @app.api_route(PREFIX + "/", methods=["GET", "HEAD"], include_in_schema=False)
    async def console_index() -> Response:
        return _serve(files["index.html"])

    @app.api_route(PREFIX + "/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    async def console_file(name: str) -> Response:
        path = files.get(name)
        return _serve(path) if path is not None else _not_found()
