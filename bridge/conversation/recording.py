"""A call's stereo recording on the caller's clock: caller left, bot or agent right.

Legs hand bot frames over ahead of time (Twilio keeps a few buffered), so bot frames
wait in a short queue and each caller frame is written with the next of them.
While the call is in a sensitive state, or a sensitive prompt plays, both sides
are written as silence: nothing said or keyed there is recorded.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from pathlib import Path

from bridge.engines.base import I16
from media.format import HOUSE_RATE
from media.recorder import StereoRecorder

AHEAD = 250  # bot frames (5 s) at most waiting for their caller frame
SAFE = re.compile(r"[A-Za-z0-9_-]{1,128}")


def recording_path(data_dir: Path, call_id: str) -> Path:
    """Where a call's recording lives; an id that is no plain name (a SIP Call-ID may hold
    ``@``, dots or slashes) is hashed, so no id can reach outside the folder."""
    name = call_id if SAFE.fullmatch(call_id) else hashlib.sha256(call_id.encode()).hexdigest()
    return data_dir / "recordings" / f"{name}.wav"


class CallRecording:
    def __init__(self, path: Path, rate: int = HOUSE_RATE) -> None:
        """``rate``: both sides' frames (a carrier call is recorded as its line carried it)."""
        self.path = path
        self._rec = StereoRecorder(path, rate)
        self._bot: deque[I16] = deque(maxlen=AHEAD)

    def bot_frame(self, frame: I16) -> None:
        self._bot.append(frame)

    def caller_frame(self, frame: I16, private: bool) -> None:
        bot = self._bot.popleft() if self._bot else None
        self._rec.write(None if private else frame, None if private else bot)

    def close(self) -> None:
        self._rec.close()
