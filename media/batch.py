"""One call of the engine processes a 20 ms tick of many calls at once.

Calls occupy slots of fixed-size arrays; per-call state (resampler history, VAD,
endpointer) lives in those arrays, so there is no per-call Python work at all.
Inbound: carrier codec → 16 kHz house frames → speech probability → turn
events. Outbound: the speech engine's PCM → carrier rate → carrier codec.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from media.endpoint import EndpointConfig, Endpointer
from media.format import HOUSE_RATE, AudioFormatError, frame_samples
from media.line_codec import DECODE, ENCODE, I16, Codec
from media.resample import Band, Resampler
from media.vad import NoiseFloorConfig, NoiseFloorVad

Slots = npt.NDArray[np.intp]


@dataclass
class InboundTick:
    house: I16  # (slots, 320) int16, 16 kHz
    speech_prob: npt.NDArray[np.float32]  # (slots,)
    started: Slots  # slots whose caller started speaking on this frame
    ended: Slots  # slots whose caller's turn ended on this frame


class InboundBatch:
    """Carrier audio of ``capacity`` calls → house format, VAD and end of turn."""

    def __init__(
        self,
        capacity: int,
        codec: Codec = "pcmu",
        rate: int = 8000,
        vad: NoiseFloorConfig | None = None,
        endpoint: EndpointConfig | None = None,
    ) -> None:
        if codec != "l16" and rate != 8000:
            raise AudioFormatError(f"G.711 is 8 kHz, not {rate} Hz")
        self.capacity, self.codec, self.rate = capacity, codec, rate
        self.frame = frame_samples(rate)
        # From the line's band (G.712): a half-band filter, half of whose outputs are copies.
        band: Band = "telephone" if rate == 8000 else "steep"
        self.resampler = (
            Resampler(rate, HOUSE_RATE, capacity, band=band) if rate != HOUSE_RATE else None
        )
        # Examined at the line's rate as it arrives: frame power does not need 16 kHz.
        self.vad = NoiseFloorVad(capacity, vad)
        self.endpointer = Endpointer(capacity, endpoint)

    def reset(self, slot: int) -> None:
        """A new call takes ``slot``: forget the previous call's state."""
        if self.resampler is not None:
            self.resampler.reset(slot)
        self.vad.reset(slot)
        self.endpointer.reset(slot)

    def process(self, payload: npt.NDArray[np.generic], active: Slots | None = None) -> InboundTick:
        """``payload``: (capacity, 160) uint8 G.711 codes, or (capacity, n) int16 for L16."""
        if payload.shape != (self.capacity, self.frame):
            raise AudioFormatError(f"expected ({self.capacity}, {self.frame}), got {payload.shape}")
        pcm = payload if self.codec == "l16" else DECODE[self.codec](payload)
        house = self.resampler.process_int16(pcm) if self.resampler is not None else pcm
        prob = self.vad.process(pcm)
        if active is not None:  # a slot without a call reads silence, whatever it holds
            idle = np.ones(self.capacity, bool)
            idle[active] = False
            prob = np.where(idle, np.float32(0), prob)
        started, ended = self.endpointer.update(prob)
        return InboundTick(house, prob, started, ended)


class OutboundBatch:
    """The speech engine's PCM of ``capacity`` calls → the carrier's codec and rate."""

    def __init__(
        self, capacity: int, in_rate: int = 24_000, codec: Codec = "pcmu", out_rate: int = 8000
    ) -> None:
        if codec != "l16" and out_rate != 8000:
            raise AudioFormatError(f"G.711 is 8 kHz, not {out_rate} Hz")
        self.capacity, self.codec = capacity, codec
        self.frame = frame_samples(in_rate)
        # To the caller's ear: the telephone channel's band (see media.resample).
        band: Band = "telephone" if out_rate == 8000 else "steep"
        self.resampler = (
            Resampler(in_rate, out_rate, capacity, band=band) if in_rate != out_rate else None
        )

    def reset(self, slot: int) -> None:
        if self.resampler is not None:
            self.resampler.reset(slot)

    def process(self, pcm: I16) -> npt.NDArray[np.generic]:
        """(capacity, 480) int16 at 24 kHz → (capacity, 160) uint8 codes (int16 for L16)."""
        if pcm.shape != (self.capacity, self.frame):
            raise AudioFormatError(f"expected ({self.capacity}, {self.frame}), got {pcm.shape}")
        out = self.resampler.process_int16(pcm) if self.resampler is not None else pcm
        return out if self.codec == "l16" else ENCODE[self.codec](out)
