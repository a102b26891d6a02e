"""Faults from outside a bridge: carriers' APIs away, abusive sockets, stale and
replayed signatures, huge bodies, poison values, odd frames, absurd flows. Each is
refused or survived; every call ends with its true reason."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import websockets

from harness.audio import VOICES, synthesize
from tests.bridge.legs.twilio_caller import TwilioCaller
from tests.bridge.legs.vonage_caller import VonageCaller
from tests.fakes.twilio_rest import FakeTwilio
from tests.faults.serve import CALLBRIDGE, TOKEN, VONAGE_SECRET, Serve, a_short_call


def test_calls_end_without_the_carrier_api_and_with_their_true_reason(shared: Serve) -> None:
    """Item 2 (Twilio's REST unreachable: the transfer fails, the flow says sorry and
    hangs up by closing the stream) and item 18 (stored as the flow's hang-up)."""
    c = shared.caller()

    async def call() -> None:
        await c.connect((await c.voice_webhook()).text)
        await c.wait_for_bot(min_frames=40, quiet=0, limit=3000)
        await c.dtmf("0")  # an agent, please
        for _ in range(6000):
            if c.ws.close_code is not None:
                return
            with contextlib.suppress(websockets.ConnectionClosed):
                await c.media(b"\xff" * 160)
        raise AssertionError("the bridge never ended the call")

    asyncio.run(call())
    end = shared.ended(c.call_sid)
    assert (end["reason"], end["outcome"]) == ("flow_hangup", "completed"), end
    transfers = [e["status"] for e in shared.events(c.call_sid) if e["type"] == "call.transfer"]
    assert transfers == ["requested", "failed"]


def test_abusive_sockets_cost_one_socket_each(shared: Serve) -> None:
    """Items 3, 4 and 6: a second start on a socket that carries a call, the same
    CallSid streamed again, and 51 bad messages (bad base64 among them)."""
    first, abuser = shared.caller(), shared.caller()
    again = TwilioCaller(shared.url, TOKEN, first.call_sid)

    async def calls() -> None:
        await first.connect((await first.voice_webhook()).text)
        await first.wait_for_bot(min_frames=20, quiet=0, limit=3000)
        other = (await abuser.voice_webhook()).text
        await first.send(abuser.start(other, "MZx"))  # a second call on the first's socket
        await first.wait_for_bot(min_frames=10, quiet=0, limit=3000)  # the first call goes on
        await first.stop()
        await again.connect((await again.voice_webhook()).text)
        await again.wait_for_bot(min_frames=20, quiet=0, limit=3000)
        bad = {"event": "media", "streamSid": again.stream_sid, "media": {"payload": "%%%"}}
        with contextlib.suppress(websockets.ConnectionClosed):
            for _ in range(60):
                await again.send(bad)
        await asyncio.wait_for(again.ws.wait_closed(), 10)
        assert again.ws.close_code == 1008

    asyncio.run(calls())
    shared.ended(first.call_sid)
    events = shared.events(first.call_sid)
    ends = [e["reason"] for e in events if e["type"] == "call.ended"]
    assert sorted(ends) == ["caller_hangup", "protocol_error"], ends  # both legs, true reasons
    seqs = [e["seq"] for e in events]
    assert len(seqs) == len(set(seqs))
    assert shared.events(abuser.call_sid) == []  # no second call was started on the socket


def test_stale_and_replayed_vonage_signatures_and_huge_bodies_are_refused(
    shared: Serve,
) -> None:
    """Items 11 and 14 at the edge of a running bridge."""
    body = json.dumps({"to": "441234567890", "from": "447700900123", "uuid": str(uuid.uuid4())})
    raw = body.encode()

    def token(**claims: Any) -> str:
        base = {"iat": int(time.time()), "jti": uuid.uuid4().hex, "iss": "Vonage",
                "payload_hash": hashlib.sha256(raw).hexdigest()}  # fmt: skip
        return "Bearer " + jwt.encode({**base, **claims}, VONAGE_SECRET, algorithm="HS256")

    url = f"{shared.url}/vonage/answer"
    fresh = token()
    with httpx.Client() as http:
        post = lambda auth: http.post(url, content=raw, headers={"Authorization": auth})  # noqa: E731
        assert post(token(iat=int(time.time()) - 365 * 86400)).status_code == 403
        assert post(fresh).status_code == 200
        assert post(fresh).status_code == 403  # replayed
        assert http.post(url, content=b"x" * 2_000_000).status_code == 413


def test_a_flow_nested_thousands_deep_is_a_flow_error(tmp_path: Path) -> None:
    """Item 15, from the command line an admin runs."""
    deep = tmp_path / "deep.yaml"
    deep.write_text("flow: x\nstart: a\nstates:\n  a:\n    say: " + "[" * 5000 + "]" * 5000 + "\n")
    r = subprocess.run(
        [CALLBRIDGE, "flows", "validate", str(deep)], capture_output=True, timeout=60
    )
    assert r.returncode == 1 and b"nested more than" in r.stdout + r.stderr
    assert b"Traceback" not in r.stdout + r.stderr


def test_a_socket_that_never_starts_a_call_is_closed_and_poison_values_are_400(
    shared: Serve,
) -> None:
    """Item 5 (a signed socket held with no `start`: closed after the 10 s handshake
    deadline) and item 7 (a signed status callback whose SequenceNumber no column can
    hold: 400 at the edge, and the store goes on writing)."""
    c = shared.caller()
    url = shared.url.replace("http://", "ws://") + "/twilio/stream"

    async def idle() -> int | None:
        ws = await websockets.connect(
            url, additional_headers={"X-Twilio-Signature": c.sign(url, {})}
        )
        await asyncio.wait_for(ws.wait_closed(), 15)
        return ws.close_code

    assert asyncio.run(idle()) == 1008
    status = f"{shared.url}/twilio/status"
    form = {"CallSid": c.call_sid, "CallStatus": "completed", "SequenceNumber": "9" * 23}
    r = httpx.post(status, data=form, headers={"X-Twilio-Signature": c.sign(status, form)})
    assert r.status_code == 400
    after = shared.caller()
    asyncio.run(a_short_call(after))
    assert shared.ended(after.call_sid)["reason"] == "caller_hangup"  # still stored


def test_an_odd_length_vonage_frame_leaves_the_caller_understood(shared: Serve) -> None:
    """Item 12: one odd-length binary frame used to shift the byte order of every
    sample after it, and the caller turned to noise. They are still understood."""
    c = VonageCaller(shared.url, VONAGE_SECRET)
    c.frame_s = 0.02  # real time: the local engine hears it as a caller would say it

    async def call() -> None:
        await c.connect((await c.answer()).json())
        await c.wait_for_bot(min_frames=40, quiet=20, limit=3000)
        await c.frame(b"\x01")  # the stray byte
        await c.say(synthesize("what is my balance please", VOICES[1]))
        await c.wait_for_bot(min_frames=10, quiet=0, limit=1000)
        await c.ws.close()

    asyncio.run(call())
    shared.ended(c.call_uuid)
    said = [e["text"].lower() for e in shared.events(c.call_uuid)
            if e["type"] == "transcript.final" and e["speaker"] == "caller"]  # fmt: skip
    assert any("balance" in s for s in said), said


def test_the_fork_after_a_transfer_survives_bad_frames(
    tmp_path: Path, twilio_rest: tuple[FakeTwilio, str]
) -> None:
    """Item 13: after a transfer the listen-only fork keeps transcribing the caller for
    the agent; one binary or malformed frame used to end it (an unhandled exception)."""
    fake, api = twilio_rest
    bridge = Serve(tmp_path / "data", CALLBRIDGE_TWILIO_API_URL=api)
    c = bridge.caller()
    fake.calls.add(c.call_sid)

    async def call() -> None:
        await c.connect((await c.voice_webhook()).text)
        await c.wait_for_bot(min_frames=40, quiet=0, limit=3000)
        await c.dtmf("0")  # an agent: the transfer goes through the REST fake
        for _ in range(6000):
            if fake.requests:
                break
            await c.media(b"\xff" * 160)
        twiml = fake.requests[0].form["Twiml"]
        await c.stop()  # Twilio ends the <Connect> stream when the TwiML is replaced
        fork = TwilioCaller(c.base, c.auth_token, c.call_sid)
        fork.frame_s = 0.02
        await fork.connect(twiml, path="fork")
        await fork.ws.send(b"\x00\x01binary")
        bad = {"event": "media", "streamSid": fork.stream_sid, "media": {"payload": "%%%"}}
        await fork.send(bad)
        await fork.say(synthesize("my card was stolen yesterday", VOICES[1]))
        for _ in range(60):
            await fork.media(b"\xff" * 160)
        await fork.stop()

    try:
        asyncio.run(call())
        end = bridge.ended(c.call_sid, within_s=30)
        assert end["outcome"] == "transferred", end
        events = bridge.events(c.call_sid)
        at = max(i for i, e in enumerate(events) if e["type"] == "call.transfer")
        after = [e["text"].lower() for e in events[at:]
                 if e["type"] == "transcript.final" and e["speaker"] == "caller"]  # fmt: skip
        assert any("stolen" in t for t in after), after
    finally:
        bridge.stop()
    assert bridge.proc.returncode == 0
