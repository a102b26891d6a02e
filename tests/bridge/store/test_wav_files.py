"""Recordings are written by a thread of their own: the caller's loop never meets the disk."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bridge.store import wav_files
from bridge.store.wav_files import StereoRecorder, WavWriter, load_wav, write_wav
from media.format import AudioFormatError

CALLER = np.full(320, 1000, np.int16)
BOT = np.full(320, -2000, np.int16)


def test_a_recording_reads_back_time_aligned(tmp_path: Path) -> None:
    path = tmp_path / "calls" / "c1.wav"
    with StereoRecorder(path, block=2) as rec:
        rec.write(CALLER, None)
        rec.write(None, BOT)
        rec.write(CALLER, BOT)
    data, rate = load_wav(path)
    assert rate == 16000 and data.shape == (3 * 320, 2)
    assert np.all(data[:320] == (1000, 0)) and np.all(data[320:640] == (0, -2000))
    assert np.all(data[640:] == (1000, -2000))


def test_the_header_is_rewritten_as_the_file_grows(tmp_path: Path) -> None:
    """A crash mid-call leaves a file whose header counts what reached the disk."""
    path = tmp_path / "c.wav"
    writer = WavWriter(path, 16000, 2)
    block = np.zeros((320, 2), "<i2").tobytes()
    for _ in range(wav_files.HEADER_EVERY):
        writer.put(block)
    for _ in range(200):  # the writer thread catches up
        if load_header_frames(path) == wav_files.HEADER_EVERY * 320:
            break
        time.sleep(0.01)
    assert load_header_frames(path) == wav_files.HEADER_EVERY * 320
    writer.close()
    assert writer.wait(5) and writer.error is None


def load_header_frames(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[40:44], "little") // 4


def test_a_stalled_disk_never_blocks_the_caller_and_fails_the_recording_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's thread stuck in a write: put() returns at once, then gives up."""
    stuck = threading.Event()
    failures: list[OSError] = []
    writer = WavWriter(tmp_path / "slow.wav", 16000, 2, failures.append)
    real_write = writer._file.write

    def slow_write(data: bytes) -> int:
        stuck.wait(10)
        return real_write(data)

    monkeypatch.setattr(writer, "_file", _Slow(writer._file, slow_write))
    started = time.perf_counter()
    for _ in range(wav_files.QUEUE_BLOCKS + 5):
        writer.put(b"\0" * 64_000)
    assert time.perf_counter() - started < 0.5
    assert len(failures) == 1 and isinstance(failures[0], wav_files.RecordingBehind)
    assert "behind the call" in str(failures[0])
    stuck.set()
    writer.close()
    assert writer.wait(5)


class _Slow:
    """A file whose writes go through ``write`` (one that hangs, like a stalled disk)."""

    def __init__(self, file: object, write: Callable[[bytes], int]) -> None:
        self._file, self.write = file, write

    def __getattr__(self, name: str) -> object:
        return getattr(self._file, name)


def test_a_full_disk_fails_the_writer_not_the_caller() -> None:
    failures: list[OSError] = []
    writer = WavWriter(Path("/dev/full"), 16000, 2, failures.append)
    writer.put(b"\0" * 64_000)
    writer.close()
    assert writer.wait(5)
    [error] = failures
    assert error.strerror == "No space left on device" and writer.error is error


def test_a_recorder_raises_the_failure_at_close() -> None:
    rec = StereoRecorder(Path("/dev/full"), block=1)
    rec.write(CALLER, BOT)  # queued: no error here
    with pytest.raises(OSError, match="No space"):
        rec.close()


def test_whole_files_round_trip_and_a_non_wav_is_refused(tmp_path: Path) -> None:
    pcm = np.arange(-4000, 4000, 7, dtype=np.int16)
    write_wav(tmp_path / "a" / "x.wav", pcm, 8000)
    back, rate = load_wav(tmp_path / "a" / "x.wav")
    assert rate == 8000 and np.array_equal(back, pcm)
    (tmp_path / "y.wav").write_bytes(b"not a wav")
    with pytest.raises(AudioFormatError, match="not a PCM WAV"):
        load_wav(tmp_path / "y.wav")


def test_a_tool_faster_than_the_disk_waits_for_it(tmp_path: Path) -> None:
    """The CLI's virtual call runs faster than real time: its recorder waits, whole."""
    path = tmp_path / "fast.wav"
    with StereoRecorder(path, block=1) as rec:
        for _ in range(wav_files.QUEUE_BLOCKS * 20):
            rec.write(CALLER, BOT)
    data, _ = load_wav(path)
    assert len(data) == wav_files.QUEUE_BLOCKS * 20 * 320
