"""Voice activity: a speech probability for every 20 ms frame, for one call or many.

Candidates were measured by ``bench/vad.py`` (table in ``bench/README.md``). The
product uses :class:`NoiseFloorVad`: frame power against the line's own noise
floor. It is the one candidate that still hears the caller over babble (other
people talking: frame F1 0.91 at 10 dB SNR, where WebRTC and Silero call the whole
room speech), holds 0.95 in 10 dB white noise, and costs a few µs a frame for one
call and a fraction of one per call in a batch. WebRTC's GMM detector stays as a
candidate; it is the better choice only on a quiet line with loud non-speech sounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import _webrtcvad  # webrtcvad-wheels' extension module
import numpy as np
import numpy.typing as npt

from media.format import HOUSE_RATE, I16, AudioFormatError, frame_samples
from media.g711 import audioop

F32 = npt.NDArray[np.float32]
_ONE, _HALF, _ZERO = (np.full(1, p, np.float32) for p in (1.0, 0.5, 0.0))
_ONE.flags.writeable = _HALF.flags.writeable = _ZERO.flags.writeable = False


class WebRtcVad:
    """WebRTC VAD for ``slots`` independent streams; ``mode`` 0 (lenient) to 3 (strict).

    ``rate`` is the rate of the frames given: 8 kHz G.711 audio is examined as it
    arrives, before resampling. WebRTC's detector works at 8 kHz internally, so this
    decides the same and skips its own downsampling (~30% cheaper per frame).
    """

    RATES = (8000, 16000, 32000, 48000)

    def __init__(self, slots: int = 1, mode: int = 2, rate: int = HOUSE_RATE) -> None:
        if rate not in self.RATES:
            raise AudioFormatError(f"WebRTC VAD takes {self.RATES} Hz, not {rate}")
        self.mode, self.rate, self.slots = mode, rate, slots
        self.frame = frame_samples(rate)
        self._vads = [self._new() for _ in range(slots)]

    def _new(self) -> object:
        # The extension's own handle: webrtcvad.Vad.is_speech only adds a length
        # check in Python, which costs a third of the call at thousands of calls.
        handle = _webrtcvad.create()
        _webrtcvad.init(handle)
        _webrtcvad.set_mode(handle, self.mode)
        return handle

    def reset(self, slot: int) -> None:
        self._vads[slot] = self._new()

    def process(self, frames: I16, active: npt.NDArray[np.intp] | None = None) -> F32:
        """``(slots, 20 ms)`` int16 frames at ``rate`` → ``(slots,)`` speech probability (0 or 1).

        Only the ``active`` slots are examined (all when None); the others read 0."""
        if frames.shape != (self.slots, self.frame):
            raise AudioFormatError(
                f"expected ({self.slots}, {self.frame}) frames, got {frames.shape}"
            )
        if self.slots == 1 and active is None:  # one call: no slicing, no output array
            data = frames.astype("<i2", copy=False).tobytes()
            p = _webrtcvad.process(self._vads[0], self.rate, data, self.frame)
            return _ONE if p else _ZERO
        data = np.ascontiguousarray(frames, dtype="<i2").tobytes()
        step, n, rate = self.frame * 2, self.frame, self.rate
        out = np.zeros(self.slots, dtype=np.float32)
        vads, process = self._vads, _webrtcvad.process
        for i in range(self.slots) if active is None else active.tolist():
            out[i] = process(vads[i], rate, data[i * step : (i + 1) * step], n)
        return out


@dataclass(frozen=True)
class NoiseFloorConfig:
    """How far above the line's noise a frame must stand to be speech.

    Tuned on a development set of other phrases and voices than ``bench/vad.py``'s
    (its table in ``bench/README.md``)."""

    on_db: float = 7.0  # speech starts this far above the floor (power of the last `window` frames)
    off_db: float = 2.0  # and, once started, lasts while the frames stay this far above it
    hold_frames: int = 5  # then 100 ms more: word endings fall under the noise
    window: int = 2  # frames averaged for the decision: single babble peaks do not start speech
    quantile: float = 0.25  # the floor: this quantile of the line's frame levels, speech and all
    step_db: float = 0.3  # how far the floor moves per frame (up: quantile * step, down: the rest)
    warm_frames: int = 50  # the first second after the line wakes: the floor finds the noise fast
    warm_step_db: float = 4.0
    min_db: float = 20.0  # frames below this (-70 dBFS) are digital silence, not the line's noise


class NoiseFloorVad:
    """Speech where a frame's power stands clear of the line's own noise floor.

    The floor is a running quantile of every frame's level in dB (stochastic quantile
    tracking: up by ``q·step`` on a louder frame, down by ``(1-q)·step`` on a quieter
    one), so it settles on the noise between words and barely moves during a sentence:
    at a quarter of the frames the floor sits in the noise even when the caller talks
    most of the time. Unlike WebRTC's model, which calls babble (other people talking)
    speech throughout, this hears the caller as long as they are louder than the room.
    What it cannot tell apart is a loud non-speech sound (a door, music on hold).

    Vectorised over ``slots``; one call has a scalar path with the same arithmetic.
    Any rate: the decision uses frame power only. Probability: 0 or 1 outside a
    ramp of ±2 dB around ``on_db``; held frames read 0.5 (speech at the endpointer's
    threshold).
    """

    def __init__(self, slots: int = 1, config: NoiseFloorConfig | None = None) -> None:
        self.slots = slots
        self.config = c = config or NoiseFloorConfig()
        self._power = np.zeros((slots, c.window), np.float64)  # the last frames' mean square
        self._next = 0  # ring position in _power (all slots of a batch move together)
        self.floor_db = np.full(slots, np.nan)  # NaN until a stream's first frame
        self._woken = np.zeros(slots, np.int64)  # frames above digital silence so far
        self._hold = np.zeros(slots, np.int64)
        self._one = _OneStream(c) if slots == 1 else None

    def reset(self, slot: int) -> None:
        if self._one is not None:
            self._one = _OneStream(self.config)
            return
        self._power[slot] = 0
        self.floor_db[slot] = np.nan
        self._woken[slot] = self._hold[slot] = 0

    def process(self, frames: I16) -> F32:
        """``(slots, n)`` int16 frames (any rate, any length) → ``(slots,)`` speech probability."""
        if frames.ndim != 2 or frames.shape[0] != self.slots:
            raise AudioFormatError(f"expected ({self.slots}, n) frames, got {frames.shape}")
        if self._one is not None:
            return self._one.process(frames[0])
        c = self.config
        x = frames.astype(np.float64)  # int16 squares and their sums are exact in float64
        # audioop.rms's integer RMS, squared: the one-call path computes it in C.
        power = np.floor(np.sqrt(np.einsum("ij,ij->i", x, x) / x.shape[1])) ** 2
        self._power[:, self._next] = power
        self._next = (self._next + 1) % c.window
        level = 10 * np.log10(power + 1.0)
        level_win = 10 * np.log10(self._power.mean(axis=1) + 1.0)
        seen = np.maximum(level, c.min_db)
        fresh = np.isnan(self.floor_db)
        self.floor_db[fresh] = seen[fresh]
        step = np.where(self._woken < c.warm_frames, c.warm_step_db, c.step_db)
        self.floor_db += step * np.where(seen < self.floor_db, c.quantile - 1, c.quantile)
        self._woken += level >= c.min_db
        above = level_win - np.maximum(self.floor_db, c.min_db)
        held = self._hold > 0
        speech = (above >= c.on_db) | (held & (above >= c.off_db))
        self._hold = np.where(speech, c.hold_frames, np.maximum(self._hold - 1, 0))
        prob = np.clip((above - c.on_db) / 4.0 + 0.5, 0.0, 1.0)
        return np.where((speech | held) & (prob < 0.5), 0.5, prob).astype(np.float32)


class _OneStream:
    """:class:`NoiseFloorVad` for one call on Python floats (≈3 µs a frame against ≈40)."""

    def __init__(self, config: NoiseFloorConfig) -> None:
        self.c = config
        self.power = [0.0] * config.window
        self.next = 0
        self.floor_db = math.nan
        self.woken = self.hold = 0

    def process(self, frame: I16) -> F32:
        c = self.c
        power = float(audioop.rms(frame.tobytes(), 2) ** 2)
        self.power[self.next] = power
        self.next = (self.next + 1) % c.window
        level = 10 * math.log10(power + 1.0)
        level_win = 10 * math.log10(sum(self.power) / c.window + 1.0)
        seen = max(level, c.min_db)
        if self.floor_db != self.floor_db:  # NaN: the first frame
            self.floor_db = seen
        step = c.warm_step_db if self.woken < c.warm_frames else c.step_db
        self.floor_db += step * (c.quantile - 1 if seen < self.floor_db else c.quantile)
        self.woken += level >= c.min_db
        above = level_win - max(self.floor_db, c.min_db)
        held = self.hold > 0
        speech = above >= c.on_db or (held and above >= c.off_db)
        self.hold = c.hold_frames if speech else max(self.hold - 1, 0)
        prob = min(1.0, max(0.0, (above - c.on_db) / 4.0 + 0.5))
        if (speech or held) and prob < 0.5:
            return _HALF
        return _ZERO if prob == 0.0 else _ONE if prob == 1.0 else np.full(1, prob, np.float32)
