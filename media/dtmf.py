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

from media.format import HOUSE_RATE, frame_samples

LOW = (697.0, 770.0, 852.0, 941.0)
HIGH = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")


class DtmfDetector:
    """Keys in one direction of one call's audio, fed frame by frame at ``rate``: the
    house format (16 kHz) or the line's own rate (8 kHz G.711 decoded to PCM)."""

    def __init__(
        self,
        rate: int = HOUSE_RATE,
        min_level_db: float = 45.0,  # a tone's power, dB re 1 (int16 scale): about -45 dBm0
        max_twist_db: float = 8.0,
        max_reverse_twist_db: float = 4.0,
        min_tone_fraction: float = 0.7,
        group_dominance_db: float = 6.0,
    ) -> None:
        self.rate = rate
        self.hop = frame_samples(rate)  # refuses a rate the house does not carry
        self.window = 2 * self.hop
        n = np.arange(self.window)
        self._w = np.hanning(self.window)
        phase = 2 * np.pi * np.array(LOW + HIGH)[None, :] * n[:, None] / rate
        # Real and imaginary parts side by side: one real matrix product per window.
        self._basis = np.concatenate([np.cos(phase), np.sin(phase)], axis=1)
        self._scale = 2.0 / self._w.sum() ** 2  # |X|^2 -> power of a sinusoid
        self._w2 = float(np.sum(self._w**2))
        self.min_level = 10 ** (min_level_db / 10)
        self.max_twist = 10 ** (max_twist_db / 10)
        self.max_reverse_twist = 10 ** (max_reverse_twist_db / 10)
        self.min_fraction = min_tone_fraction
        self.dominance = 10 ** (group_dominance_db / 10)
        self._buf = np.zeros(self.window, np.float64)  # the last two frames
        self._candidate: str | None = None
        self._reported: str | None = None

    def classify(self, window: npt.NDArray[np.number]) -> str | None:
        """The digit one window (``self.window`` samples) holds, or None."""
        xw = window * self._w
        total = float(xw @ xw) / self._w2  # the window's power
        if total < self.min_level:  # quieter than one tone must be: most frames stop here
            return None
        re_im = xw @ self._basis
        power = (re_im[:8] ** 2 + re_im[8:] ** 2) * self._scale
        low, high = power[:4], power[4:]
        li, hi = int(np.argmax(low)), int(np.argmax(high))
        pl, ph = low[li], high[hi]
        if pl < self.min_level or ph < self.min_level:
            return None
        if np.sort(low)[-2] * self.dominance > pl or np.sort(high)[-2] * self.dominance > ph:
            return None
        if ph > pl * self.max_reverse_twist or pl > ph * self.max_twist:
            return None
        if (pl + ph) < self.min_fraction * total:  # speech and noise spread their power
            return None
        return KEYS[li][hi]

    def feed(self, frame: npt.NDArray[np.integer]) -> str | None:
        """The next 20 ms frame (``hop`` samples); a key the moment it is recognised: in
        two windows running (a tone of 40 ms or more), and again only after a release."""
        if len(frame) != self.hop:
            raise ValueError(f"frame of {len(frame)} samples, expected {self.hop}")
        self._buf[: self.hop] = self._buf[self.hop :]
        self._buf[self.hop :] = frame
        digit = self.classify(self._buf)
        out = None
        if digit is not None and digit == self._candidate and digit != self._reported:
            out = self._reported = digit
        if digit is None and self._candidate is None:
            self._reported = None  # two quiet windows: the key was released
        self._candidate = digit
        return out

    @property
    def in_tone(self) -> bool:
        """The last window held a key's tone: a frame the caller's speech detection and
        recognition are better off not hearing."""
        return self._candidate is not None

    def reset(self) -> None:
        """Forget the audio so far (the stream was interrupted)."""
        self._buf[:] = 0
        self._candidate = self._reported = None
