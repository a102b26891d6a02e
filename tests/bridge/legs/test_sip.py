"""SIP calls end to end: real peers (baresip, sipp) against the bridge's pjsua2 agent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bridge.engines.local.asr import Recognizer
from bridge.engines.local.grammar import words_of
from media.resample import resample_signal
from tests.audio import VOICES, synthesize
from tests.bridge.legs.conftest import Bridge
from tests.peers import baresip

pytestmark = [
    pytest.mark.parametrize("redis_url", ["embedded"], indirect=True),
    pytest.mark.skipif(not baresip.available(), reason="baresip is not installed (make test does)"),
]


def first_sound(pcm8k: np.ndarray, gap_ms: int = 400) -> np.ndarray:
    """From the first loud 20 ms frame to the first ``gap_ms`` of quiet after it."""
    frames = pcm8k[: len(pcm8k) // 160 * 160].astype(np.float64).reshape(-1, 160)
    loud = np.sqrt((frames**2).mean(axis=1)) > 200
    start = int(np.argmax(loud))
    quiet = 0
    for i in range(start, len(loud)):
        quiet = 0 if loud[i] else quiet + 1
        if quiet * 20 >= gap_ms:
            return pcm8k[max(0, start - 10) * 160 : (i + 1) * 160]
    return pcm8k[start * 160 :]


async def test_baresip_caller_hears_the_greeting_and_asks_for_the_balance(
    sip_bridge: Bridge, tmp_path: Path
) -> None:
    heard8k = await baresip.call(
        tmp_path / "baresip",
        f"sip:+441234567890@127.0.0.1:{sip_bridge.sip_port}",
        synthesize("what is my balance", VOICES[1]),
        lead_s=11.5,  # after the greeting and the menu prompt
        seconds=20,
    )
    calls = await sip_bridge.calls()
    assert len(calls) == 1, calls
    events = await sip_bridge.events(calls[0])
    kinds = [e["type"] for e in events]
    assert kinds[0] == "call.started" and kinds[-1] == "call.ended", kinds
    assert events[0]["carrier"] == "sip" and events[0]["to_number"] == "+441234567890"
    assert [e["intent"] for e in events if e["type"] == "flow.intent"][:1] == ["balance"]
    states = [e["state"] for e in events if e["type"] == "flow.state_entered"]
    assert states[:5] == ["greet", "menu", "for_balance", "identify", "ask_dob"], states

    # What the phone received is the bot's speech: its first two prompts are recognised
    # in the recording (a grammar of the flow's prompts, any sequence of them).
    # What the phone received is the bot's speech: the greeting, the first stretch of
    # sound in the recording, is recognised against the flow's prompts.
    prompts = [e for e in events if e["type"] == "transcript.final" and e["speaker"] == "bot"]
    phrases = sorted({" ".join(words_of(p["text"])) for p in prompts})
    rec = Recognizer()
    rec.begin("#JSGF V1.0;\ngrammar bot;\npublic <p> = " + " | ".join(phrases) + ";\n")
    greeting = first_sound(heard8k).astype(np.float64)
    # The phone's volume: it arrives about 6 dB below what the recogniser is tuned for.
    greeting *= 3000 / max(1.0, float(np.sqrt(np.mean(greeting**2))))
    pcm = np.clip(greeting, -32768, 32767).astype(np.int16)
    rec.feed(resample_signal(pcm, 8000, 16000))
    rec.feed(np.zeros(8000, np.int16))
    assert rec.finish().text == " ".join(words_of(prompts[0]["text"]))
    assert sip_bridge.app.state.services.calls.active == 0
