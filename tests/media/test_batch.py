"""The batch path gives each call exactly what a single-call engine would."""

from __future__ import annotations

import numpy as np
import pytest

from harness.audio import PHRASES, VOICES, resample_whole, synthesize
from media.batch import InboundBatch, OutboundBatch
from media.format import AudioFormatError
from media.g711 import ulaw_encode


def test_batch_equals_single_calls() -> None:
    calls = 4
    speech = [resample_whole(synthesize(PHRASES[i], VOICES[1]), 16000, 8000) for i in range(calls)]
    n = min(len(s) for s in speech) // 160
    codes = np.stack([ulaw_encode(s[: n * 160]).reshape(n, 160) for s in speech], axis=1)
    batch = InboundBatch(calls)
    singles = [InboundBatch(1) for _ in range(calls)]
    events_b: list[tuple[int, int, str]] = []
    events_s: list[tuple[int, int, str]] = []
    for t in range(n):
        tick = batch.process(codes[t])
        events_b += [(t, int(s), "start") for s in tick.started]
        events_b += [(t, int(s), "end") for s in tick.ended]
        for c, single in enumerate(singles):
            one = single.process(codes[t, c][None, :])
            np.testing.assert_allclose(one.house[0], tick.house[c], atol=1)
            assert one.speech_prob[0] == tick.speech_prob[c]
            events_s += [(t, c, "start")] * len(one.started) + [(t, c, "end")] * len(one.ended)
    assert sorted(events_b) == sorted(events_s)
    assert any(e[2] == "start" for e in events_b)


def test_outbound_to_mu_law() -> None:
    out = OutboundBatch(3)
    pcm = (np.sin(np.arange(480) / 10) * 8000).astype(np.int16)
    codes = out.process(np.stack([pcm, pcm, np.zeros(480, np.int16)]))
    assert codes.shape == (3, 160) and codes.dtype == np.uint8
    assert np.array_equal(codes[0], codes[1]) and np.all(codes[2] == 0xFF)  # 0xFF: mu-law zero


def test_only_active_slots_are_examined_and_bad_shapes_are_refused() -> None:
    batch = InboundBatch(3)
    loud = ulaw_encode((np.random.default_rng(0).normal(0, 8000, (3, 160))).astype(np.int16))
    tick = batch.process(loud, active=np.array([1]))
    assert tick.speech_prob[0] == 0 and tick.speech_prob[2] == 0
    with pytest.raises(AudioFormatError):
        batch.process(np.zeros((3, 170), np.uint8))
    with pytest.raises(AudioFormatError, match="8 kHz"):
        InboundBatch(1, codec="pcmu", rate=16000)
