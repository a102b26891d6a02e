"""Keys pressed on phones that send them as tones in the audio: heard as keys, never as
speech or a barge-in, and a press the carrier also reports counts once."""

from __future__ import annotations

import numpy as np

from bridge.conversation.keys import InbandKeys
from bridge.legs.virtual import Speak, phone_line
from harness.audio import tone
from media.dtmf import HIGH, KEYS, LOW
from media.format import HOUSE_FRAME, HOUSE_RATE
from tests.bridge.conversation.calls import CARDS, call


def key_tones(keys: str) -> np.ndarray:
    """Keys pressed on a phone that sends them as tones in the audio (no RFC 4733)."""
    low = {k: f for f, row in zip(LOW, KEYS, strict=True) for k in row}
    high = {k: HIGH[row.index(k)] for row in KEYS for k in row}
    gap = np.zeros(HOUSE_RATE // 10, np.int16)
    return np.concatenate(
        [np.concatenate([tone((low[k], high[k]), 120, HOUSE_RATE), gap]) for k in keys]
    )


async def test_keys_sent_as_tones_in_the_audio_are_keys_not_speech() -> None:
    c = await call(CARDS, [Speak(phone_line(key_tones("2")), "")])
    assert c.path[:3] == ["greet", "menu", "for_lost_card"]
    assert [e.digits for e in c.of("call.dtmf")] == ["2"]
    assert not [e for e in c.of("transcript.final") if e.speaker == "caller"]
    assert not c.of("call.barge_in")


def test_a_key_heard_as_a_tone_and_reported_out_of_band_counts_once() -> None:
    keys = InbandKeys(HOUSE_RATE)
    pressed = key_tones("5")
    starts = range(0, len(pressed), HOUSE_FRAME)
    heard = [keys.feed(pressed[i : i + HOUSE_FRAME], n) for n, i in enumerate(starts)]
    assert [k for k in heard if k] == ["5"]
    assert keys.out_of_band("5", at=12)  # the same press, reported by the carrier
    assert not keys.out_of_band("5", at=80)  # a new press
    assert keys.feed(pressed[:HOUSE_FRAME], 81) is None  # the line reports keys itself now
