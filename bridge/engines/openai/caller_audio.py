"""The caller's audio on its way to the model, in the format the session takes.

G.711 goes as the carrier sent it; anything else is resampled to the API's 24 kHz
PCM. The current turn's audio is kept, so a reconnect can send it again.
"""

from __future__ import annotations

from collections import deque

from bridge.engines.base import I16
from bridge.engines.openai import protocol as p
from media import g711
from media.format import HOUSE_FRAME, HOUSE_RATE
from media.resample import Resampler

TURN_AUDIO_FRAMES = 1500  # the caller turn kept for a replay after a reconnect (30 s)


class CallerAudio:
    def __init__(self, line: str | None) -> None:
        self.input_format = line if line in ("pcmu", "pcma") else "pcm"
        self._up = Resampler(HOUSE_RATE, p.PCM_RATE)
        self._to_line = Resampler(HOUSE_RATE, 8000, band="telephone")  # to the caller's ear
        self.turn: deque[bytes] = deque(maxlen=TURN_AUDIO_FRAMES)  # oldest dropped first

    def take(self, frame: I16, line: bytes | None) -> bytes:
        """One house frame (``line``: the carrier's own 20 ms) as the session wants it;
        kept as part of the turn."""
        if self.input_format == "pcm":
            data = self._up.process_one(frame).astype("<i2", copy=False).tobytes()
        elif line is not None and len(line) == HOUSE_FRAME // 2:
            data = line  # G.711 as the carrier sent it: no resampling, no re-encoding
        else:
            narrow = self._to_line.process_one(frame)
            enc = g711.ulaw_encode if self.input_format == "pcmu" else g711.alaw_encode
            data = enc(narrow).tobytes()
        self.turn.append(data)
        return data
