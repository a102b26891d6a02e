"""WAV files at the edge: recordings written off the event loop, whole files saved and loaded.

media/ builds the bytes (``media.recorder``, ``media.wav``); the files are here. A
recording's blocks (one a second) go through a bounded queue to a thread of its own,
so a slow or full disk costs the call's loop nothing: a write that fails, or a disk
that falls :data:`QUEUE_BLOCKS` seconds behind, fails that recording, once, and the
call goes on.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import numpy as np

from media.format import FRAME_MS, HOUSE_RATE, I16, AudioFormatError
from media.recorder import BLOCK, StereoBlocks
from media.wav import wav_bytes, wav_header

QUEUE_BLOCKS = 10  # blocks (10 s of audio) waiting for the disk before the recording gives up
HEADER_EVERY = 10  # blocks between rewrites of the header's lengths (readable after a crash)
EXIT_WAIT_S = 5.0  # at interpreter exit, for the recordings still being finished
LOAD_WAIT_S = 10.0  # a file this process is still finishing is loaded once it is done

_live: dict[str, WavWriter] = {}  # by absolute path: the writers not finished yet
_live_lock = threading.Lock()


class RecordingBehind(OSError):
    """The disk took so long that the call's audio no longer fits the queue."""


class WavWriter:
    """One 16-bit WAV file written by a thread of its own from a bounded queue of blocks.

    The file is opened here, on the caller's thread: one metadata operation, so a
    missing or read-only folder fails at once (an ``OSError``). Every write, header
    rewrite and the close happen on the writer thread. ``on_failure`` hears the first
    error, once, on whichever thread met it. ``wait_when_full``: a tool that makes audio
    faster than real time waits for the disk instead of giving the recording up.
    """

    def __init__(
        self,
        path: Path,
        rate: int,
        channels: int,
        on_failure: Callable[[OSError], None] | None = None,
        wait_when_full: bool = False,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("wb")
        self.path, self.rate, self.channels = path, rate, channels
        self.error: OSError | None = None
        self.done = threading.Event()  # set once the file is closed, written or failed
        self._on_failure, self._wait_when_full = on_failure, wait_when_full
        self._jobs: queue.Queue[bytes | None] = queue.Queue(QUEUE_BLOCKS)
        self._closing = False
        self._failed = threading.Lock()  # held by the first failure: reported once
        self._key = os.path.abspath(path)
        with _live_lock:
            _live[self._key] = self
        threading.Thread(target=self._run, name=f"wav-{path.name}", daemon=True).start()

    def put(self, block: bytes) -> None:
        """Queue one block of sample bytes; never waits for the disk."""
        if self.error is not None or self._closing or not block:
            return
        self._queue(block)

    def close(self, last: bytes = b"") -> None:
        """Queue the last block and the close, and return at once (:meth:`wait` for it)."""
        if self._closing:
            return
        self.put(last)
        self._closing = True
        if self.error is None:
            self._queue(None)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the file is complete (or failed); False if ``timeout`` ran out."""
        return self.done.wait(timeout)

    def _queue(self, job: bytes | None) -> None:
        if self._wait_when_full:
            while not self.done.is_set():  # done: the writer failed, and the job is moot
                with contextlib.suppress(queue.Full):
                    self._jobs.put(job, timeout=0.1)
                    return
            return
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            # The writer thread, once its write returns, sees the error and stops.
            behind = QUEUE_BLOCKS * BLOCK * FRAME_MS // 1000  # seconds, at the usual block
            self._fail(RecordingBehind(f"the disk is more than {behind} s behind the call"))

    def _run(self) -> None:
        frames = blocks = 0
        try:
            self._file.write(wav_header(self.rate, self.channels, 0))
            while (block := self._jobs.get()) is not None and self.error is None:
                self._file.write(block)
                frames += len(block) // (2 * self.channels)
                blocks += 1
                if blocks % HEADER_EVERY == 0:
                    self._rewrite_header(frames)
                self._file.flush()  # on disk each second: a crash loses at most that second
            if self.error is None:
                self._rewrite_header(frames)
        except OSError as exc:
            self._fail(exc)
        finally:
            with contextlib.suppress(OSError):  # the disk that failed a write may fail this
                self._file.close()
            with _live_lock:
                if _live.get(self._key) is self:
                    del _live[self._key]
            self.done.set()

    def _rewrite_header(self, frames: int) -> None:
        self._file.seek(0)
        self._file.write(wav_header(self.rate, self.channels, frames))
        self._file.seek(0, os.SEEK_END)

    def _fail(self, exc: OSError) -> None:
        if not self._failed.acquire(blocking=False):
            return
        self.error = exc
        if self._on_failure is not None:
            self._on_failure(exc)


class StereoRecorder:
    """Both sides of a call into a stereo WAV, frame by frame (the virtual leg's and tools'
    recorder). :meth:`write` never touches the disk; :meth:`close` waits until the file
    is complete and raises what failed: use it where a short wait at the end is fine."""

    def __init__(self, path: Path, rate: int = HOUSE_RATE, block: int = BLOCK) -> None:
        self.path, self.rate = path, rate
        self._blocks = StereoBlocks(rate, block)
        self._writer = WavWriter(path, rate, 2, wait_when_full=True)

    def write(self, left: I16 | None, right: I16 | None) -> None:
        block = self._blocks.add(left, right)
        if block is not None:
            self._writer.put(block)

    @property
    def frames_written(self) -> int:
        return self._blocks.frames_written

    @property
    def duration_ms(self) -> int:
        return self._blocks.duration_ms

    def close(self, timeout: float | None = None) -> None:
        self._writer.close(self._blocks.take())
        if not self._writer.wait(timeout):
            raise TimeoutError(f"{self.path}: still being written after {timeout} s")
        if self._writer.error is not None:
            raise self._writer.error

    def __enter__(self) -> StereoRecorder:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def wait_written(path: Path, timeout: float = LOAD_WAIT_S) -> bool:
    """Wait until no writer of this process still has ``path`` open; False on timeout."""
    with _live_lock:
        writer = _live.get(os.path.abspath(path))
    return writer is None or writer.wait(timeout)


def write_wav(path: Path, pcm: I16, rate: int) -> None:
    """A whole signal (mono, or samples by channels) to a file, at once (CLI, tools)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_bytes(pcm, rate))


def load_wav(path: Path) -> tuple[I16, int]:
    """Samples (by channels when not mono) and the rate of a 16-bit PCM WAV file. A file
    this process is still writing (a call that just ended) is read once it is complete."""
    wait_written(path)
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2:
                raise AudioFormatError(f"{path}: {8 * w.getsampwidth()}-bit audio, expected 16")
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
            if w.getnchannels() > 1:
                data = data.reshape(-1, w.getnchannels())
            return data, w.getframerate()
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f"{path}: not a PCM WAV file ({exc})") from exc


@atexit.register
def _finish_writes() -> None:
    """The writer threads are daemons (a stuck disk must not hang the exit): give the
    recordings of calls that just ended a moment to be complete."""
    deadline = time.monotonic() + EXIT_WAIT_S
    with _live_lock:
        writers = list(_live.values())
    for writer in writers:
        writer.wait(max(0.0, deadline - time.monotonic()))
