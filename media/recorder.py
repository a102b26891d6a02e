"""Time-aligned stereo WAV recording, streamed to disk frame by frame.

Left is the caller, right the bot or the human agent. Each tick writes one frame
of each side (silence for a side with nothing to say), so the channels stay
aligned with the call's clock; nothing is held in memory beyond one frame.
"""

from __future__ import annotations

import wave
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt

from media.format import HOUSE_RATE, frame_samples

I16 = npt.NDArray[np.int16]


class StereoRecorder:
    def __init__(self, path: Path, rate: int = HOUSE_RATE) -> None:
        self.path = path
        self.rate = rate
        self.frame = frame_samples(rate)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._wav = wave.open(str(path), "wb")  # noqa: SIM115 - closed in close()
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)
        self._silence = np.zeros(self.frame, np.int16)
        self.frames_written = 0

    def write(self, left: I16 | None, right: I16 | None) -> None:
        left = self._silence if left is None else left
        right = self._silence if right is None else right
        if len(left) != self.frame or len(right) != self.frame:
            raise ValueError(f"frames of {len(left)}/{len(right)} samples, expected {self.frame}")
        stereo = np.empty(2 * self.frame, dtype="<i2")
        stereo[0::2], stereo[1::2] = left, right
        self._wav.writeframes(stereo.tobytes())
        self.frames_written += 1

    @property
    def duration_ms(self) -> int:
        return self.frames_written * 20

    def close(self) -> None:
        self._wav.close()

    def __enter__(self) -> StereoRecorder:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
