"""The bot's voice starts when it speaks: hibari's lead-in silence is cut."""

from __future__ import annotations

import numpy as np

from bridge.engines.local.tts import LEAD, ONSET, RAMP, Synthesizer, without_lead


def onset_ms(pcm: np.ndarray) -> float:
    return float(np.flatnonzero(np.abs(pcm.astype(np.int32)) > ONSET)[0]) / 16


def test_the_silence_before_the_voice_is_cut_to_20_ms_and_ramped_in() -> None:
    t = np.arange(16000) / 16000
    voice = (8000 * np.cos(2 * np.pi * 220 * t)).astype(np.int16)  # loud from its first sample
    pcm = np.concatenate([np.zeros(16 * 300, np.int16), voice])
    out = without_lead(pcm)
    assert len(out) == len(voice) + LEAD
    assert onset_ms(out) == LEAD / 16
    np.testing.assert_array_equal(out[RAMP:], pcm[16 * 300 - LEAD + RAMP :])  # the rest as made
    assert np.abs(out[:RAMP].astype(np.int32)).max() <= ONSET  # no click at the cut


def test_audio_without_a_lead_or_without_a_voice_is_left_alone() -> None:
    silent = np.zeros(1600, np.int16)
    assert without_lead(silent) is silent
    tone = np.full(1600, 3000, np.int16)
    assert without_lead(tone) is tone


def test_a_synthesised_sentence_is_heard_within_25_ms() -> None:
    pcm = Synthesizer().sentence("Thank you for calling.")
    assert onset_ms(pcm) <= 25  # hibari alone: ~300 ms
    tail = pcm[-16 * 200 :]
    assert np.abs(tail.astype(np.int32)).max() <= ONSET  # the pause after it is kept
