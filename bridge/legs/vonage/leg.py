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

import numpy as np
import structlog
from fastapi import WebSocket, WebSocketDisconnect

from bridge import logs
from bridge.conversation.runtime import CallRuntime
from flows.interpreter import Transfer
from media.format import frame_samples
from media.resample import Resampler

log = logs.get_logger(__name__)
RATES = {"audio/l16;rate=16000": 16000, "audio/l16;rate=8000": 8000}
MAX_BAD = 50


class VonageLeg:
    def __init__(self, ws: WebSocket, app_state: Any) -> None:
        self.ws, self.state = ws, app_state
        self.runtime: CallRuntime | None = None
        self.call_uuid = ""
        self.dialled = ""
        self.rate = 16000
        self.frame_bytes = 640
        self.up: Resampler | None = None
        self.down: Resampler | None = None
        self._buf = b""
        self._bad = 0
        self._sending_bot = False
        self._notes = 0
        self.transferred = False
        self._transfer_done = asyncio.Event()  # clear while a transfer request is in flight
        self._transfer_done.set()
        self._lock = asyncio.Lock()

    # -- LegControl -------------------------------------------------------------------

    def clear(self) -> None:
        asyncio.get_running_loop().create_task(self._send_text({"action": "clear"}))

    async def transfer(self, target: Transfer) -> bool:
        self._transfer_done.clear()
        try:
            ok = await self.state.vonage_rest.transfer(self.call_uuid, target, self.dialled)
        finally:
            self._transfer_done.set()
        self.transferred = ok
        return ok

    async def hangup(self) -> None:
        await self.state.vonage_rest.hangup(self.call_uuid)

    # -- the socket -------------------------------------------------------------------

    async def _send_text(self, msg: dict[str, Any]) -> None:
        async with self._lock:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # the caller is gone
                await self.ws.send_text(json.dumps(msg))

    async def _send_bytes(self, data: bytes) -> None:
        async with self._lock:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.ws.send_bytes(data)

    def _reject(self, why: str) -> None:
        self._bad += 1
        if self._bad <= 3 or self._bad % 100 == 0:
            log.warning(
                "vonage message rejected", call_uuid=self.call_uuid, reason=why, rejected=self._bad
            )

    async def run(self) -> None:
        try:
            while self._bad <= MAX_BAD:
                try:
                    message = await self.ws.receive()
                except WebSocketDisconnect:
                    break
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    await self._audio(message["bytes"])
                elif message.get("text") is not None and not await self._event(message["text"]):
                    break
        finally:
            # A transfer moves the caller's leg out of our conversation, which closes this
            # socket: let the transfer's answer arrive first, then there is nothing to hear.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._transfer_done.wait(), 15)
            if self.runtime is not None:
                self.runtime.caller_hung_up()

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
        self.rate, self.frame_bytes = rate, 2 * frame_samples(rate)
        if rate != 16000:
            self.up, self.down = Resampler(rate, 16000), Resampler(16000, rate)
        self.call_uuid, self.dialled = pending.call_sid, pending.dialled
        structlog.contextvars.bind_contextvars(call_id=self.call_uuid)
        self.runtime = await self.state.call_service.start(
            self,
            carrier="vonage",
            caller=pending.caller,
            dialled=pending.dialled,
            call_id=self.call_uuid,
        )
        return True

    async def _audio(self, data: bytes) -> None:
        runtime = self.runtime
        if runtime is None:
            self._reject("audio before websocket:connected")
            return
        if len(data) % 2 or len(data) > 50 * self.frame_bytes:
            self._reject(f"binary frame of {len(data)} bytes")
            if len(data) > 50 * self.frame_bytes:
                return
        self._buf += data
        n = self.frame_bytes
        while len(self._buf) >= n:
            chunk, self._buf = self._buf[:n], self._buf[n:]
            pcm = np.frombuffer(chunk, dtype="<i2").astype(np.int16)
            house = self.up.process_int16(pcm[None, :])[0] if self.up else pcm
            runtime.caller_frame(house)
            bot = runtime.bot_frame()
            if bot is not None:
                out = self.down.process_int16(bot[None, :])[0] if self.down else bot
                await self._send_bytes(out.astype("<i2").tobytes())
                self._sending_bot = True
            elif self._sending_bot:
                self._sending_bot = False
                self._notes += 1
                await self._send_text(
                    {"action": "notify", "payload": {"reply_id": f"b{self._notes}"}}
                )
