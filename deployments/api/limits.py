"""Request-body caps enforced at the ASGI layer, before routing, authentication or parsing.

FastAPI reads and parses a body before the dependencies that authenticate the request run, so an
anonymous client could otherwise make every replica buffer a body of any size. `BodyLimitMiddleware`
refuses a declared `Content-Length` over the limit at once (413, nothing read) and counts the bytes
of a streamed body as the app reads them, failing the read with 413 past the limit. The limit is
small for every route (`API__MAX_BODY_KB`) except the few that take uploads or imports.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyTooLargeError", "BodyLimit", "BodyLimitMiddleware"]


class BodyTooLargeError(HTTPException):
    """413: the body passed its route's limit (an `HTTPException`, so FastAPI renders it)."""

    def __init__(self, limit_bytes: int, what: str = "request body") -> None:
        super().__init__(413, f"{what} too large (limit {_size(limit_bytes)})")
        self.limit_bytes = limit_bytes


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n >= 2**20 and n % 2**20 == 0 else f"{n // 1024} KiB"


@dataclass(frozen=True)
class BodyLimit:
    """A larger limit for one method and path (exact, or a prefix when it ends with `/`); `what` names
    the body in the 413 message."""

    method: str
    path: str
    limit_bytes: int
    what: str = "request body"

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and (path == self.path or (self.path.endswith("/") and path.startswith(self.path)))


class BodyLimitMiddleware:
    """ASGI middleware capping HTTP request bodies (see the module docstring).

    Args:
        app: the app.
        default_bytes: the limit of every route not in `larger`.
        larger: the routes with a larger limit.
    """

    def __init__(self, app: ASGIApp, *, default_bytes: int, larger: Iterable[BodyLimit] = ()) -> None:
        self.app = app
        self.default_bytes = default_bytes
        self.larger = tuple(larger)

    def limit_for(self, method: str, path: str) -> tuple[int, str]:
        """The body limit of a request, and what its body is called."""
        return next(((r.limit_bytes, r.what) for r in self.larger if r.matches(method, path)),
                    (self.default_bytes, "request body"))  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, what = self.limit_for(scope["method"], scope.get("path", ""))
        declared = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, 413 if declared.isdigit() else 400,
                          f"{what} too large (limit {_size(limit)})" if declared.isdigit() else "bad Content-Length")
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit, what)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracking_send)
        except BodyTooLargeError as exc:  # raised outside FastAPI's handlers (e.g. by middleware)
            if started:
                raise
            await _refuse(send, 413, exc.detail)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
