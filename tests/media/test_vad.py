"""VAD quality on synthesised speech through a phone line, with noise."""

from __future__ import annotations

import numpy as np
import pytest

from media.endpoint import Endpointer
from media.format import HOUSE_FRAME, AudioFormatError
from media.vad import EnergyVad, WebRtcVad
from tests.audio import (
    PHRASES,
    VOICES,
    labelled_stream,
    mix_at_snr,
    resample_whole,
    synthesize,
    ulaw_round_trip,
    white_noise,
)


@pytest.fixture(scope="module")
def noisy_line():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(11)
    utts = [synthesize(p, v) for v in (VOICES[1], VOICES[4]) for p in PHRASES[:3]]
    stream = labelled_stream(utts, rng)
    noisy = mix_at_snr(stream.clean, white_noise(len(stream.clean), rng), 10, stream.labels)
    audio = ulaw_round_trip(noisy)[: len(stream.labels) * HOUSE_FRAME]
    return stream, audio.reshape(-1, HOUSE_FRAME)


def test_webrtc_vad_at_10db_snr(noisy_line) -> None:  # type: ignore[no-untyped-def]
    stream, frames = noisy_line
    vad, ep = WebRtcVad(1, mode=2), Endpointer(1)
    det, starts = [], []
    for i, f in enumerate(frames):
        p = vad.process(f[None, :])
        det.append(p[0] >= 0.5)
        if len(ep.update(p)[0]):
            starts.append(i)
    det_a, truth = np.array(det), stream.labels
    tp = np.sum(det_a & truth)
    f1 = 2 * tp / (det_a.sum() + truth.sum())
    assert f1 >= 0.90, f"frame F1 {f1:.3f}"
    for a, b in stream.turns:
        fired = [s for s in starts if a - 5 <= s < b]
        assert fired, f"turn at frame {a} missed"
        assert (fired[0] + 1 - a) * 20 <= 150, "onset later than 150 ms"


def test_8khz_line_audio_decides_as_the_house_format_does(noisy_line) -> None:  # type: ignore[no-untyped-def]
    """The batch examines G.711 at 8 kHz; WebRTC decides the same as at 16 kHz."""
    _, frames16 = noisy_line
    frames8 = resample_whole(frames16.reshape(-1), 16000, 8000).reshape(len(frames16), -1)
    v16, v8 = WebRtcVad(1, 2, 16000), WebRtcVad(1, 2, 8000)
    d16 = np.array([v16.process(f[None, :])[0] for f in frames16])
    d8 = np.array([v8.process(f[None, :])[0] for f in frames8])
    assert np.mean(d16 == d8) >= 0.99
    with pytest.raises(AudioFormatError):
        v8.process(frames16[:1])
    with pytest.raises(AudioFormatError):
        WebRtcVad(1, 2, 24000)


def test_silence_is_not_speech() -> None:
    frames = np.zeros((50, HOUSE_FRAME), np.int16)
    assert WebRtcVad(1).process(frames[:1]).tolist() == [0.0]
    energy = EnergyVad(50)
    assert np.all(energy.process(frames) == 0)


def test_energy_vad_tracks_the_noise_floor() -> None:
    rng = np.random.default_rng(2)
    vad = EnergyVad(1)
    noise = (rng.standard_normal((100, HOUSE_FRAME)) * 300).astype(np.int16)
    probs = [vad.process(f[None, :])[0] for f in noise]
    assert np.mean(probs[50:]) < 0.1, "steady noise should become the floor"
    loud = (rng.standard_normal((1, HOUSE_FRAME)) * 3000).astype(np.int16)
    assert vad.process(loud)[0] == 1.0
