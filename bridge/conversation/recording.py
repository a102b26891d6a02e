"""A call's stereo recording on the caller's clock: caller left, bot or agent right.

Legs hand bot frames over ahead of time (Twilio keeps a few buffered), so bot frames
wait in a short queue and each caller frame is written with the next of them.
While the call is in a sensitive state, or a sensitive prompt plays, both sides
are written as silence: nothing said or keyed there is recorded.

Recording is a side job. A disk that is full, or a recordings folder that is missing,
read-only or a file, fails the recording and never the call: the call goes on without
it, and :class:`RecordingsStore` (what ``/readyz`` asks) says the store is failing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from bridge import logs
from bridge.engines.base import I16
from bridge.metrics import RECORDING_FAILURES
from media.format import HOUSE_RATE
from media.recorder import StereoRecorder

log = logs.get_logger(__name__)

AHEAD = 250  # bot frames (5 s) at most waiting for their caller frame
SAFE = re.compile(r"[A-Za-z0-9_-]{1,128}")
MIN_FREE_BYTES = 64 * 2**20  # below this the disk is as good as full: a call is ~2 MB/min
FAILING_FOR_S = 60.0  # a call's failed recording keeps the store "failing" this long


def recording_path(data_dir: Path, call_id: str) -> Path:
    """Where a call's recording lives; an id that is no plain name (a SIP Call-ID may hold
    ``@``, dots or slashes) is hashed, so no id can reach outside the folder."""
    name = call_id if SAFE.fullmatch(call_id) else hashlib.sha256(call_id.encode()).hexdigest()
    return data_dir / "recordings" / f"{name}.wav"


class RecordingsStore:
    """The folder calls are recorded in, and whether recording there works."""

    def __init__(self, folder: Path, enabled: bool = True) -> None:
        self.folder, self.enabled = folder, enabled
        self._failure: tuple[float, str] | None = None

    def path_for(self, call_id: str) -> Path | None:
        return recording_path(self.folder.parent, call_id) if self.enabled else None

    def failed(self, reason: str) -> None:
        """A call's recording failed (counted; the store reads as failing for a while)."""
        RECORDING_FAILURES.inc()
        self._failure = (time.monotonic(), reason)

    def check(self) -> str:
        """ "ok", or what is wrong: the folder cannot be written, the disk is (nearly)
        full, or a call's recording failed lately. Blocking: run it in a thread."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / f".probe-{os.getpid()}"
            probe.write_bytes(b"\0" * 4096)
            probe.unlink()
            free = shutil.disk_usage(self.folder).free
        except OSError as exc:
            return f"unwritable: {exc.strerror or type(exc).__name__}"
        if free < MIN_FREE_BYTES:
            return f"low disk: {free // 2**20} MB free"
        if self._failure is not None and time.monotonic() - self._failure[0] < FAILING_FOR_S:
            return f"failing: {self._failure[1]}"
        return "ok"


class CallRecording:
    def __init__(
        self,
        path: Path,
        rate: int = HOUSE_RATE,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        """``rate``: both sides' frames (a carrier call is recorded as its line carried
        it). ``on_failure`` hears, once, why the recording stopped."""
        self.path = path
        self.failure: str | None = None
        self._on_failure = on_failure
        self._bot: deque[I16] = deque(maxlen=AHEAD)
        self._rec: StereoRecorder | None = None
        try:
            self._rec = StereoRecorder(path, rate)
        except OSError as exc:
            self._fail(exc)

    def bot_frame(self, frame: I16) -> None:
        if self._rec is not None:
            self._bot.append(frame)

    def caller_frame(self, frame: I16, private: bool) -> None:
        if self._rec is None:
            return
        bot = self._bot.popleft() if self._bot else None
        try:
            self._rec.write(None if private else frame, None if private else bot)
        except OSError as exc:
            self._fail(exc)

    def close(self) -> None:
        if self._rec is None:
            return
        try:
            self._rec.close()
        except OSError as exc:
            self._fail(exc)
        self._rec = None

    def _fail(self, exc: OSError) -> None:
        """Stop recording; the call goes on."""
        rec, self._rec = self._rec, None
        if rec is not None:
            with contextlib.suppress(OSError):  # the disk that failed the write may fail it too
                rec.close()
        self._bot.clear()
        self.failure = f"{type(exc).__name__}: {exc.strerror or exc}"
        log.warning("recording failed; the call goes on without it", path=str(self.path),
                    error=self.failure)  # fmt: skip
        if self._on_failure is not None:
            self._on_failure(self.failure)
