"""Jitter buffer for RTP-like input: reorder, drop duplicates, conceal loss, bound delay.

Packets carry a 16-bit sequence number (wrapping) and one 20 ms frame each. The
buffer holds ``target_frames`` before it starts playing, then yields exactly one
frame per ``pop`` (one per 20 ms tick of the caller's clock): the next frame in
sequence if it arrived, otherwise a concealment frame (the last frame, fading
by half each time, then silence). Packets older than the play point are late and
dropped; if the buffer grows past ``max_frames`` it skips ahead so delay stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from media.format import I16


def seq_diff(a: int, b: int) -> int:
    """a - b on the 16-bit RTP sequence circle (RFC 3550 wrap-around)."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


@dataclass
class JitterStats:
    received: int = 0
    duplicates: int = 0
    late: int = 0
    concealed: int = 0
    skipped: int = 0


class JitterBuffer:
    def __init__(self, frame_samples: int, target_frames: int = 3, max_frames: int = 10) -> None:
        if not 1 <= target_frames <= max_frames:
            raise ValueError("need 1 <= target_frames <= max_frames")
        self.frame_samples = frame_samples
        self.target = target_frames
        self.max = max_frames
        self._frames: dict[int, I16] = {}
        self._next: int | None = None  # sequence number to play next
        self._playing = False
        self._last: I16 = np.zeros(frame_samples, np.int16)
        self._fade = 0
        self.stats = JitterStats()

    def push(self, seq: int, frame: I16) -> None:
        seq &= 0xFFFF
        self.stats.received += 1
        if self._next is None:
            self._next = seq
        if seq_diff(seq, self._next) < 0:
            self.stats.late += 1
            return
        if seq in self._frames:
            self.stats.duplicates += 1
            return
        if len(frame) != self.frame_samples:
            raise ValueError(f"frame of {len(frame)} samples, expected {self.frame_samples}")
        self._frames[seq] = frame
        # Bound the delay: if too much is queued ahead of the play point, jump forward.
        span = seq_diff(seq, self._next) + 1
        if span > self.max:
            skip = span - self.target
            for _ in range(skip):
                if self._frames.pop(self._next, None) is not None:
                    self.stats.skipped += 1
                self._next = (self._next + 1) & 0xFFFF

    @property
    def depth(self) -> int:
        return len(self._frames)

    def pop(self) -> I16 | None:
        """The frame for this tick; None while still filling to the target depth."""
        if self._next is None:
            return None
        if not self._playing:
            if len(self._frames) < self.target:
                return None
            self._playing = True
        frame = self._frames.pop(self._next, None)
        self._next = (self._next + 1) & 0xFFFF
        if frame is not None:
            self._last, self._fade = frame, 0
            return frame
        self.stats.concealed += 1
        self._fade += 1
        if self._fade > 3:
            return np.zeros(self.frame_samples, np.int16)
        return (self._last.astype(np.int32) >> self._fade).astype(np.int16)
