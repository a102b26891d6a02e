"""The media sockets' rules against misbehaving peers (issue 20, items 3, 5, 6, 12, 13):
a handshake deadline, one limit on bad messages, no second call on one socket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from bridge.legs import guard
from bridge.legs.vonage.leg import VonageLeg
from media.line_codec import LineCodec
from tests.bridge.legs.conftest import Bridge
from tests.bridge.legs.test_twilio import caller as twilio_caller
from tests.bridge.legs.test_vonage import caller as vonage_caller
from tests.bridge.legs.vonage_caller import signed
from tests.fakes.trivial_engine import TrivialEngine

embedded = pytest.mark.parametrize("redis_url", ["embedded"], indirect=True)


async def closed(ws: Any, within_s: float = 5.0) -> int | None:
    """The close code the bridge sent, once it closed the socket."""
    await asyncio.wait_for(ws.wait_closed(), within_s)
    return ws.close_code


async def ended(bridge: Bridge, call_id: str) -> dict[str, Any]:
    for _ in range(100):
        events = await bridge.events(call_id)
        if events and events[-1]["type"] == "call.ended":
            return events[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{call_id} never ended")


@embedded
async def test_a_signed_twilio_socket_that_never_starts_a_call_is_closed(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guard, "HANDSHAKE_S", 0.5)
    c = twilio_caller(bridge)
    url = bridge.base.replace("http://", "ws://") + "/twilio/stream"
    ws = await websockets.connect(url, additional_headers={"X-Twilio-Signature": c.sign(url, {})})
    await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    assert await closed(ws) == guard.POLICY_VIOLATION


@embedded
async def test_a_signed_vonage_socket_that_never_connects_a_call_is_closed(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guard, "HANDSHAKE_S", 0.5)
    c = vonage_caller(bridge)
    ncco = (await c.answer()).json()
    endpoint = ncco[0]["endpoint"][0]
    ws = await websockets.connect(
        endpoint["uri"], additional_headers={"Authorization": signed(c.secret, None)}
    )
    assert await closed(ws) == guard.POLICY_VIOLATION
    assert bridge.app.state.services.calls.active == 0


@embedded
async def test_bad_base64_counts_and_too_many_bad_messages_end_the_call_as_a_protocol_error(
    bridge: Bridge,
) -> None:
    bridge.app.state.call_service.engine = TrivialEngine()
    c = twilio_caller(bridge)
    await c.connect((await c.voice_webhook()).text)
    await c.media(b"\xff" * 160)
    bad = {"event": "media", "streamSid": c.stream_sid, "media": {"payload": "%%%"}}
    for _ in range(guard.MAX_BAD + 1):
        await c.send(bad)
    assert await closed(c.ws) == guard.POLICY_VIOLATION
    end = await ended(bridge, c.call_sid)
    assert end["reason"] == guard.PROTOCOL_ERROR
    assert bridge.app.state.services.calls.active == 0


@embedded
async def test_a_second_start_on_a_twilio_stream_leaves_the_first_call_whole(
    bridge: Bridge,
) -> None:
    bridge.app.state.call_service.engine = TrivialEngine()
    first, second = twilio_caller(bridge), twilio_caller(bridge)
    await first.connect((await first.voice_webhook()).text)
    twiml = (await second.voice_webhook()).text
    token = twiml.split('name="token" value="')[1].split('"')[0]
    await first.send(
        {
            "event": "start",
            "streamSid": "MZsecond",
            "start": {
                "streamSid": "MZsecond",
                "accountSid": "AC1",
                "callSid": second.call_sid,
                "tracks": ["inbound"],
                "customParameters": {"token": token},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )
    for _ in range(10):
        await first.media(b"\xff" * 160)
    assert bridge.app.state.services.calls.active == 1  # the first call only
    await first.stop()
    assert (await ended(bridge, first.call_sid))["reason"] == "caller_hangup"
    assert bridge.app.state.services.calls.active == 0
    assert await bridge.events(second.call_sid) == []


@embedded
async def test_a_second_connected_on_a_vonage_socket_leaves_the_first_call_whole(
    bridge: Bridge,
) -> None:
    bridge.app.state.call_service.engine = TrivialEngine()
    first, second = vonage_caller(bridge), vonage_caller(bridge)
    await first.connect((await first.answer()).json())
    endpoint = (await second.answer()).json()[0]["endpoint"][0]
    await first.ws.send(
        json.dumps(
            {
                "event": "websocket:connected",
                "content-type": endpoint["content-type"],
                **endpoint["headers"],
            }
        )
    )
    for _ in range(10):
        await first.frame()
    assert bridge.app.state.services.calls.active == 1
    await first.ws.close()
    assert (await ended(bridge, first.call_uuid))["reason"] == "caller_hangup"
    assert bridge.app.state.services.calls.active == 0


class Heard:
    """A runtime's caller side: the frames the leg hands over."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def caller_line(self, frame: bytes) -> None:
        self.frames.append(frame)

    def bot_payload(self) -> None:
        return None


async def test_an_odd_length_vonage_frame_never_shifts_the_samples_after_it() -> None:
    leg = VonageLeg(ws=None, app_state=None)  # type: ignore[arg-type]
    leg.line = LineCodec("l16", 16000)
    leg.runtime = heard = Heard()  # type: ignore[assignment]
    frame = bytes(range(256)) * 2 + bytes(range(128))  # 640 bytes: 320 samples
    await leg._audio(b"\x01")  # a stray byte
    await leg._audio(frame)
    assert heard.frames == [frame]  # byte for byte: the samples keep their order
    assert leg.guard.bad == 1
