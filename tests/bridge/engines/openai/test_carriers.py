"""A Twilio call whose flow runs on the openai engine: G.711 straight to the model,
barge-in cut by what the phone played, the transfer through the REST API."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from harness.audio import VOICES, synthesize
from tests.bridge.legs.conftest import TOKEN, running_bridge
from tests.bridge.legs.twilio_caller import TwilioCaller, mulaw_frames
from tests.fakes.openai_realtime import FakeRealtime, Reply


@pytest.mark.parametrize("redis_url", ["embedded"], indirect=True)
async def test_a_twilio_caller_talks_to_the_model(
    tmp_path: Path,
    redis_url: str,
    stream_name: str,
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeRealtime,
) -> None:
    fake.replies.append(Reply(call="answer", args={"intent": "agent"}, heard="talk to a person"))
    async with running_bridge(
        tmp_path,
        redis_url,
        stream_name,
        monkeypatch,
        engine="openai",
        openai_api_key="sk-test",
        openai_realtime_url=fake.url,
    ) as bridge:
        sid = "CA" + uuid.uuid4().hex
        bridge.twilio.calls.add(sid)
        c = TwilioCaller(bridge.base, TOKEN, sid)
        await c.connect((await c.voice_webhook()).text)
        await c.wait_for_bot(min_frames=40, quiet=0, limit=400)  # the greeting is playing
        speech = synthesize("talk to a person", VOICES[1])
        await c.say(speech)
        for _ in range(2000):  # until it is asked for: seconds more on a loaded machine
            if bridge.twilio.requests:
                break
            await c.media(b"\xff" * 160)
        await c.stop()
        events = await bridge.events(sid)

    fmt = fake.of("session.update")[-1]["session"]["audio"]["input"]["format"]
    assert fmt == {"type": "audio/pcmu"}
    sent = {base64.b64decode(e["audio"]) for e in fake.of("input_audio_buffer.append")}
    assert len(sent & set(mulaw_frames(speech))) > 20  # the caller's own bytes, untouched
    # The model is told it said what the phone played before the caller cut in.
    [barge] = [e for e in events if e["type"] == "call.barge_in"][:1]
    cut = max(fake.of("conversation.item.truncate"), key=lambda e: e["audio_end_ms"])
    assert cut["audio_end_ms"] == barge["played_ms"]
    assert 0 <= c.heard_at_clear[0] * 20 - cut["audio_end_ms"] <= 40
    states = [e["state"] for e in events if e["type"] == "flow.state_entered"]
    assert states[-1] == "to_agent"
    [update] = bridge.twilio.requests
    assert "<Enqueue>cards</Enqueue>" in update.form["Twiml"]
