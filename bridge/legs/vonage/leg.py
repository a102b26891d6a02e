"""One Vonage call: the L16 WebSocket bridged to a CallRuntime.

Binary frames are 20 ms of 16-bit little-endian PCM at the negotiated rate (16 kHz
is the house format: no resampling); text frames are JSON events
(:mod:`bridge.legs.vonage.protocol`). One bot frame goes back per caller frame, so
Vonage's buffer stays shallow and `clear` silences the line at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from fastapi import WebSocket

from bridge import logs
from bridge.conversation.service import CallService
from bridge.legs.guard import ProtocolError
from bridge.legs.tokens import Tokens
from bridge.legs.vonage import protocol as vp
from bridge.legs.vonage.rest import VonageRest
from bridge.legs.websocket import CallLeg
from flows.interpreter import Transfer
from media.line_codec import LineCodec

log = logs.get_logger(__name__)
TRANSFER_WAIT_S = 15.0  # how long a closed socket waits for its transfer's answer


@dataclass(frozen=True)
class VonageDeps:
    """What a Vonage socket uses, handed over by the routes."""

    calls: CallService
    tokens: Tokens  # one-time tokens the answer webhook issued
    rest: VonageRest


class VonageLeg(CallLeg):
    carrier = "vonage"

    def __init__(self, ws: WebSocket, deps: VonageDeps) -> None:
        super().__init__(ws, LineCodec("l16", 16000))
        self.deps = deps
        self.call_uuid = ""
        self.dialled = ""
        self._sending_bot = False
        self._early = False  # the bot's first frame of a reply went out before its slot
        self._notes = 0
        self._transfer_done = asyncio.Event()  # clear while a transfer request is in flight
        self._transfer_done.set()

    def _ids(self) -> dict[str, str]:
        return {"call_uuid": self.call_uuid}

    # -- LegControl -------------------------------------------------------------------

    def clear(self) -> int:
        asyncio.get_running_loop().create_task(self._send_text(vp.clear()))
        return 0  # one frame goes out per caller frame: what was handed over was heard

    async def transfer(self, target: Transfer) -> bool:
        self._transfer_done.clear()
        try:
            ok = await self.deps.rest.transfer(self.call_uuid, target, self.dialled)
        finally:
            self._transfer_done.set()
        self.transferred = ok
        return ok

    # The NCCO has nothing after `connect`, so closing the socket completes the call
    # (CallLeg.hangup); one frame goes out per caller frame, so nothing is left unplayed.

    # -- the socket -------------------------------------------------------------------

    async def _text(self, text: str) -> bool:
        match vp.parse(text):
            case vp.Connected() if self.runtime is not None:
                self._reject("a second websocket:connected on a socket that carries a call")
            case vp.Connected() as msg:
                return await self._connected(msg)
            case vp.Dtmf() as msg if self.runtime is not None:
                self.runtime.dtmf(msg.key())
        return True  # websocket:cleared, websocket:notify and unknown events: nothing to do

    async def _connected(self, msg: vp.Connected) -> bool:
        rate = msg.rate
        if rate is None:
            log.warning("vonage socket refused: audio format", content_type=msg.content_type)
            return False
        pending = self.deps.tokens.redeem(msg.token)
        if pending is None:
            log.warning("vonage socket refused: unknown or reused token")
            return False
        self.line = LineCodec("l16", rate)
        self.call_uuid, self.dialled = pending.call_sid, pending.dialled
        await self._begin(self.deps.calls, self.call_uuid, pending)
        return True

    async def _binary(self, data: bytes) -> bool:
        await self._audio(data)
        return True

    async def _audio(self, data: bytes) -> None:
        if self.runtime is None:
            self._reject("audio before websocket:connected")
            return
        try:
            audio = vp.audio(data, self.line.frame_bytes)
        except ProtocolError as exc:
            self._reject(str(exc))
            return
        await self._feed(audio)

    async def _bot_ready(self) -> None:
        """The reply's first frame, now rather than at the next caller frame."""
        bot = None if self.runtime is None or self._early else self.runtime.bot_payload()
        if bot is not None:
            self._early = self._sending_bot = True
            await self._send_bytes(bot)

    async def _frame(self, chunk: bytes) -> None:
        await super()._frame(chunk)
        if self._early:  # this slot's frame went out when the reply was ready
            self._early = False
            return
        assert self.runtime is not None
        bot = self.runtime.bot_payload()
        if bot is not None:
            await self._send_bytes(bot)
            self._sending_bot = True
        elif self._sending_bot:  # the reply has all gone out: Vonage says when it played
            self._sending_bot = False
            self._notes += 1
            await self._send_text(vp.notify(f"b{self._notes}"))

    async def _closed(self, reason: str) -> None:
        await super()._closed(reason)
        # A transfer moves the caller's leg out of our conversation, which closes this
        # socket: let the transfer's answer arrive first, then there is nothing to hear.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._transfer_done.wait(), TRANSFER_WAIT_S)
        if self.runtime is not None and not self.ended_by_us:
            self.runtime.caller_hung_up(reason)
