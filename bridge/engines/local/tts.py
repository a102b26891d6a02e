"""Speech synthesis with hibari-tts: a neural English voice that ships in the wheel.

Text is spoken a sentence at a time so the first audio is ready after the first
sentence, not the whole prompt; sentences are cached, since most prompts of a
flow are fixed and recur on every call. Output is house-format PCM (16 kHz int16).

hibari starts every sentence with 240-340 ms of silence before its own fade-in: a
caller would wait that long for a reply already playing. It is cut to 20 ms before
the voice's onset; the ~400 ms each sentence ends with still parts one sentence from
the next.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from functools import cache
from typing import Any

import numpy as np

from media.format import HOUSE_RATE, I16
from media.resample import resample_signal

SENTENCE = re.compile(r"(?<=[.!?])\s+")
ONSET = round(32768 * 10 ** (-50 / 20))  # -50 dBFS: where the voice's fade-in begins
LEAD = HOUSE_RATE * 20 // 1000  # kept before the onset
RAMP = HOUSE_RATE * 5 // 1000  # from the cut, so it never clicks


@cache
def _model() -> Any:
    from hibari import Hibari

    return Hibari()


def without_lead(pcm: I16) -> I16:
    """``pcm`` from 20 ms before the voice's onset, ramped in from the cut."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > ONSET)
    start = max(0, int(loud[0]) - LEAD) if len(loud) else 0
    if start == 0:
        return pcm
    out = pcm[start:].copy()
    n = min(RAMP, len(out))
    out[:n] = (out[:n] * np.linspace(0.0, 1.0, n, endpoint=False)).astype(np.int16)
    return out


def sentences(text: str) -> list[str]:
    return [s for s in (p.strip() for p in SENTENCE.split(text)) if s]


class Synthesizer:
    """Thread-safe; one per process is enough (the model is loaded once)."""

    def __init__(self, speed: float = 1.0, cache_size: int = 512) -> None:
        self.speed = speed
        self._cache: OrderedDict[str, I16] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def say(self, text: str) -> I16:
        """All of ``text`` at once (a caller's line in tests and demos)."""
        parts = [self.sentence(s) for s in sentences(text)] or [np.zeros(0, np.int16)]
        return np.concatenate(parts)

    def warm_up(self) -> None:
        self.sentence("Hello.")

    def sentence(self, text: str) -> I16:
        with self._lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        from hibari import SAMPLE_RATE

        audio = np.asarray(_model()(text, speed=self.speed, seed=1), dtype=np.float32)
        peak = float(np.abs(audio).max()) or 1.0
        pcm = without_lead(
            resample_signal(audio * (0.7 * 32767 / max(peak, 0.7)), SAMPLE_RATE, HOUSE_RATE)
        )
        with self._lock:
            self._cache[text] = pcm
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return pcm
