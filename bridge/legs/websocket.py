"""What every carrier media socket does alike (Twilio's stream and its fork, Vonage's
socket): receive under the guard's rules, cut the caller's audio into the line's 20 ms
frames for the runtime, and close. A carrier supplies only what differs: what its
messages mean, how it paces the bot's audio back, and what its close means.

:class:`CallLeg` adds what a socket carrying a call of its own does (a fork only
listens): start the call, be its :class:`~bridge.conversation.runtime.LegControl`,
and hang up by closing.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from typing import ClassVar

import structlog
from fastapi import WebSocket, WebSocketDisconnect
from starlette.types import Message

from bridge.conversation.runtime import CallRuntime
from bridge.conversation.service import CallService
from bridge.legs.guard import POLICY_VIOLATION, PROTOCOL_ERROR, Broken, ProtocolError, StreamGuard
from bridge.legs.playback import start_when_ready
from bridge.legs.tokens import Pending
from flows.interpreter import Transfer
from media.line_codec import LineCodec


class WebSocketLeg(ABC):
    """The receive loop. Subclasses parse text (and binary) messages in :meth:`_text`
    (:meth:`_binary`), raising :class:`ProtocolError` for a bad one, which is skipped and
    counted; they hand caller audio to :meth:`_feed` and end the call in :meth:`_closed`."""

    def __init__(self, ws: WebSocket, guard: str) -> None:
        self.ws = ws
        self.guard = StreamGuard(guard)
        self.runtime: CallRuntime | None = None
        self._buf = b""  # caller audio short of a whole frame

    @property
    @abstractmethod
    def frame_bytes(self) -> int:
        """Bytes of caller audio in one 20 ms frame of the line."""

    @abstractmethod
    async def _text(self, text: str) -> bool:
        """One text message; False ends the socket."""

    async def _binary(self, data: bytes) -> bool:
        """One binary message; False ends the socket. Most carriers never send one."""
        raise ProtocolError("binary frame")

    @abstractmethod
    async def _closed(self, reason: str) -> None:
        """The socket is done (``reason``: the caller's hang-up or a protocol error)."""

    def _ids(self) -> dict[str, str]:
        """What names the call in the guard's log lines."""
        return {}

    async def run(self) -> None:
        """Until the peer closes, ends the stream, or breaks the guard's rules."""
        reason = "caller_hangup"
        try:
            while True:
                try:
                    message = await self.guard.receive(self.ws.receive())
                except WebSocketDisconnect:
                    break
                if message["type"] == "websocket.disconnect" or not await self._message(message):
                    break
        except Broken as broken:
            self.guard.closing(broken, **self._ids())
            reason = PROTOCOL_ERROR
            with contextlib.suppress(RuntimeError):
                await self.ws.close(code=POLICY_VIOLATION)
        finally:
            await self._closed(reason)

    async def _message(self, message: Message) -> bool:
        try:
            if (data := message.get("bytes")) is not None:
                return await self._binary(data)
            if (text := message.get("text")) is not None:
                return await self._text(text)
        except ProtocolError as exc:  # one bad message never ends a call; too many do
            self._reject(str(exc))
        return True

    def _reject(self, why: str) -> None:
        self.guard.reject(why, **self._ids())

    async def _feed(self, audio: bytes) -> None:
        """Caller audio, which a carrier's message need not hold in whole frames."""
        self._buf += audio
        n = self.frame_bytes
        while len(self._buf) >= n:
            chunk, self._buf = self._buf[:n], self._buf[n:]
            await self._frame(chunk)

    async def _frame(self, chunk: bytes) -> None:
        """One caller frame: a leg that talks back sends the bot's frame for this slot."""
        assert self.runtime is not None
        self.runtime.caller_line(chunk)

    # No lock around sends: the server writes each message whole before the await
    # returns, so a `clear` from the barge-in task cannot split an audio message.
    async def _send_text(self, text: str) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # the caller may be gone
            await self.ws.send_text(text)

    async def _send_bytes(self, data: bytes) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.ws.send_bytes(data)


class CallLeg(WebSocketLeg):
    """A socket that carries a call of its own, and is that call's LegControl."""

    carrier: ClassVar[str]

    def __init__(self, ws: WebSocket, line: LineCodec) -> None:
        super().__init__(ws, self.carrier)
        self.line = line
        self.transferred = False
        self.ended_by_us = False  # the flow hung up: the socket's close is ours, not the caller's
        self._starter: asyncio.Task[None] | None = None

    @property
    def frame_bytes(self) -> int:
        return self.line.frame_bytes

    # -- LegControl -------------------------------------------------------------------

    @abstractmethod
    def clear(self) -> int:
        """Silence the bot at once; returns the milliseconds sent but never heard."""

    @abstractmethod
    async def transfer(self, target: Transfer) -> bool: ...

    async def hangup(self) -> None:
        """End the call without the carrier's REST API (it may be unreachable): once the
        socket closes, the carrier's call script (TwiML, NCCO) ends the call. What the
        carrier still holds of the last words plays first."""
        self.ended_by_us = True
        if (unplayed := self._unplayed_s()) > 0:
            await asyncio.sleep(unplayed)
        with contextlib.suppress(RuntimeError):  # the caller may be gone already
            await self.ws.close()

    def _unplayed_s(self) -> float:
        """How long the carrier may still be playing what it was sent."""
        return 0.0

    # -- the call ---------------------------------------------------------------------

    @abstractmethod
    async def _bot_ready(self) -> None:
        """The bot's audio is ready with nothing playing: send it now, not at the next
        caller frame (up to 20 ms later)."""

    async def _begin(self, calls: CallService, call_id: str, pending: Pending) -> None:
        """Start the call the socket's token announced; raises Draining when shutting down."""
        self.guard.started = True
        structlog.contextvars.bind_contextvars(call_id=call_id)  # this task's log lines
        self.runtime = await calls.start(
            self,
            carrier=self.carrier,
            caller=pending.caller,
            dialled=pending.dialled,
            call_id=call_id,
            line=self.line,
        )
        self._starter = asyncio.get_running_loop().create_task(
            start_when_ready(self.runtime.audio_ready, self._bot_ready)
        )

    async def _closed(self, reason: str) -> None:
        if self._starter is not None:
            self._starter.cancel()
