"""One call's WebSocket to the Realtime API: opened, written, and reopened when it drops.

Two tasks per call. The connection task opens the socket (``session.created``, then
the state's settings, which must be taken before anything else is sent), hands every
message it reads to ``on_message``, and on a drop opens a new one for ``reconnect_s``
before it gives up (``on_failed``). The writer task sends one queue of client events,
so nothing interleaves and a slow socket never blocks the caller's audio path: past
``MAX_QUEUED_AUDIO`` queued appends, new caller audio is dropped and counted.

What the conversation means by its events is :mod:`bridge.engines.openai.session`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from bridge import logs
from bridge.engines.base import EngineError
from bridge.engines.openai import protocol as p

log = logs.get_logger(__name__)

MAX_QUEUED_AUDIO = 100  # appends waiting for the socket (2 s): beyond, new ones are dropped
_AUDIO, _CONTROL = "A", "C"  # the first character of a queued message


class RealtimeSocket:
    """The socket and its outbound queue; ``settings()`` is the ``session.update`` each
    new connection starts with (after a reconnect, rebuilt with the call so far)."""

    def __init__(
        self,
        url: str,
        api_key: str,
        connect_timeout_s: float,
        reconnect_s: float,
        *,
        name: str,
        settings: Callable[[], dict[str, Any]],
        on_message: Callable[[str | bytes], None],
        on_resumed: Callable[[], None],
        on_failed: Callable[[EngineError], None],
    ) -> None:
        self.url, self._key = url, api_key
        self.connect_timeout_s, self.reconnect_s = connect_timeout_s, reconnect_s
        self._settings, self._on_message = settings, on_message
        self._on_resumed, self._on_failed = on_resumed, on_failed
        self.failed: EngineError | None = None
        self.dropped_audio = 0  # caller frames dropped while the socket was slow
        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()  # connected and configured
        self._out: deque[str] = deque()
        self._audio_queued = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._tasks = [
            asyncio.create_task(self._connection(), name=f"openai-{name}"),
            asyncio.create_task(self._writer(), name=f"openai-out-{name}"),
        ]

    @property
    def sending(self) -> bool:
        """Events are queued that the service has not been sent yet."""
        return bool(self._out)

    def send(self, event: dict[str, Any], audio: bool = False) -> None:
        if self._closing or self.failed is not None:
            return
        if audio:
            if self._audio_queued >= MAX_QUEUED_AUDIO:  # back-pressure: the socket is behind
                self.dropped_audio += 1
                return
            self._audio_queued += 1
        self._out.append((_AUDIO if audio else _CONTROL) + p.encode(event))
        self._wake.set()

    def forget_lost(self) -> None:
        """After a reconnect: drop queued audio and requests that belonged to the old
        session (the conversation asks again for what it still wants)."""
        self._out = deque(m for m in self._out if m[0] == _CONTROL and '"response.create"' not in m)
        self._audio_queued = 0

    def fail(self, exc: EngineError) -> None:
        """The call cannot go on with the service: stop sending, tell the conversation."""
        if self.failed is not None or self._closing:
            return
        log.warning("realtime engine failed", reason=str(exc))
        self.failed = exc
        self._out.clear()
        self._on_failed(exc)

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()

    # -- the writer ---------------------------------------------------------------------

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._out:
                await self._ready.wait()
                ws = self._ws
                msg = self._out.popleft()
                if msg[0] == _AUDIO:
                    self._audio_queued -= 1
                try:
                    assert ws is not None
                    await ws.send(msg[1:])
                except ConnectionClosed:
                    pass  # the connection task reconnects and the conversation asks again

    # -- the connection -----------------------------------------------------------------

    async def _connection(self) -> None:
        try:
            self._ws = await self._open()
            self._ready.set()
            while True:
                try:
                    async for raw in self._ws:
                        self._on_message(raw)
                except ConnectionClosed:
                    pass
                if self._closing:
                    return
                self._ready.clear()
                log.warning("realtime socket dropped; reconnecting")
                self._ws = await self._reconnect()
                self._ready.set()
                self._on_resumed()
        except EngineError as exc:
            self.fail(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must fail this call, not hang it
            log.exception("realtime session error")
            self.fail(EngineError(f"realtime session error: {type(exc).__name__}"))

    async def _open(self) -> ClientConnection:
        timeout = self.connect_timeout_s
        headers = {"Authorization": f"Bearer {self._key}"}
        try:
            ws = await asyncio.wait_for(
                connect(
                    self.url,
                    additional_headers=headers,
                    open_timeout=timeout,
                    max_size=p.MAX_EVENT_BYTES,
                    ping_interval=10,
                ),
                timeout,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise EngineError(f"realtime service unreachable: {type(exc).__name__}") from None
        try:
            first = p.parse(await asyncio.wait_for(ws.recv(), timeout))
            if first.type != "session.created":
                raise EngineError(f"realtime session refused: {reason(first)}")
            await ws.send(p.encode(self._settings()))
            while True:  # the settings must be taken before anything else is sent
                ev = p.parse(await asyncio.wait_for(ws.recv(), timeout))
                if ev.type == "session.updated":
                    return ws
                if ev.type == "error":
                    raise EngineError(f"realtime session rejected: {reason(ev)}")
        except (ConnectionClosed, TimeoutError, p.ProtocolError) as exc:
            await ws.close()
            raise EngineError(f"realtime session did not start: {type(exc).__name__}") from None
        except EngineError:
            await ws.close()
            raise

    async def _reconnect(self) -> ClientConnection:
        deadline = time.monotonic() + self.reconnect_s
        delay, last = 0.05, EngineError("realtime service unreachable")
        while True:
            try:
                return await self._open()
            except EngineError as exc:
                last = exc
            if time.monotonic() + delay > deadline:
                raise last
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)


def reason(ev: p.ServerEvent) -> str:
    """What an error event, or a failed response, says went wrong (short, for logs)."""
    err = ev.obj("error") if ev.type == "error" else ev.obj("response").get("status_details") or {}
    if not isinstance(err, dict):
        return ev.type
    inner = err.get("error") if isinstance(err.get("error"), dict) else err
    code = inner.get("code") or inner.get("type") or ev.type
    return f"{code}: {str(inner.get('message', ''))[:160]}"
