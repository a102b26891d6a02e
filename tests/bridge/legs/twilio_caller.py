"""Plays Twilio's side of a call: signed webhooks and a Media Stream, as documented."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import websockets
from twilio.request_validator import RequestValidator

from media import g711
from media.resample import resample_signal

SILENCE = b"\xff" * 160


def mulaw_frames(pcm16k: np.ndarray) -> list[bytes]:
    codes = g711.ulaw_encode(resample_signal(pcm16k, 16000, 8000)).tobytes()
    codes += b"\xff" * (-len(codes) % 160)
    return [codes[i : i + 160] for i in range(0, len(codes), 160)]


@dataclass
class TwilioCaller:
    base: str  # http://127.0.0.1:PORT
    auth_token: str
    call_sid: str
    caller: str = "+447700900123"
    dialled: str = "+441234567890"
    frame_s: float = 0.005  # 4x real time; the bridge's clock is our stream
    received: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0
    ws: Any = None
    stream_sid: str = "MZ0000000000000000000000000000test"
    # Twilio's playback buffer: bot audio and marks in order; one frame plays per caller
    # frame sent (the caller's stream is the clock) and marks echo when reached.
    playback: deque[tuple[str, str]] = field(default_factory=deque)
    heard: int = 0  # bot frames played to the caller
    heard_at_clear: list[int] = field(default_factory=list)
    sent_audio: bytearray = field(default_factory=bytearray)  # the inbound track, as sent

    def sign(self, url: str, params: dict[str, str]) -> str:
        return RequestValidator(self.auth_token).compute_signature(url, params)

    async def voice_webhook(self, sign: bool = True) -> httpx.Response:
        url = f"{self.base}/twilio/voice"
        form = {
            "CallSid": self.call_sid,
            "AccountSid": "AC1",
            "From": self.caller,
            "To": self.dialled,
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
        headers = {"X-Twilio-Signature": self.sign(url, form) if sign else "bad"}
        async with httpx.AsyncClient() as client:
            return await client.post(url, data=form, headers=headers)

    async def connect(self, twiml: str, path: str = "stream") -> None:
        url = self.base.replace("http://", "ws://") + f"/twilio/{path}"
        self.ws = await websockets.connect(
            url, additional_headers={"X-Twilio-Signature": self.sign(url, {})}
        )
        asyncio.get_running_loop().create_task(self._receive())
        await self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self.send(self.start(twiml))

    def start(self, twiml: str, stream_sid: str | None = None) -> dict[str, Any]:
        """The `start` message of this call's stream, with the token ``twiml`` gave."""
        token = re.search(r'<Parameter name="token" value="([^"]+)"', twiml)
        assert token, twiml
        sid = stream_sid or self.stream_sid
        return {
            "event": "start",
            "streamSid": sid,
            "start": {
                "streamSid": sid,
                "accountSid": "AC1",
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "customParameters": {"token": token.group(1)},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }

    async def send(self, msg: dict[str, Any] | str) -> None:
        if isinstance(msg, dict) and msg.get("event") not in ("connected",):
            self.seq += 1
            msg = {"sequenceNumber": str(self.seq), **msg}
        await self.ws.send(msg if isinstance(msg, str) else json.dumps(msg))

    async def _receive(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                self.received.append(msg)
                match msg.get("event"):
                    case "media":  # any multiple of 160 bytes: Twilio plays 20 ms at a time
                        audio = base64.b64decode(msg["media"]["payload"])
                        assert len(audio) % 160 == 0, len(audio)
                        self.playback.extend(
                            ("media", audio[i : i + 160]) for i in range(0, len(audio), 160)
                        )
                    case "mark" if self.playback:
                        self.playback.append(("mark", msg["mark"]["name"]))
                    case "mark":  # nothing left to play: reached at once
                        await self._echo(msg["mark"]["name"])
                    case "clear":  # pending marks are echoed although never played
                        self.heard_at_clear.append(self.heard)
                        pending = [name for kind, name in self.playback if kind == "mark"]
                        self.playback.clear()
                        for name in pending:
                            await self._echo(name)
        except websockets.ConnectionClosed:
            pass

    async def _echo(self, name: str) -> None:
        await self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    async def _play_one_frame(self) -> None:
        if self.playback and self.playback[0][0] == "media":
            self.playback.popleft()
            self.heard += 1
        while self.playback and self.playback[0][0] == "mark":
            await self._echo(self.playback.popleft()[1])

    async def media(self, frame: bytes, track: str = "inbound") -> None:
        payload = base64.b64encode(frame).decode()
        if track == "inbound":
            self.sent_audio += frame
        await self.send(
            {
                "event": "media",
                "streamSid": self.stream_sid,
                "media": {
                    "track": track,
                    "chunk": str(self.seq),
                    "timestamp": "0",
                    "payload": payload,
                },
            }
        )
        await self._play_one_frame()
        await asyncio.sleep(self.frame_s)

    def bot_frames(self) -> int:
        """20 ms frames of bot audio received so far."""
        return sum(
            len(m["media"]["payload"]) * 3 // 4 // 160
            for m in self.received
            if m.get("event") == "media"
        )

    async def wait_for_bot(self, min_frames: int = 10, quiet: int = 40, limit: int = 3000) -> None:
        """Send silence until the bot has spoken and then been quiet for ``quiet`` frames."""
        start = self.bot_frames()
        last, still = start, 0
        for _ in range(limit):
            await self.media(SILENCE)
            now = self.bot_frames()
            still = still + 1 if now == last else 0
            last = now
            if now - start >= min_frames and still >= quiet:
                return
        raise AssertionError("the bot never finished speaking")

    async def say(self, pcm16k: np.ndarray) -> None:
        for frame in mulaw_frames(pcm16k):
            await self.media(frame)

    async def dtmf(self, digits: str) -> None:
        for d in digits:
            await self.send(
                {
                    "event": "dtmf",
                    "streamSid": self.stream_sid,
                    "dtmf": {"track": "inbound_track", "digit": d},
                }
            )
            await self.media(SILENCE)

    async def stop(self) -> None:
        await self.send(
            {
                "event": "stop",
                "streamSid": self.stream_sid,
                "stop": {"accountSid": "AC1", "callSid": self.call_sid},
            }
        )
        await self.ws.close()
