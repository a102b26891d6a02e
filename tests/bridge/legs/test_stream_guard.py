"""The media sockets against misbehaving peers and an unreachable carrier API (issue
20, items 2, 3, 5, 6, 12, 13): a handshake deadline, one limit on bad messages, no
second call on one socket, and calls that end without the carrier's REST API."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
import websockets

from bridge.legs import guard
from bridge.legs.vonage.leg import VonageLeg
from bridge.legs.vonage.rest import VonageRest
from harness.servers import free_port
from harness.trivial_engine import TrivialEngine
from media.line_codec import LineCodec
from tests.bridge.legs.conftest import Bridge
from tests.bridge.legs.test_twilio import caller as twilio_caller
from tests.bridge.legs.test_vonage import caller as vonage_caller
from tests.bridge.legs.twilio_caller import TwilioCaller
from tests.bridge.legs.vonage_caller import connected, signed

embedded = pytest.mark.parametrize("redis_url", ["embedded"], indirect=True)


async def closed(ws: Any, within_s: float = 5.0) -> int | None:
    """The close code the bridge sent, once it closed the socket."""
    await asyncio.wait_for(ws.wait_closed(), within_s)
    return ws.close_code


async def twilio_call(bridge: Bridge) -> TwilioCaller:
    """A Twilio call in progress, on an engine with no speech models."""
    bridge.app.state.call_service.engine = TrivialEngine()
    c = twilio_caller(bridge)
    await c.connect((await c.voice_webhook()).text)
    return c


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
    c = await twilio_call(bridge)
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
    await first.send(second.start(twiml, "MZsecond"))  # on the first call's socket
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
    await first.ws.send(connected((await second.answer()).json()))  # on the first's socket
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
    leg = VonageLeg(ws=None, deps=None)  # type: ignore[arg-type]
    leg.line = LineCodec("l16", 16000)
    leg.runtime = heard = Heard()  # type: ignore[assignment]
    frame = bytes(range(256)) * 2 + bytes(range(128))  # 640 bytes: 320 samples
    await leg._audio(b"\x01")  # a stray byte
    await leg._audio(frame)
    assert heard.frames == [frame]  # byte for byte: the samples keep their order
    assert leg.guard.bad == 1


@embedded
async def test_a_flow_ends_the_call_while_twilios_rest_api_is_unreachable(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20, item 2: the transfer to an agent fails (no REST), the flow says sorry
    and hangs up; the bridge closes the stream and the TwiML's <Hangup/> ends the call,
    instead of the caller sitting in silence until they give up."""
    bridge.app.state.call_service.engine = TrivialEngine()
    rest = bridge.app.state.twilio_rest
    twilio = rest.settings.twilio.model_copy(update={"api_url": f"http://127.0.0.1:{free_port()}"})
    away = rest.settings.model_copy(update={"twilio": twilio})
    monkeypatch.setattr(rest, "settings", away)
    c = twilio_caller(bridge)
    twiml = (await c.voice_webhook()).text
    assert twiml.endswith("</Connect><Hangup /></Response>"), twiml
    await c.connect(twiml)
    await c.wait_for_bot(min_frames=40, quiet=0, limit=200)
    await c.dtmf("0")  # an agent, please
    with contextlib.suppress(websockets.ConnectionClosed):
        for _ in range(2000):  # 10 s of caller audio at most
            await c.media(b"\xff" * 160)
    assert await closed(c.ws, 1.0) == 1000  # the bridge closed it, normally
    end = await ended(bridge, c.call_sid)
    assert (end["reason"], end["outcome"]) == ("flow_hangup", "completed"), end
    events = await bridge.events(c.call_sid)
    assert [e["status"] for e in events if e["type"] == "call.transfer"] == ["requested", "failed"]
    assert bridge.app.state.services.calls.active == 0


@embedded
async def test_a_flow_ends_the_call_while_vonages_rest_api_is_unreachable(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same over Vonage: the NCCO has nothing after `connect`, so the bridge closing
    the socket completes the call."""
    bridge.app.state.call_service.engine = TrivialEngine()
    state = bridge.app.state
    settings = state.services.settings
    vonage = settings.vonage.model_copy(update={"api_host": f"127.0.0.1:{free_port()}"})
    away = settings.model_copy(update={"vonage": vonage})
    monkeypatch.setattr(state, "vonage_rest", VonageRest(away))
    c = vonage_caller(bridge)
    await c.connect((await c.answer()).json())
    await c.wait_for_bot(min_frames=40, quiet=0, limit=200)
    await c.dtmf("0")
    with contextlib.suppress(websockets.ConnectionClosed):
        for _ in range(2000):
            await c.frame()
    assert await closed(c.ws, 1.0) == 1000
    end = await ended(bridge, c.call_uuid)
    assert (end["reason"], end["outcome"]) == ("flow_hangup", "completed"), end
    assert bridge.app.state.services.calls.active == 0


@embedded
async def test_calls_cut_by_the_drain_end_with_that_reason_and_a_closed_socket(
    bridge: Bridge,
) -> None:
    """Issue 20, item 18: a call the drain ran out of time for is hung up by the bridge
    and stored as `drain_timeout`, not as the caller's hang-up."""
    c = await twilio_call(bridge)
    await c.wait_for_bot(min_frames=40, quiet=0, limit=200)
    await bridge.app.state.services.calls.cut_all("drain_timeout")
    assert await closed(c.ws, 3.0) == 1000
    end = await ended(bridge, c.call_sid)
    assert (end["reason"], end["outcome"]) == ("drain_timeout", "failed"), end
    assert bridge.app.state.services.calls.active == 0
