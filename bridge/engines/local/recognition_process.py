"""The bridge's end of the recognition processes (:mod:`.recognition_worker`).

A :class:`Channel` is a pair of pipes to one process. Commands leave through a
writer thread, so the event loop never blocks on a full pipe when a process falls
behind; answers come back through a reader thread that settles
:class:`concurrent.futures.Future` objects in the order they were asked, which any
event loop (or plain thread) can wait on. A process that dies, or says a command
failed, marks its channel :attr:`Channel.failed`; every question in flight fails.

:class:`Template` is the warmed process the bridge starts; :meth:`Template.fork`
gives each call's :class:`RecognitionProcess` a process of its own, forked from it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from queue import SimpleQueue
from typing import Any

from bridge import logs
from bridge.engines.local.recognition_worker import receive, send

log = logs.get_logger(__name__)
MODULE = "bridge.engines.local.recognition_worker"
ROOT = Path(__file__).resolve().parents[3]  # holds the bridge package
STOP_GRACE_S = 2.0


class RecognitionFailed(RuntimeError):
    pass


class Channel:
    def __init__(self, commands: int, answers: int, name: str) -> None:
        self.name = name
        self._out = os.fdopen(commands, "wb")
        self._in = os.fdopen(answers, "rb")
        self._outbox: SimpleQueue[tuple[Any, ...] | None] = SimpleQueue()
        self._waiting: deque[Future[Any]] = deque()
        self._lock = threading.Lock()  # keeps questions and their futures in one order
        self.failed: str | None = None
        self._closing = False
        self.ended = threading.Event()  # the process's end of the pipes is closed
        for target, part in ((self._write, "writer"), (self._read, "reader")):
            threading.Thread(target=target, name=f"{name}-{part}", daemon=True).start()

    def post(self, *command: Any) -> None:
        """A command that is not answered (``begin``, ``feed``)."""
        self._outbox.put(command)

    def ask(self, *command: Any) -> Future[Any]:
        """A command that is answered; the future holds the answer."""
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()  # a waiter that gives up cannot cancel it
        with self._lock:
            if self.failed is not None:
                future.set_exception(RecognitionFailed(self.failed))
                return future
            self._waiting.append(future)
            self._outbox.put(command)
        return future

    def close(self) -> None:
        """No more commands: the process ends when it has served the ones sent."""
        self._closing = True
        self._outbox.put(None)

    def _write(self) -> None:
        try:
            while (command := self._outbox.get()) is not None:
                send(self._out, command)
        except (OSError, ValueError) as exc:  # the process is gone; the reader says why
            log.debug("recognition process stopped reading", name=self.name, error=str(exc))
        finally:
            with contextlib.suppress(OSError):
                self._out.close()

    def _read(self) -> None:
        try:
            while (answer := receive(self._in)) is not None:
                kind, value = answer
                if kind == "failed":
                    self._fail(value)
                    continue
                with self._lock:
                    future = self._waiting.popleft()
                if kind == "ok":
                    future.set_result(value)
                else:
                    future.set_exception(RecognitionFailed(value))
        except (OSError, ValueError, EOFError, IndexError) as exc:
            self._fail(f"recognition process unreadable: {exc}")
        finally:
            self._in.close()
            self._fail("recognition process ended")
            self.ended.set()

    def _fail(self, why: str) -> None:
        with self._lock:
            if self.failed is None:
                self.failed = why
                if not self._closing:
                    log.warning("recognition process failed", name=self.name, reason=why)
            waiting, self._waiting = self._waiting, deque()
        for future in waiting:
            future.set_exception(RecognitionFailed(self.failed))
        self._outbox.put(None)  # nothing more will be read: let the writer go


class RecognitionProcess(Channel):
    """One call's recogniser, a fork of the template. Usable at once: commands wait in
    the pipe until the fork (behind the template's warm-up) starts reading them."""

    _made = itertools.count(1)

    def __init__(self) -> None:
        to_call, commands = os.pipe()
        answers, from_call = os.pipe()
        self.call_ends: tuple[int, int] | None = (to_call, from_call)  # for the fork
        self.forked: Future[int] = Future()  # the process id, once the template forked
        super().__init__(commands, answers, f"asr-call-{next(self._made)}")

    def hand_over(self) -> tuple[int, int]:
        """The fork's ends of the pipes; the caller closes them once they are sent."""
        assert self.call_ends is not None, "handed over twice"
        ends, self.call_ends = self.call_ends, None
        return ends

    def abandon(self, why: str) -> None:
        """No process will serve this call."""
        if self.call_ends is not None:
            for fd in self.hand_over():
                os.close(fd)
        if not self.forked.done():
            self.forked.set_exception(RecognitionFailed(why))
        self._fail(why)

    @property
    def alive(self) -> bool:
        return self.failed is None

    def stop(self) -> None:
        """After the commands already sent; killed if it lingers."""
        self.close()
        threading.Thread(target=self._reap, name=f"{self.name}-stop", daemon=True).start()

    def _reap(self) -> None:
        if not self.ended.wait(STOP_GRACE_S):
            self.kill("did not stop")

    def kill(self, why: str) -> None:
        self._fail(why)
        self.forked.add_done_callback(_kill)


def _settle(future: Future[Any], done: Future[Any]) -> None:
    error = done.exception()
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(done.result())


def _kill(forked: Future[int]) -> None:
    if forked.exception() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(forked.result(), signal.SIGKILL)


class Template:
    """The process calls are forked from; :attr:`warmed` settles when its recogniser has
    heard ``warm_up`` (sentences and their line audio)."""

    def __init__(self, warm_up: list[tuple[str, bytes]]) -> None:
        to_child, commands = os.pipe()
        answers, from_child = os.pipe()
        self._fds, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", MODULE, str(to_child), str(from_child), str(theirs.fileno())],
            pass_fds=(to_child, from_child, theirs.fileno()),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": path},
        )
        for fd in (to_child, from_child):
            os.close(fd)
        theirs.close()
        self.pid = self._proc.pid
        self.channel = Channel(commands, answers, f"asr-template-{self.pid}")
        self.warmed = self.channel.ask("warm", warm_up)
        self._lock = threading.Lock()  # the pipes sent and the fork asked, in one order

    @property
    def alive(self) -> bool:
        return self.channel.failed is None and self._proc.poll() is None

    def fork(self, process: RecognitionProcess) -> None:
        """Give ``process`` a fork of this one (once it is warm; this does not wait)."""
        to_call, from_call = process.hand_over()
        try:
            with self._lock:
                socket.send_fds(self._fds, [b"f"], [to_call, from_call])
                asked = self.channel.ask("fork")
        finally:  # the template holds them now (or, if it died, nobody: the call sees EOF)
            os.close(to_call)
            os.close(from_call)
        asked.add_done_callback(lambda done: _settle(process.forked, done))

    def stop(self) -> None:
        self.channel.close()
        try:
            self._proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
