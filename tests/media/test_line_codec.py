from __future__ import annotations

import numpy as np
import pytest

from media import g711
from media.format import AudioFormatError
from media.line_codec import LineCodec
from media.playout import Playout
from media.resample import Resampler


def speechlike(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    x = 6000 * np.sin(2 * np.pi * 300 * t) + 2000 * np.sin(2 * np.pi * 1200 * t)
    return (x + rng.normal(0, 300, n)).astype(np.int16)


def test_decode_is_g711_then_the_streaming_resampler() -> None:
    line, up = LineCodec("pcmu", 8000), Resampler(8000, 16000, band="telephone")
    codes = g711.ulaw_encode(speechlike(960)[::2])
    for i in range(0, 480, 160):
        frame = codes[i : i + 160]
        expected = up.process_int16(g711.ulaw_decode(frame)[None, :])[0]
        assert np.array_equal(line.decode(frame.tobytes()), expected)


def test_encoding_sentence_by_sentence_equals_frame_by_frame() -> None:
    """Outbound audio is converted a chunk at a time; the seams must not show."""
    audio = speechlike(320 * 30)
    chunked, framed = LineCodec("pcmu"), LineCodec("pcmu")
    by_chunk = b"".join(chunked.encode(audio[a:b]) for a, b in ((0, 3200), (3200, 9600)))
    by_frame = b"".join(framed.encode(audio[i : i + 320]) for i in range(0, len(audio), 320))
    a = g711.ulaw_decode(np.frombuffer(by_chunk, np.uint8)).astype(int)
    b = g711.ulaw_decode(np.frombuffer(by_frame, np.uint8)).astype(int)
    assert len(a) == len(b) == 30 * 160
    # float32 sums in another order may round across a mu-law step, nowhere more
    steps = np.abs(a - b)
    assert np.mean(steps == 0) > 0.99 and steps.max() <= 32 * 4


def test_l16_at_the_house_rate_is_passed_through_little_endian() -> None:
    line = LineCodec("l16", 16000)
    pcm = speechlike(320)
    assert line.encode(pcm) == pcm.astype("<i2").tobytes()
    assert np.array_equal(line.decode(pcm.astype("<i2").tobytes()), pcm)
    assert LineCodec("l16", 8000).frame_bytes == 320


def test_bad_lengths_and_formats_are_refused() -> None:
    with pytest.raises(AudioFormatError):
        LineCodec("pcmu", 16000)
    with pytest.raises(AudioFormatError):
        LineCodec("opus")  # type: ignore[arg-type]
    with pytest.raises(AudioFormatError, match="expected 160 bytes"):
        LineCodec("pcmu").decode(b"\xff" * 159)
    with pytest.raises(AudioFormatError, match="whole number"):
        LineCodec("pcmu").encode(np.zeros(100, np.int16))


def test_playout_hands_out_each_frame_in_the_line_encoding() -> None:
    line = LineCodec("pcmu")
    playout = Playout(320, LineCodec("pcmu"))
    audio = speechlike(320 * 4)
    playout.enqueue("u1", audio[:640])
    playout.enqueue("u1", audio[640:])
    expected = line.encode(audio)
    got = []
    for _ in range(4):
        frame, _ = playout.next_frame()
        assert frame is not None and playout.line_frame is not None
        got.append(playout.line_frame)
    assert b"".join(got) == expected
    assert playout.next_frame()[0] is None and playout.line_frame is None


def test_barge_in_restarts_the_outbound_filter() -> None:
    playout = Playout(320, LineCodec("pcmu"))
    playout.enqueue("u1", speechlike(3200, seed=2))
    playout.next_frame()
    playout.clear()
    quiet = np.zeros(320, np.int16)
    playout.enqueue("u2", quiet)
    playout.next_frame()
    # nothing of the dropped speech leaks into the next utterance through the filter history
    assert playout.line_frame == LineCodec("pcmu").encode(quiet)
