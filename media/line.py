"""What a telephone line does to audio: 8 kHz G.711 mu-law, both ways."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from media import g711
from media.format import HOUSE_RATE
from media.resample import resample_signal


def phone_line(pcm: npt.NDArray[np.int16], rate: int = HOUSE_RATE) -> npt.NDArray[np.int16]:
    """``pcm`` at ``rate`` through an 8 kHz mu-law line and back to ``rate``."""
    narrow = resample_signal(pcm, rate, 8000)
    return resample_signal(g711.ulaw_decode(g711.ulaw_encode(narrow)), 8000, rate)
