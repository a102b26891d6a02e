"""A caller's frames at the line's own rate, made house format only when needed.

The voice activity detector examines every frame as the line carried it (it judges
frame power, which the rate does not change), but only recognition needs the house format, and
only while the caller is heard: most of a call's frames are silence or the bot
talking. So the inbound resampler runs on demand. Asked for the newest frame right
after the one before, it continues its stream; after a gap it starts afresh, and
:meth:`lead_in` converts the recent frames the detector needed before it was sure,
so recognition hears the onset as one continuous stream.
"""

from __future__ import annotations

from collections import deque

from media.format import HOUSE_RATE, I16
from media.line_codec import LineCodec


class InboundAudio:
    """``line``: the carrier's codec (None: frames already arrive in the house format)."""

    def __init__(self, line: LineCodec | None, lead_in_frames: int) -> None:
        self.line = line
        self.rate = line.rate if line is not None else HOUSE_RATE
        self._wide = line is not None and line.rate != HOUSE_RATE
        self._recent: deque[I16] = deque(maxlen=lead_in_frames)
        self.frames = 0  # frames added so far
        self._widened = -1  # the number of the last frame made house format

    def narrow(self, payload: bytes) -> I16:
        """One frame as the carrier sent it → samples at the line's rate."""
        assert self.line is not None, "a house-format leg has no line to decode"
        return self.line.narrow(payload)

    def house(self, frame: I16) -> I16:
        """``frame``, the one after those added so far, in the house format."""
        if not self._wide:
            return frame
        assert self.line is not None
        if self._widened != self.frames:  # the stream was not converted up to here
            self.line.restart_inbound()
        self._widened = self.frames + 1
        return self.line.widen(frame)

    def add(self, frame: I16) -> None:
        """``frame`` is done with: it joins the recent frames."""
        self._recent.append(frame)
        self.frames += 1

    def lead_in(self) -> list[I16]:
        """The recent frames in the house format, oldest first, as one stream that
        :meth:`house` continues with the next frame."""
        recent = list(self._recent)
        if not self._wide or not recent:
            return recent
        assert self.line is not None
        self.line.restart_inbound()
        self._widened = self.frames
        return [self.line.widen(f) for f in recent]
