"""The model's audio on its way to the caller: 24 kHz deltas per output item, cut into
20 ms house frames; how much of each item arrived, and which items a barge-in cut."""

from __future__ import annotations

import numpy as np

from bridge.engines.base import I16
from bridge.engines.openai import protocol as p
from media.format import HOUSE_RATE
from media.resample import Resampler

OUT_FRAME = p.PCM_RATE // 50  # samples of the model's 24 kHz audio in 20 ms


def pcm24(data: bytes) -> np.ndarray:
    """A delta's bytes as 16-bit samples; an odd byte is dropped."""
    return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")


class BotAudio:
    def __init__(self) -> None:
        self.received_ms: dict[str, int] = {}  # per output item: audio we got
        self.cut: set[str] = set()  # items truncated on a barge-in: late audio dropped
        self._down: dict[str, tuple[Resampler, np.ndarray]] = {}  # resampler, samples left

    def add(self, item: str, pcm: np.ndarray) -> I16 | None:
        """More of ``item``: its whole 20 ms frames so far at the house rate, or None
        while less than a frame has come."""
        self.received_ms[item] = self.received_ms.get(item, 0) + len(pcm) * 1000 // p.PCM_RATE
        down, rest = self._down.get(item) or (
            Resampler(p.PCM_RATE, HOUSE_RATE),
            np.zeros(0, np.int16),
        )
        pcm = np.concatenate([rest, pcm.astype(np.int16)])
        whole = len(pcm) - len(pcm) % OUT_FRAME
        self._down[item] = (down, pcm[whole:])
        return down.process_int16(pcm[None, :whole])[0] if whole else None

    def flush(self, item: str) -> I16 | None:
        """The end of ``item``: what is left, padded to a frame (None if nothing is)."""
        down, rest = self._down.pop(item, (None, np.zeros(0, np.int16)))
        if down is None or not len(rest) or item in self.cut:
            return None
        pad = np.zeros(OUT_FRAME - len(rest), np.int16)
        return down.process_int16(np.concatenate([rest, pad])[None, :])[0]

    def truncations(self, heard_ms: dict[str, int]) -> list[tuple[str, int]]:
        """A barge-in: each item to cut, and where (what the caller heard of it)."""
        cuts = []
        for item, ms in heard_ms.items():
            if item in self.cut or item not in self.received_ms:
                continue
            self.cut.add(item)
            # The API refuses a cut beyond the audio it sent for the item.
            cuts.append((item, max(0, min(ms, self.received_ms[item]))))
        return cuts
