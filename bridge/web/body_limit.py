"""A ceiling on every HTTP request body, enforced before any route reads it.

Webhooks are checked for their signature only once their body is read, and JSON
routes parse before they authorise: without a ceiling an anonymous client could make
the bridge hold a 100 MB body in memory per request. A declared ``Content-Length``
over the limit is answered 413 at once; a chunked body is counted as it arrives and
cut off with 413 when it passes the limit. WebSockets are not HTTP bodies and pass.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.logs import get_logger

log = get_logger(__name__)

# Flows are the largest thing anyone posts (a few kB to some hundred kB of YAML);
# carrier webhooks are a few hundred bytes.
MAX_BODY_BYTES = 1_000_000


class TooLarge(HTTPException):
    """Raised from ``receive``: an HTTPException, so the route's own error handling
    answers 413 (FastAPI turns any other error while reading a body into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes")


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            self._log(scope, declared)
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    self._log(scope, seen)
                    raise TooLarge(self.max_bytes)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except TooLarge:
            if not started:  # no route answered it (FastAPI's would have: 413)
                await self._refuse(send)

    def _log(self, scope: Scope, size: int) -> None:
        log.warning(
            "request body too large",
            path=scope.get("path", ""),
            bytes=size,
            limit=self.max_bytes,
            client=(scope.get("client") or ("", 0))[0],
        )

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": f"request body over {self.max_bytes} bytes"}).encode()
        headers: list[Any] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
