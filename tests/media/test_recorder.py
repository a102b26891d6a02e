"""The recording's samples: both sides aligned frame by frame, in one-second blocks."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from media.recorder import CallMix, StereoBlocks
from media.wav import HEADER_BYTES, wav_bytes, wav_header

CALLER = np.full(320, 1000, np.int16)
BOT = np.full(320, -2000, np.int16)


def stereo(data: bytes) -> np.ndarray:
    return np.frombuffer(data, "<i2").reshape(-1, 2)


def test_channels_are_time_aligned_and_handed_over_block_by_block() -> None:
    blocks = StereoBlocks(block=2)  # two frames a block
    assert blocks.add(CALLER, None) is None
    first = blocks.add(None, BOT)
    assert first is not None and len(first) == 2 * 320 * 2 * 2
    assert blocks.add(CALLER, BOT) is None
    data = stereo(first + blocks.take())
    assert len(data) == 3 * 320 and blocks.duration_ms == 60 and blocks.take() == b""
    left, right = data[:, 0], data[:, 1]
    assert np.all(left[:320] == 1000) and np.all(right[:320] == 0)
    assert np.all(left[320:640] == 0) and np.all(right[320:640] == -2000)
    assert np.all(left[640:] == 1000) and np.all(right[640:] == -2000)


def test_wrong_frame_size_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 320"):
        StereoBlocks().add(np.zeros(160, np.int16), None)


def test_bot_frames_wait_for_their_caller_frame_and_private_frames_are_silent() -> None:
    mix = CallMix(block=3)
    mix.bot_frame(BOT)  # handed over ahead of the caller's clock
    mix.bot_frame(BOT * 2)
    assert mix.caller_frame(CALLER, private=False) is None
    assert mix.caller_frame(CALLER, private=True) is None  # takes the second bot frame
    block = mix.caller_frame(CALLER, private=False)  # no bot frame left: silence
    assert block is not None
    data = stereo(block)
    assert np.all(data[:320] == (1000, -2000))
    assert not data[320:640].any()
    assert np.all(data[640:] == (1000, 0))


def test_the_header_is_what_the_wave_module_writes() -> None:
    pcm = np.arange(-300, 300, dtype=np.int16).reshape(-1, 2)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm.tobytes())
    assert wav_bytes(pcm, 8000) == buf.getvalue()
    assert len(wav_header(16000, 1, 0)) == HEADER_BYTES
