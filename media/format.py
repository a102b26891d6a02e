"""The house audio format and the checks every carrier's audio passes on the way in."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I16 = npt.NDArray[np.int16]
"""Samples as the house keeps them: signed 16-bit PCM."""

HOUSE_RATE = 16_000
"""Signed 16-bit mono PCM at 16 kHz, in 20 ms frames, everywhere inside the bridge."""
FRAME_MS = 20
SUPPORTED_RATES = (8_000, 16_000, 24_000, 48_000)


def frame_samples(rate: int, ms: int = FRAME_MS) -> int:
    """Samples in one ``ms`` frame at ``rate`` (20 ms at 16 kHz: 320)."""
    if rate not in SUPPORTED_RATES:
        raise AudioFormatError(f"unsupported sample rate {rate} Hz (supported: {SUPPORTED_RATES})")
    return rate * ms // 1000


HOUSE_FRAME = frame_samples(HOUSE_RATE)


class AudioFormatError(ValueError):
    """Audio of the wrong rate, length or encoding: reject it, log it, keep the call."""
