"""Time-aligned stereo WAV recording, streamed to disk frame by frame.

Left is the caller, right the bot or the human agent. Each tick writes one frame
of each side (silence for a side with nothing to say), so the channels stay
aligned with the call's clock; frames reach the disk a second at a time, and
nothing more than that second is held in memory.
"""

from __future__ import annotations

import wave
from pathlib import Path
from types import TracebackType

import numpy as np

from media.format import HOUSE_RATE, I16, frame_samples

BLOCK = 50  # frames (1 s) gathered before one write: a call's disk cost stays off its tick
# Blocks between rewrites of the WAV header's lengths (three seeks and writes; again at
# close): writeframesraw leaves the header alone.
HEADER_EVERY = 10


class StereoRecorder:
    def __init__(self, path: Path, rate: int = HOUSE_RATE, block: int = BLOCK) -> None:
        self.path = path
        self.rate = rate
        self.frame = frame_samples(rate)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("wb")
        self._wav = wave.open(self._file, "wb")  # noqa: SIM115 - closed in close()
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)
        self._buf = np.zeros((block * self.frame, 2), dtype="<i2")  # interleaved on write
        self._used = 0  # samples in _buf
        self._blocks = 0
        self.frames_written = 0

    def write(self, left: I16 | None, right: I16 | None) -> None:
        n = self.frame
        if (left is not None and len(left) != n) or (right is not None and len(right) != n):
            got = [len(x) if x is not None else n for x in (left, right)]
            raise ValueError(f"frames of {got[0]}/{got[1]} samples, expected {n}")
        rows = self._buf[self._used : self._used + n]
        rows[:, 0] = 0 if left is None else left
        rows[:, 1] = 0 if right is None else right
        self._used += n
        self.frames_written += 1
        if self._used == len(self._buf):
            self._flush()

    def _flush(self) -> None:
        if self._used:
            self._wav.writeframesraw(self._buf[: self._used].tobytes())
            self._blocks += 1
            if self._blocks % HEADER_EVERY == 0:
                self._wav.writeframes(b"")  # rewrites the lengths: readable if we crash
            self._file.flush()  # on disk each second: a crash loses at most that second
            self._used = 0

    @property
    def duration_ms(self) -> int:
        return self.frames_written * 20

    def close(self) -> None:
        """Write what is left and close; the file is closed even when a write fails
        (a full disk), and the error is raised."""
        try:
            self._flush()
        finally:
            try:
                self._wav.close()
            finally:
                self._file.close()

    def __enter__(self) -> StereoRecorder:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
