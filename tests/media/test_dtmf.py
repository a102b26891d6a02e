from __future__ import annotations

import numpy as np
import pytest

from harness.audio import PHRASES, VOICES, resample_whole, synthesize, tone
from media.dtmf import HIGH, KEYS, LOW, DtmfDetector
from media.g711 import ulaw_decode, ulaw_encode


def key_tone(key: str, ms: int = 80, rate: int = 8000, level: float = 8000) -> np.ndarray:
    row = next(i for i, r in enumerate(KEYS) if key in r)
    return tone((LOW[row], HIGH[KEYS[row].index(key)]), ms, rate, level)


def detect(audio: np.ndarray, rate: int = 8000) -> str:
    d = DtmfDetector(rate)
    hop = rate // 50
    audio = audio[: len(audio) // hop * hop]
    return "".join(k for f in audio.reshape(-1, hop) if (k := d.feed(f)))


def keyed(keys: str, rate: int = 8000, gap_ms: int = 60) -> np.ndarray:
    gap = np.zeros(rate * gap_ms // 1000, np.int16)
    return np.concatenate([np.concatenate([key_tone(k, rate=rate), gap]) for k in keys])


ALL = "123A456B789C*0#D"


@pytest.mark.parametrize("rate", [8000, 16000])
def test_every_key(rate: int) -> None:
    assert detect(keyed(ALL, rate), rate) == ALL


def test_through_mu_law_and_noise() -> None:
    audio = keyed("4111", gap_ms=60).astype(np.float64)
    audio += np.random.default_rng(1).normal(0, 400, len(audio))  # about 20 dB SNR
    audio = np.clip(audio, -32768, 32767).astype(np.int16)
    assert detect(ulaw_decode(ulaw_encode(audio))) == "4111"


def test_a_held_key_is_reported_once_and_repeats_need_a_gap() -> None:
    assert detect(key_tone("5", ms=400)) == "5"
    assert detect(np.concatenate([key_tone("5"), key_tone("5")])) == "5"


def test_too_short_a_tone_is_ignored() -> None:
    assert detect(np.concatenate([key_tone("7", ms=20), np.zeros(800, np.int16)])) == ""


def test_speech_does_not_key_digits() -> None:
    speech = [resample_whole(synthesize(p, v), 16000, 8000) for v in VOICES[1:5] for p in PHRASES]
    assert detect(np.concatenate(speech)) == ""


def test_house_format_by_default_and_a_reset_forgets_a_half_heard_key() -> None:
    d = DtmfDetector()
    frames = key_tone("9", ms=80, rate=16000).reshape(-1, 320)
    assert d.feed(frames[0]) is None and d.feed(frames[1]) is None
    assert d.in_tone  # heard in one window: not yet sure
    d.reset()  # the stream broke off: the next frame does not complete the key
    assert d.feed(frames[2]) is None
    assert d.feed(np.zeros(320, np.int16)) is None and not d.in_tone
    assert detect(keyed("9", 16000), 16000) == "9"


def test_a_rate_the_house_does_not_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported sample rate"):
        DtmfDetector(11025)
