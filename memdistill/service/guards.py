"""What the HTTP API checks before a request reaches an endpoint.

- `BodyLimit`: an ASGI middleware that counts a request body's bytes as they arrive, so a
  body with no Content-Length (chunked) is held to the same limit as one that states it.
  (FastAPI's own `max_body_size` answers a stated oversize length with a plain-text 413
  that replaces any other response, which would break the API's one error shape.)
- `loopback_only`: with auth off, a request must name a loopback host and come from no
  foreign web page (Host and Origin), so a browser tab cannot reach the keyless server
  through DNS rebinding or a cross-site form.
- `unknown_query`, `unknown_form_fields`: a query parameter or form field the endpoint
  does not take is an error, like an unknown body field: a misspelt filter must not
  silently widen a search, nor a misspelt upload `name` replace another log.
- `validation_error`: 422 in the API's one error shape, without echoing the input back
  (it may be what made the request invalid, such as a lone surrogate).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from memdistill.config import is_loopback

Scope = dict[str, Any]
ASGIApp = Callable[..., Any]


def error_response(status: int, message: str, kind: str, **extra: Any) -> JSONResponse:
    # Text that cannot be UTF-8 (a lone surrogate) is replaced, never a 500 while encoding.
    readable = message.encode("utf-8", "replace").decode("utf-8")
    return JSONResponse({"error": readable, "type": kind}, status, **extra)


class BodyLimit:
    """413 for a request body over `limit(path)` bytes, stated or streamed."""

    def __init__(self, app: ASGIApp, limit: Callable[[str], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Callable[..., Any], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        too_large = f"request body over {limit} bytes; send a smaller one"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and not length.isdigit():
            bad = "Content-Length must be a number of bytes"
            await error_response(400, bad, "HTTPError")(scope, receive, send)
            return
        if length is not None and int(length) > limit:
            await error_response(413, too_large, "HTTPError")(scope, receive, send)
            return
        received = 0

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:  # raised inside the app: its HTTPException handler answers
                raise HTTPException(413, too_large)
            return message

        await self.app(scope, counted, send)


def loopback_only(request: Request) -> None:
    host = urlsplit(f"//{request.headers.get('host', '')}").hostname or ""
    if not is_loopback(host):
        raise HTTPException(
            403, f"this server runs without keys and answers only requests to localhost, "
            f"not to {host!r}; use API keys to serve others",
        )  # fmt: skip
    origin = request.headers.get("origin")
    if origin is not None and not is_loopback(urlsplit(origin).hostname or ""):
        raise HTTPException(403, "this server runs without keys and refuses requests from web "
                            "pages of other sites (Origin header); use an API key")  # fmt: skip


def unknown_query(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        raise HTTPException(400, f"unknown query parameter {', '.join(unknown)}; this "
                            f"endpoint takes: {takes}")  # fmt: skip


async def unknown_form_fields(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = {param.alias for param in route.dependant.body_params}
    unknown = sorted(set((await request.form()).keys()) - known)  # parsed once, cached
    if unknown:
        takes = ", ".join(sorted(known))
        raise HTTPException(400, f"unknown form field {', '.join(unknown)}; this endpoint "
                            f"takes: {takes}")  # fmt: skip


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', 'invalid')}"
        for error in exc.errors()
    ]
    return error_response(422, "; ".join(problems) or "invalid request", "ValidationError")
