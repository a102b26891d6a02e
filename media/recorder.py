"""A call's stereo recording as samples: caller left, bot or agent right, on the caller's clock.

Each tick adds one frame of each side (silence for a side with nothing to say), so the
channels stay aligned with the call's clock. Frames are gathered into one-second blocks
of WAV sample bytes; writing them is the edge's work (``bridge.store.wav_files``), so the disk
is met once a second per call, and never from here.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from media.format import FRAME_MS, HOUSE_RATE, I16, frame_samples

BLOCK = 50  # frames (1 s) per block handed to the writer
AHEAD = 250  # bot frames (5 s) at most waiting for their caller frame


class StereoBlocks:
    """Aligned frames of both sides, interleaved into little-endian 16-bit blocks."""

    def __init__(self, rate: int = HOUSE_RATE, block: int = BLOCK) -> None:
        self.rate = rate
        self.frame = frame_samples(rate)
        self._buf = np.zeros((block * self.frame, 2), dtype="<i2")  # interleaved on take
        self._used = 0  # samples in _buf
        self.frames_written = 0

    def add(self, left: I16 | None, right: I16 | None) -> bytes | None:
        """One frame of each side (None: silence); a full block's bytes when this frame
        completes one."""
        n = self.frame
        if (left is not None and len(left) != n) or (right is not None and len(right) != n):
            got = [len(x) if x is not None else n for x in (left, right)]
            raise ValueError(f"frames of {got[0]}/{got[1]} samples, expected {n}")
        rows = self._buf[self._used : self._used + n]
        rows[:, 0] = 0 if left is None else left
        rows[:, 1] = 0 if right is None else right
        self._used += n
        self.frames_written += 1
        return self.take() if self._used == len(self._buf) else None

    def take(self) -> bytes:
        """The frames gathered since the last block (b"" for none)."""
        out = self._buf[: self._used].tobytes()
        self._used = 0
        return out

    @property
    def duration_ms(self) -> int:
        return self.frames_written * FRAME_MS


class CallMix:
    """Both sides of a live call. Legs hand bot frames over ahead of time (Twilio keeps a
    few buffered), so they wait in a short queue and each caller frame is paired with
    the next of them. A private frame (a sensitive state or prompt) is silence on both
    sides: nothing said or keyed there is recorded."""

    def __init__(self, rate: int = HOUSE_RATE, block: int = BLOCK, ahead: int = AHEAD) -> None:
        self.blocks = StereoBlocks(rate, block)
        self._bot: deque[I16] = deque(maxlen=ahead)

    def bot_frame(self, frame: I16) -> None:
        self._bot.append(frame)

    def caller_frame(self, frame: I16, private: bool) -> bytes | None:
        """The caller's next frame, with the bot's; a block's bytes when one is full."""
        bot = self._bot.popleft() if self._bot else None
        return self.blocks.add(None if private else frame, None if private else bot)

    def take(self) -> bytes:
        """What is gathered and not yet handed over (the end of the call)."""
        self._bot.clear()
        return self.blocks.take()
