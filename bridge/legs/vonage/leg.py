"""One Vonage call: the L16 WebSocket bridged to a CallRuntime.

Binary frames are 20 ms of 16-bit little-endian PCM at the negotiated rate (16 kHz
is the house format: no resampling); text frames are JSON events. As with Twilio,
one bot frame goes back per caller frame, so Vonage's buffer stays shallow and
`clear` silences the line at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog
from fastapi import WebSocket, WebSocketDisconnect

from bridge import logs
from bridge.conversation.runtime import CallRuntime
from bridge.legs.guard import POLICY_VIOLATION, PROTOCOL_ERROR, Broken, StreamGuard
from bridge.legs.playback import start_when_ready
from flows.interpreter import Transfer
from media.line_codec import LineCodec

log = logs.get_logger(__name__)
RATES = {"audio/l16;rate=16000": 16000, "audio/l16;rate=8000": 8000}


class VonageLeg:
    def __init__(self, ws: WebSocket, app_state: Any) -> None:
        self.ws, self.state = ws, app_state
        self.runtime: CallRuntime | None = None
        self.call_uuid = ""
        self.dialled = ""
        self.line = LineCodec("l16", 16000)
        self._buf = b""
        self.guard = StreamGuard("vonage")
        self._sending_bot = False
        self._early = False  # the bot's first frame of a reply went out before its slot
        self._starter: asyncio.Task[None] | None = None
        self._notes = 0
        self.transferred = False
        self.ended_by_us = False  # the flow hung up: the socket's close is ours, not the caller's
        self._transfer_done = asyncio.Event()  # clear while a transfer request is in flight
        self._transfer_done.set()

    # -- LegControl -------------------------------------------------------------------

    def clear(self) -> int:
        asyncio.get_running_loop().create_task(self._send_text({"action": "clear"}))
        return 0  # one frame goes out per caller frame: what was handed over was heard

    async def transfer(self, target: Transfer) -> bool:
        self._transfer_done.clear()
        try:
            ok = await self.state.vonage_rest.transfer(self.call_uuid, target, self.dialled)
        finally:
            self._transfer_done.set()
        self.transferred = ok
        return ok

    async def hangup(self) -> None:
        """End the call without Vonage's REST API (it may be unreachable): the NCCO has
        nothing after ``connect``, so closing the socket completes the call. One frame
        goes out per caller frame, so nothing of the last words is still queued."""
        self.ended_by_us = True
        with contextlib.suppress(RuntimeError):  # the caller may be gone already
            await self.ws.close()

    # -- the socket -------------------------------------------------------------------

    # No lock around sends: the server writes each message whole before the await
    # returns, so a `clear` from the barge-in task cannot split an audio frame.
    async def _send_text(self, msg: dict[str, Any]) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # the caller is gone
            await self.ws.send_text(json.dumps(msg))

    async def _send_bytes(self, data: bytes) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.ws.send_bytes(data)

    def _reject(self, why: str) -> None:
        self.guard.reject(why, call_uuid=self.call_uuid)

    async def run(self) -> None:
        reason = "caller_hangup"
        try:
            while True:
                try:
                    message = await self.guard.receive(self.ws.receive())
                except WebSocketDisconnect:
                    break
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    await self._audio(message["bytes"])
                elif message.get("text") is not None and not await self._event(message["text"]):
                    break
        except Broken as broken:
            self.guard.closing(broken, call_uuid=self.call_uuid)
            reason = PROTOCOL_ERROR
            with contextlib.suppress(RuntimeError):
                await self.ws.close(code=POLICY_VIOLATION)
        finally:
            if self._starter is not None:
                self._starter.cancel()
            # A transfer moves the caller's leg out of our conversation, which closes this
            # socket: let the transfer's answer arrive first, then there is nothing to hear.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._transfer_done.wait(), 15)
            if self.runtime is not None and not self.ended_by_us:
                self.runtime.caller_hung_up(reason)

    async def _event(self, text: str) -> bool:
        try:
            ev = json.loads(text)
        except json.JSONDecodeError:
            self._reject("text frame is not JSON")
            return True
        if not isinstance(ev, dict):
            self._reject("text frame is not a JSON object")
            return True
        kind = ev.get("event")
        if kind == "websocket:connected" and self.runtime is not None:
            self._reject("a second websocket:connected on a socket that carries a call")
            return True
        if kind == "websocket:connected":
            return await self._connected(ev)
        if kind == "websocket:dtmf" and self.runtime is not None:
            digit = ev.get("digit", (ev.get("dtmf") or {}).get("digit"))
            if isinstance(digit, str) and len(digit) == 1 and digit in "0123456789*#":
                self.runtime.dtmf(digit)
            else:
                self._reject(f"bad dtmf digit {digit!r}")
        return True  # websocket:cleared, websocket:notify and unknown events: nothing to do

    async def _connected(self, ev: dict[str, Any]) -> bool:
        rate = RATES.get(str(ev.get("content-type", "")).replace(" ", "").lower())
        if rate is None:
            log.warning("vonage socket refused: audio format", content_type=ev.get("content-type"))
            return False
        pending = self.state.vonage_tokens.redeem(str(ev.get("token", "")))
        if pending is None:
            log.warning("vonage socket refused: unknown or reused token")
            return False
        self.line = LineCodec("l16", rate)
        self.call_uuid, self.dialled = pending.call_sid, pending.dialled
        self.guard.started = True
        structlog.contextvars.bind_contextvars(call_id=self.call_uuid)
        self.runtime = await self.state.call_service.start(
            self,
            carrier="vonage",
            caller=pending.caller,
            dialled=pending.dialled,
            call_id=self.call_uuid,
            line=self.line,
        )
        self._starter = asyncio.get_running_loop().create_task(
            start_when_ready(self.runtime.audio_ready, self._send_first)
        )
        return True

    async def _send_first(self) -> None:
        """The reply's first frame, now rather than at the next caller frame."""
        bot = None if self.runtime is None or self._early else self.runtime.bot_payload()
        if bot is not None:
            self._early = self._sending_bot = True
            await self._send_bytes(bot)

    async def _audio(self, data: bytes) -> None:
        runtime = self.runtime
        if runtime is None:
            self._reject("audio before websocket:connected")
            return
        n = self.line.frame_bytes
        if len(data) % 2 or len(data) > 50 * n:
            # Dropped whole: an odd byte kept would swap the byte order of every sample
            # after it (the caller would turn to noise for the rest of the call).
            self._reject(f"binary frame of {len(data)} bytes")
            return
        self._buf += data
        while len(self._buf) >= n:
            chunk, self._buf = self._buf[:n], self._buf[n:]
            runtime.caller_line(chunk)
            if self._early:  # this slot's frame went out when the reply was ready
                self._early = False
                continue
            bot = runtime.bot_payload()
            if bot is not None:
                await self._send_bytes(bot)
                self._sending_bot = True
            elif self._sending_bot:
                self._sending_bot = False
                self._notes += 1
                await self._send_text(
                    {"action": "notify", "payload": {"reply_id": f"b{self._notes}"}}
                )
