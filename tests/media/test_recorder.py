from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from media.recorder import StereoRecorder


def test_channels_are_time_aligned(tmp_path: Path) -> None:
    path = tmp_path / "calls" / "c1.wav"
    caller = np.full(320, 1000, np.int16)
    bot = np.full(320, -2000, np.int16)
    with StereoRecorder(path, block=2) as rec:  # written two frames at a time
        rec.write(caller, None)
        rec.write(None, bot)
        rec.write(caller, bot)
        size_during = path.stat().st_size
    assert size_during >= 2 * 320 * 2 * 2, "frames reach the disk block by block"
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 16000, 2)
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    assert len(data) == 3 * 320
    left, right = data[:, 0], data[:, 1]
    assert np.all(left[:320] == 1000) and np.all(right[:320] == 0)
    assert np.all(left[320:640] == 0) and np.all(right[320:640] == -2000)
    assert np.all(left[640:] == 1000) and np.all(right[640:] == -2000)


def test_wrong_frame_size_is_refused(tmp_path: Path) -> None:
    with StereoRecorder(tmp_path / "x.wav") as rec, pytest.raises(ValueError, match="expected 320"):
        rec.write(np.zeros(160, np.int16), None)
