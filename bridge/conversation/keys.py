"""Keys a caller presses that reach the bridge only as tones in their audio.

Most carriers report keys out of band (RFC 4733 events, SIP INFO, Twilio's and
Vonage's ``dtmf`` messages); some trunks and PBXs only pass the tones through. So
every call listens for tones (:class:`media.dtmf.DtmfDetector`, a few microseconds
for a quiet frame) until the first key arrives out of band: from then on that line
reports its keys itself, and a key the tones already gave is not taken twice.
While a tone sounds, the caller's audio is not speech: it does not barge in or reach
recognition.
"""

from __future__ import annotations

from media.dtmf import DtmfDetector
from media.format import I16

# A key heard in-band and then reported out of band within this many frames (500 ms)
# is the same press.
SAME_PRESS_FRAMES = 25
# Frames after a tone still taken as the tone: the detector's 40 ms window lets go of a
# tone a frame before the tone's own tail (and the line's filters ring a little) is out.
TAIL_FRAMES = 3


class InbandKeys:
    def __init__(self, rate: int) -> None:
        self._detector: DtmfDetector | None = DtmfDetector(rate)
        self._last: tuple[str, int] | None = None  # the last key heard, at which frame
        self._tail = 0  # frames still to be taken as tone

    def feed(self, frame: I16, at: int) -> str | None:
        """The key that ``frame`` (the caller's ``at``-th) completes, if any."""
        if self._detector is None:
            return None
        key = self._detector.feed(frame)
        if key is not None:
            self._last = (key, at)
        if self._detector.in_tone:
            self._tail = TAIL_FRAMES + 1
        self._tail = max(0, self._tail - 1)
        return key

    @property
    def in_tone(self) -> bool:
        """The caller's audio is (the end of) a key's tone right now."""
        return self._detector is not None and (self._detector.in_tone or self._tail > 0)

    def out_of_band(self, key: str, at: int) -> bool:
        """An out-of-band key arrived: stop listening for tones; True when this press
        was already heard as a tone."""
        self._detector = None
        last, self._last = self._last, None
        return last is not None and last[0] == key and at - last[1] <= SAME_PRESS_FRAMES
