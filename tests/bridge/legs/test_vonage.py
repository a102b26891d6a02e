"""A Vonage call end to end over real HTTP and WebSockets on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
import websockets

from harness.audio import VOICES, synthesize
from harness.trivial_engine import TrivialEngine
from tests.bridge.legs.conftest import VONAGE_SECRET, Bridge
from tests.bridge.legs.vonage_caller import VonageCaller, signed

pytestmark = pytest.mark.parametrize("redis_url", ["embedded"], indirect=True)


def caller(bridge: Bridge) -> VonageCaller:
    c = VonageCaller(bridge.base, VONAGE_SECRET)
    bridge.vonage.calls.add(c.call_uuid)
    return c


async def test_unsigned_requests_are_refused(bridge: Bridge) -> None:
    c = caller(bridge)
    assert (await c.answer(sign=False)).status_code == 403
    with pytest.raises(websockets.InvalidStatus) as exc:
        await websockets.connect(bridge.base.replace("http", "ws") + "/vonage/ws")
    assert exc.value.response.status_code == 403
    body = b'{"uuid": "x", "status": "completed"}'
    async with httpx.AsyncClient() as client:
        tampered = await client.post(
            f"{bridge.base}/vonage/events",
            content=body + b" ",
            headers={"Authorization": signed(VONAGE_SECRET, body)},
        )
    assert tampered.status_code == 403  # the body does not match its signed hash


async def test_a_signed_body_that_is_not_json_is_a_400(bridge: Bridge) -> None:
    async with httpx.AsyncClient() as client:
        for body in (b"\xff\xfe not utf-8", b"[" * 100_000, b'["a list"]'):
            for hook in ("answer", "events"):
                r = await client.post(
                    f"{bridge.base}/vonage/{hook}",
                    content=body,
                    headers={"Authorization": signed(VONAGE_SECRET, body)},
                )
                assert r.status_code == 400, (hook, body[:10], r.status_code)


async def test_ncco_connects_an_l16_socket_with_a_token(bridge: Bridge) -> None:
    r = await caller(bridge).answer()
    [action] = r.json()
    endpoint = action["endpoint"][0]
    assert action["action"] == "connect" and endpoint["type"] == "websocket"
    assert endpoint["uri"] == bridge.base.replace("http", "ws") + "/vonage/ws"
    assert endpoint["content-type"] == "audio/l16;rate=16000"
    assert endpoint["headers"]["token"] and endpoint["authorization"] == {"type": "vonage"}


async def test_balance_call_with_barge_in_and_dtmf_then_transfer(bridge: Bridge) -> None:
    c = caller(bridge)
    await c.connect((await c.answer()).json())
    await c.wait_for_bot(min_frames=40, quiet=0, limit=200)
    await c.say(synthesize("what is my balance", VOICES[1]))  # over the greeting
    await c.wait_for_bot(min_frames=20)
    assert {"action": "clear"} in c.received_text
    await c.say(synthesize("the fourth of July nineteen eighty two", VOICES[1]))
    await c.wait_for_bot(min_frames=20)
    await c.dtmf("4111#")
    await c.wait_for_bot(min_frames=20)
    await c.say(synthesize("talk to a person", VOICES[1]))
    for _ in range(2000):  # until it is asked for: seconds more on a loaded machine
        if bridge.vonage.requests:
            break
        await c.frame()
    [(uuid, body)] = bridge.vonage.requests
    assert uuid == c.call_uuid and body["action"] == "transfer"
    ncco = body["destination"]["ncco"]
    assert ncco[0]["action"] == "connect" and ncco[0]["endpoint"][0]["number"] == "441234567000"
    await c.ws.close()
    await asyncio.sleep(0.3)
    events = await bridge.events(c.call_uuid)
    states = [e["state"] for e in events if e["type"] == "flow.state_entered"]
    assert states[:5] == ["greet", "menu", "for_balance", "identify", "ask_dob"]
    bot = [e["text"] for e in events if e["type"] == "transcript.final" and e["speaker"] == "bot"]
    assert "Your available balance is 250 pounds." in bot
    assert [e["status"] for e in events if e["type"] == "call.transfer"] == [
        "requested",
        "connected",
    ]
    assert any(e["type"] == "call.barge_in" for e in events)
    assert events[-1]["type"] == "call.ended" and events[-1]["outcome"] == "transferred"
    assert bridge.app.state.services.calls.active == 0


async def test_the_greeting_starts_before_the_callers_next_frame(bridge: Bridge) -> None:
    # The reply's first frame goes out when it is ready; then one per caller frame.
    c = caller(bridge)
    await c.connect((await c.answer()).json())
    for _ in range(100):
        if c.received_audio:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    assert c.received_audio == 1
    for _ in range(10):
        await c.frame()
    await asyncio.sleep(0.1)
    assert c.received_audio == 10  # the early frame took its caller frame's slot
    await c.ws.close()


async def test_event_webhook_is_recorded_once(bridge: Bridge) -> None:
    c = caller(bridge)
    body = (
        b'{"uuid": "%s", "status": "completed", "duration": "31", '
        b'"timestamp": "2026-11-24T10:00:00Z"}' % c.call_uuid.encode()
    )
    async with httpx.AsyncClient() as client:
        for _ in range(2):  # Vonage retries
            r = await client.post(
                f"{bridge.base}/vonage/events",
                content=body,
                headers={"Authorization": signed(VONAGE_SECRET, body)},
            )
            assert r.status_code == 204
    await asyncio.sleep(0.2)
    events = await bridge.events(c.call_uuid)
    assert len({e["seq"] for e in events}) == 1 and events[0]["source"] == "carrier"
    assert (events[0]["type"], events[0]["status"], events[0]["duration_s"]) == (
        "call.carrier_status",
        "completed",
        31,
    )


async def test_bad_audio_and_events_are_logged_and_the_call_goes_on(bridge: Bridge) -> None:
    bridge.app.state.call_service.engine = TrivialEngine()
    wrong = caller(bridge)
    ncco = (await wrong.answer()).json()
    ncco[0]["endpoint"][0]["content-type"] = "audio/l16;rate=24000"  # not what we asked for
    await wrong.connect(ncco)
    await asyncio.sleep(0.2)
    assert wrong.received_audio == 0 and bridge.app.state.services.calls.active == 0

    c = caller(bridge)
    await c.connect((await c.answer()).json())
    for bad in ("{oops", "[1]", '{"event":"websocket:dtmf","digit":"55"}', '{"event":"new:thing"}'):
        await c.ws.send(bad)
    await c.frame(bytes(641))  # odd length: dropped whole (the samples after stay aligned)
    await c.frame(bytes(640 * 60))  # far too much at once: dropped
    await c.wait_for_bot(min_frames=40)
    assert c.received_audio == 45  # greeting and menu, all of them
    await c.ws.close()
    await asyncio.sleep(0.2)
    assert bridge.app.state.services.calls.active == 0
    assert (await bridge.events(c.call_uuid))[-1]["reason"] == "caller_hangup"


def _token(secret: str, body: bytes | None, **claims: Any) -> str:
    base: dict[str, Any] = {"iat": int(time.time()), "jti": uuid.uuid4().hex, "iss": "Vonage"}
    if body is not None:
        base["payload_hash"] = hashlib.sha256(body).hexdigest()
    return "Bearer " + jwt.encode({**base, **claims}, secret, algorithm="HS256")


async def test_stale_replayed_and_misused_signatures_are_refused(bridge: Bridge) -> None:
    """Issue 20, item 11: a year-old signed answer, the same token twice, and a token
    minted for a webhook presented at the socket each used to mint a call."""
    c = caller(bridge)
    body = json.dumps({"to": "441234567890", "from": "447700900123", "uuid": c.call_uuid})
    raw = body.encode()
    url = f"{bridge.base}/vonage/answer"
    year_ago = _token(VONAGE_SECRET, raw, iat=int(time.time()) - 365 * 86400)
    no_iat = _token(VONAGE_SECRET, raw, iat=None)
    fresh = _token(VONAGE_SECRET, raw)
    async with httpx.AsyncClient() as client:

        async def post(authorization: str) -> int:
            r = await client.post(url, content=raw, headers={"Authorization": authorization})
            return r.status_code

        assert await post(year_ago) == 403
        assert await post(no_iat) == 403
        assert await post(fresh) == 200
        assert await post(fresh) == 403  # the same jti again: a replay
    ws_url = bridge.base.replace("http", "ws") + "/vonage/ws"
    for authorization in (
        _token(VONAGE_SECRET, b'{"status": "completed"}'),  # minted for the events webhook
        _token(VONAGE_SECRET, None, iat=int(time.time()) - 30 * 86400),  # 30 days old
    ):
        with pytest.raises(websockets.InvalidStatus) as exc:
            await websockets.connect(ws_url, additional_headers={"Authorization": authorization})
        assert exc.value.response.status_code == 403
    socket = _token(VONAGE_SECRET, None)
    ws = await websockets.connect(ws_url, additional_headers={"Authorization": socket})
    await ws.close()
    with pytest.raises(websockets.InvalidStatus):  # that handshake's token, once more
        await websockets.connect(ws_url, additional_headers={"Authorization": socket})
