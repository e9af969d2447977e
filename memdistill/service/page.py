"""The web page: `/` and its assets under `/ui/`, served from the package (`service/ui/`).

The page is static: plain ES modules that call the same HTTP API with the same keys (a key
is entered once per browser and kept in its localStorage), so it shows nothing a request
with that key could not. Nothing is fetched from elsewhere: the Markdown renderer, the
highlighter and the sanitiser ship in `ui/vendor/` with their licences.

Every response carries a strict Content-Security-Policy: scripts and styles only from this
server, no inline script or style, no connection elsewhere, and Trusted Types, so the one
place the page turns text into HTML (Markdown, sanitised by DOMPurify) is the only place
it can.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

UI = Path(__file__).resolve().parent / "ui"
CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types dompurify",
])  # fmt: skip
HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


class SecurityHeaders:
    """Adds `HEADERS` to every HTTP response, the CSP to the page's, and says how to cache
    them: the API's answers (memories) never, the page's files only after asking whether
    they changed (so an upgrade shows at once). FastAPI's /docs, which loads its scripts
    from a CDN, keeps working where the browser can reach one."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        path = scope["path"]
        wanted = {**HEADERS, "cache-control": "no-store" if path.startswith("/v1/") else "no-cache"}
        if path == "/" or path.startswith("/ui/"):
            wanted["content-security-policy"] = CSP

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                given = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in wanted.items()
                         if k.encode() not in given]  # fmt: skip
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def add_page(app: FastAPI) -> None:
    """Serve the page at `/` and its assets at `/ui/` (no key needed: they hold no data)."""

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(UI / "index.html")

    app.mount("/ui", StaticFiles(directory=UI), name="ui")
    app.add_middleware(SecurityHeaders)
