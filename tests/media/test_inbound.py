from __future__ import annotations

import numpy as np

from media import g711
from media.inbound import InboundAudio
from media.line_codec import LineCodec


def payloads(n: int, seed: int = 1) -> list[bytes]:
    rng = np.random.default_rng(seed)
    pcm = (rng.standard_normal(160 * n) * 3000).astype(np.int16)
    data = g711.ulaw_encode(pcm).tobytes()
    return [data[i : i + 160] for i in range(0, len(data), 160)]


def test_converted_frame_by_frame_it_is_the_codecs_own_stream() -> None:
    frames = payloads(20)
    audio, codec = InboundAudio(LineCodec("pcmu"), 5), LineCodec("pcmu")
    for p in frames:
        narrow = audio.narrow(p)
        assert np.array_equal(audio.house(narrow), codec.decode(p))
        audio.add(narrow)


def test_after_a_gap_the_lead_in_and_the_next_frames_are_one_fresh_stream() -> None:
    frames = payloads(30)
    audio = InboundAudio(LineCodec("pcmu"), 5)
    for p in frames[:20]:  # nobody listens: nothing is resampled
        audio.add(audio.narrow(p))
    heard = audio.lead_in()
    for p in frames[20:]:
        narrow = audio.narrow(p)
        heard.append(audio.house(narrow))
        audio.add(narrow)
    fresh = LineCodec("pcmu")
    want = [fresh.decode(p) for p in frames[15:]]  # the five before, then the rest
    assert len(heard) == len(want)
    assert all(np.array_equal(a, b) for a, b in zip(heard, want, strict=True))


def test_a_skipped_frame_restarts_the_stream() -> None:
    frames = payloads(12)
    audio = InboundAudio(LineCodec("pcmu"), 3)
    for p in frames[:10]:
        audio.add(audio.narrow(p))
    got = audio.house(audio.narrow(frames[10]))  # no lead-in asked for: starts afresh
    assert np.array_equal(got, LineCodec("pcmu").decode(frames[10]))


def test_house_format_frames_pass_through() -> None:
    audio = InboundAudio(None, 3)
    frame = np.arange(320, dtype=np.int16)
    assert audio.house(frame) is frame
    audio.add(frame)
    assert audio.rate == 16000 and audio.lead_in()[0] is frame
