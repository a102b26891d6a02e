"""In-band DTMF detection, for carriers that send key presses as tones in the audio.

A Goertzel-style filter bank (the eight DTMF frequencies, evaluated as a windowed
DFT so every window is one matrix product) over a 40 ms window hopping 20 ms.
A window holds a digit when one low and one high tone dominate their groups, the
twist between them is within ITU-T Q.24 limits, and the two tones carry most of
the window's power (speech and noise do not). A digit is reported once, when it
has been present in two consecutive windows, and again only after a gap.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from media.format import FRAME_MS

LOW = (697.0, 770.0, 852.0, 941.0)
HIGH = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")


class DtmfDetector:
    def __init__(
        self,
        rate: int,
        min_level_db: float = 45.0,  # a tone's power, dB re 1 (int16 scale): about -45 dBm0
        max_twist_db: float = 8.0,
        max_reverse_twist_db: float = 4.0,
        min_tone_fraction: float = 0.7,
        group_dominance_db: float = 6.0,
    ) -> None:
        self.rate = rate
        self.hop = rate * FRAME_MS // 1000
        self.window = 2 * self.hop
        n = np.arange(self.window)
        w = np.hanning(self.window)
        freqs = np.array(LOW + HIGH)
        self._basis = w[:, None] * np.exp(-2j * np.pi * freqs[None, :] * n[:, None] / rate)
        self._scale = 2.0 / w.sum() ** 2  # |X|^2 -> power of a sinusoid
        self._w2 = float(np.mean(w**2))
        self.min_level = 10 ** (min_level_db / 10)
        self.max_twist = 10 ** (max_twist_db / 10)
        self.max_reverse_twist = 10 ** (max_reverse_twist_db / 10)
        self.min_fraction = min_tone_fraction
        self.dominance = 10 ** (group_dominance_db / 10)
        self._prev = np.zeros(self.hop, np.float64)
        self._candidate: str | None = None
        self._reported: str | None = None

    def classify(self, window: npt.NDArray[np.floating]) -> str | None:
        """The digit one window holds, or None."""
        x = window.astype(np.float64)
        power = np.abs(x @ self._basis) ** 2 * self._scale
        low, high = power[:4], power[4:]
        li, hi = int(np.argmax(low)), int(np.argmax(high))
        pl, ph = low[li], high[hi]
        if pl < self.min_level or ph < self.min_level:
            return None
        if np.sort(low)[-2] * self.dominance > pl or np.sort(high)[-2] * self.dominance > ph:
            return None
        if ph > pl * self.max_reverse_twist or pl > ph * self.max_twist:
            return None
        total = float(np.mean((x * np.hanning(len(x))) ** 2)) / self._w2
        if (pl + ph) < self.min_fraction * total:
            return None
        return KEYS[li][hi]

    def feed(self, frame: npt.NDArray[np.integer]) -> str | None:
        """One 20 ms frame at ``rate``; returns a digit the moment it is recognised."""
        if len(frame) != self.hop:
            raise ValueError(f"frame of {len(frame)} samples, expected {self.hop}")
        cur = frame.astype(np.float64)
        digit = self.classify(np.concatenate([self._prev, cur]))
        self._prev = cur
        out = None
        if digit is not None and digit == self._candidate and digit != self._reported:
            out = self._reported = digit
        if digit is None and self._candidate is None:
            self._reported = None  # two quiet windows: the key was released
        self._candidate = digit
        return out
