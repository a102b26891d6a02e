"""One call's audio as its carrier sends it, to and from the house format.

Inbound is converted frame by frame as it arrives (latency matters). Outbound is
converted a whole chunk of bot speech at a time, when playout reaches the chunk,
not on every 20 ms tick: one matrix product and one codec pass per sentence
instead of per frame, a large share of the per-call media cost at scale.
The outbound resampler's history carries across chunks, so an utterance split
into sentences has no seams; :meth:`LineCodec.restart_outbound` forgets it after
a barge-in.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from media import g711
from media.format import HOUSE_RATE, I16, AudioFormatError, frame_samples
from media.resample import Band, Resampler

Codec = Literal["pcmu", "pcma", "l16"]

# Whole arrays (a batch of calls) by table lookup; one call's bytes go through audioop.
DECODE = {"pcmu": g711.ulaw_decode, "pcma": g711.alaw_decode}
ENCODE = {"pcmu": g711.ulaw_encode, "pcma": g711.alaw_encode}


class LineCodec:
    """``codec`` at ``rate`` (G.711 is 8 kHz; L16 is little-endian, as Vonage sends it)."""

    def __init__(self, codec: Codec, rate: int = 8000) -> None:
        if codec not in ("pcmu", "pcma", "l16"):
            raise AudioFormatError(f"unknown codec {codec!r}")
        if codec != "l16" and rate != 8000:
            raise AudioFormatError(f"G.711 is 8 kHz, not {rate} Hz")
        self.codec, self.rate = codec, rate
        self.samples = frame_samples(rate)
        self.frame_bytes = self.samples * (2 if codec == "l16" else 1)
        band: Band = "telephone" if rate == 8000 else "steep"  # the line's own band
        self._up = Resampler(rate, HOUSE_RATE, band=band) if rate != HOUSE_RATE else None
        self._down = Resampler(HOUSE_RATE, rate, band=band) if rate != HOUSE_RATE else None

    def decode(self, payload: bytes) -> I16:
        """One 20 ms frame from the line → one house frame."""
        if len(payload) != self.frame_bytes:
            raise AudioFormatError(f"expected {self.frame_bytes} bytes, got {len(payload)}")
        return self.widen(self.narrow(payload))

    def narrow(self, payload: bytes) -> I16:
        """Whole 20 ms frames from the line → 16-bit samples at the line's own rate."""
        if not payload or len(payload) % self.frame_bytes:
            raise AudioFormatError(f"expected {self.frame_bytes} bytes a frame, got {len(payload)}")
        if self.codec == "l16":
            return np.frombuffer(payload, dtype="<i2").astype(np.int16)
        return g711.decode_bytes(self.codec, payload)

    def widen(self, pcm: I16) -> I16:
        """One :meth:`narrow` frame → one house frame, continuing the inbound stream."""
        return self._up.process_one(pcm) if self._up is not None else pcm

    def restart_inbound(self) -> None:
        """The next :meth:`widen` frame does not follow the last one (frames were skipped)."""
        if self._up is not None:
            self._up.reset()

    def encode(self, house: I16) -> bytes:
        """Whole house frames (any number) → the same duration in the line's encoding."""
        if len(house) % frame_samples(HOUSE_RATE):
            raise AudioFormatError(f"{len(house)} samples is not a whole number of frames")
        pcm = self._down.process_int16(house[None, :])[0] if self._down is not None else house
        if self.codec == "l16":
            return pcm.astype("<i2", copy=False).tobytes()
        return g711.encode_bytes(self.codec, pcm)

    def restart_outbound(self) -> None:
        """The queued bot audio was dropped: the next chunk does not continue it."""
        if self._down is not None:
            self._down.reset()
