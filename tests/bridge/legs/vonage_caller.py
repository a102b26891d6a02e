"""Plays Vonage's side of a call: signed webhooks and the L16 audio socket."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import numpy as np
import websockets

SILENCE = bytes(640)


def signed(secret: str, body: bytes | None) -> str:
    claims: dict[str, Any] = {
        "iat": int(time.time()),
        "jti": uuid.uuid4().hex,
        "iss": "Vonage",
        "api_key": "abc123",
    }
    if body is not None:
        claims["payload_hash"] = hashlib.sha256(body).hexdigest()
    return "Bearer " + jwt.encode(claims, secret, algorithm="HS256")


def connected(ncco: list[dict[str, Any]]) -> str:
    """The socket's first message for the call ``ncco`` connects (its token inside)."""
    endpoint = ncco[0]["endpoint"][0]
    headers = endpoint["headers"]
    return json.dumps(
        {"event": "websocket:connected", "content-type": endpoint["content-type"], **headers}
    )


@dataclass
class VonageCaller:
    base: str
    secret: str
    call_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    frame_s: float = 0.005
    received_audio: int = 0
    received_text: list[dict[str, Any]] = field(default_factory=list)
    ws: Any = None

    async def answer(self, sign: bool = True) -> httpx.Response:
        body = json.dumps(
            {
                "to": "441234567890",
                "from": "447700900123",
                "uuid": self.call_uuid,
                "conversation_uuid": "CON-" + self.call_uuid,
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Authorization": signed(self.secret if sign else "x" * 40, body),
        }
        async with httpx.AsyncClient() as client:
            return await client.post(f"{self.base}/vonage/answer", content=body, headers=headers)

    async def connect(self, ncco: list[dict[str, Any]]) -> None:
        endpoint = ncco[0]["endpoint"][0]
        self.ws = await websockets.connect(
            endpoint["uri"], additional_headers={"Authorization": signed(self.secret, None)}
        )
        asyncio.get_running_loop().create_task(self._receive())
        await self.ws.send(connected(ncco))

    async def _receive(self) -> None:
        try:
            async for msg in self.ws:
                if isinstance(msg, bytes):
                    self.received_audio += 1
                else:
                    self.received_text.append(json.loads(msg))
        except websockets.ConnectionClosed:
            pass

    async def frame(self, data: bytes = SILENCE) -> None:
        await self.ws.send(data)
        await asyncio.sleep(self.frame_s)

    async def say(self, pcm16k: np.ndarray) -> None:
        data = pcm16k.astype("<i2").tobytes()
        data += bytes(-len(data) % 640)
        for i in range(0, len(data), 640):
            await self.frame(data[i : i + 640])

    async def dtmf(self, digits: str) -> None:
        for d in digits:
            await self.ws.send(json.dumps({"event": "websocket:dtmf", "digit": d, "duration": 200}))
            await self.frame()

    async def wait_for_bot(self, min_frames: int = 10, quiet: int = 40, limit: int = 3000) -> None:
        start = last = self.received_audio
        still = 0
        for _ in range(limit):
            await self.frame()
            now = self.received_audio
            still = still + 1 if now == last else 0
            last = now
            if now - start >= min_frames and still >= quiet:
                return
        raise AssertionError("the bot never finished speaking")
