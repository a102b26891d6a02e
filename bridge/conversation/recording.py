"""A call's stereo recording on the caller's clock: caller left, bot or agent right.

The samples are mixed in ``media.recorder`` (bot frames handed over ahead of time
wait for their caller frame; a sensitive state or prompt is silence on both sides)
and written to disk off the event loop by ``bridge.store.wav_files``.

Recording is a side job. A disk that is full, or a recordings folder that is missing,
read-only or a file, fails the recording and never the call: the call goes on without
it, and :class:`RecordingsStore` (what ``/readyz`` asks) says the store is failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bridge import logs
from bridge.engines.base import I16
from bridge.metrics import RECORDING_FAILURES
from bridge.store.wav_files import WavWriter
from media.format import HOUSE_RATE
from media.recorder import CallMix

log = logs.get_logger(__name__)

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
        if self._failure is not None:
            since, reason = self._failure
            # A full disk with room again is over (the probe wrote, the space is there);
            # any other failure shows for a while, as nothing here can test for it.
            if os.strerror(errno.ENOSPC) not in reason and time.monotonic() - since < FAILING_FOR_S:
                return f"failing: {reason}"
        return "ok"


class CallRecording:
    """One call's recording, written by :class:`~bridge.store.wav_files.WavWriter`'s thread:
    the loop only copies frames into a block and hands it over once a second."""

    def __init__(
        self,
        path: Path,
        rate: int = HOUSE_RATE,
        on_failure: Callable[[str], None] | None = None,
        paced: bool = True,
    ) -> None:
        """``rate``: both sides' frames (a carrier call is recorded as its line carried
        it). ``on_failure`` hears, once and on the loop, why the recording stopped.
        ``paced``: the call runs in real time, so a disk that falls behind it fails the
        recording; a call on a virtual clock (a test, a benchmark) makes audio as fast
        as it can, so it waits for the disk instead."""
        self.path = path
        self.failure: str | None = None
        self._on_failure = on_failure
        self._mix = CallMix(rate)
        self._loop: asyncio.AbstractEventLoop | None = None
        with contextlib.suppress(RuntimeError):  # no loop (a tool): failures are told in place
            self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._writer: WavWriter | None = None
        self._written: WavWriter | None = None  # kept after close(), for wait_closed()
        try:
            self._writer = self._written = WavWriter(
                path, rate, 2, self._failed, wait_when_full=not paced
            )
        except OSError as exc:  # opened here: an unwritable folder is told at once
            self._fail(exc)

    def bot_frame(self, frame: I16) -> None:
        if self._writer is not None:
            self._mix.bot_frame(frame)

    def caller_frame(self, frame: I16, private: bool) -> None:
        if self._writer is None:
            return
        block = self._mix.caller_frame(frame, private)
        if block is not None:
            self._writer.put(block)

    def close(self) -> None:
        """Hand the rest to the writer and return; the file is complete a moment later
        (:meth:`wait_closed`), and a failure then is still told."""
        if self._writer is not None:
            self._writer.close(self._mix.take())
            self._writer = None

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Block until the file is complete (tests, tools); False if ``timeout`` ran out."""
        return self._written is None or self._written.wait(timeout)

    def _failed(self, exc: OSError) -> None:
        """From the writer's thread: tell the loop."""
        if self._loop is None or threading.get_ident() == self._loop_thread:
            self._fail(exc)
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody left to tell
            self._loop.call_soon_threadsafe(self._fail, exc)

    def _fail(self, exc: OSError) -> None:
        """Stop recording; the call goes on."""
        self._writer = None
        self._mix.take()
        self.failure = f"{type(exc).__name__}: {exc.strerror or exc}"
        log.warning(
            "recording failed; the call goes on without it", path=str(self.path), error=self.failure
        )
        if self._on_failure is not None:
            self._on_failure(self.failure)
