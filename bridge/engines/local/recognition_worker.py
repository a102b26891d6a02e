"""Recognition processes: a warmed template, and a fork of it for every call.

pocketsphinx keeps the GIL while it decodes (a turn's final pass is 30 to 130 ms), so
in the bridge's process every other call's audio, timers and playout would wait for
it. Each call's recogniser therefore runs in a process of its own. Starting one
(an interpreter, two decoders, the warm-up) takes seconds of CPU, so it is done once:
``python -m bridge.engines.local.recognition_worker IN_FD OUT_FD SOCKET_FD`` is the
*template*, which warms a recogniser and then, for each call, forks a copy of itself
that serves the call on the pipes the bridge passed it over the socket. A fork costs
milliseconds, shares the models' memory with the template, and starts from exactly
the warm-up's state, whatever the calls before it heard.

The wire is a stream of frames, each a 4-byte big-endian length and a pickle (both
ends are this code, so nothing foreign is unpickled). The bridge sends commands;
``warm``, ``fork``, ``partial``, ``finish`` and ``normalisation`` are answered in the
order asked — ``("ok", value)`` or ``("error", text)`` — and a command that fails
without being asked about (``begin``, ``feed``) is reported as ``("failed", text)``.
Every process ends when its command pipe closes, so none outlives the bridge.

Kept light on imports: a recognition process needs pocketsphinx, not the voice.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import sys
from typing import IO, Any

import numpy as np

from bridge.engines.local.asr import Recognizer

ASKED = {"warm", "fork", "partial", "finish", "normalisation"}  # answered commands


def send(out: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(data).to_bytes(4, "big") + data)
    out.flush()


def receive(inp: IO[bytes]) -> Any:
    """The next frame, or None at the end of the stream."""
    head = inp.read(4)
    if len(head) < 4:
        return None
    size = int.from_bytes(head, "big")
    data = inp.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


class Worker:
    def __init__(self) -> None:
        self.recognizer: Recognizer | None = None

    def handle(self, op: str, args: tuple[Any, ...]) -> Any:
        if op == "warm":
            self.recognizer = self.recognizer or Recognizer()
            utterances = [(t, np.frombuffer(pcm, np.int16)) for t, pcm in args[0]]
            self.recognizer.warm_up(utterances)
            return None
        if self.recognizer is None:
            raise RuntimeError(f"{op!r} before the recogniser was warmed")
        rec = self.recognizer
        if op == "feed":
            rec.feed(np.frombuffer(args[0], np.int16))
        elif op == "begin":
            rec.begin(args[0])
        elif op == "partial":
            return rec.partial()
        elif op == "finish":
            return rec.finish()
        elif op == "normalisation":  # the decoders' cepstral means, for diagnosis and tests
            return rec.constrained.get_cmn(), rec.open.get_cmn()
        else:
            raise ValueError(f"unknown command {op!r}")
        return None


def serve(inp: IO[bytes], out: IO[bytes], worker: Worker, fds: socket.socket | None = None) -> None:
    """Answer commands until the pipe closes; with ``fds`` (the template) also ``fork``."""
    while (message := receive(inp)) is not None:
        op, *args = message
        try:
            if op == "fork" and fds is not None:
                value = _fork(worker, inp, out, fds)
            else:
                value = worker.handle(op, tuple(args))
        except Exception as exc:  # reported to the call; the process serves on
            send(out, ("error" if op in ASKED else "failed", f"{type(exc).__name__}: {exc}"))
            continue
        if op in ASKED:
            send(out, ("ok", value))


def _fork(worker: Worker, inp: IO[bytes], out: IO[bytes], fds: socket.socket) -> int:
    """A copy of this warmed process for one call, on the pipes sent over ``fds``."""
    _, (commands, answers), _, _ = socket.recv_fds(fds, 1, 2)
    pid = os.fork()
    if pid:
        os.close(commands)
        os.close(answers)
        return pid
    status = 0
    try:  # the call's process: nothing of the template's channels stays open in it
        fds.close()
        os.close(inp.fileno())
        os.close(out.fileno())
        with os.fdopen(commands, "rb") as call_in, os.fdopen(answers, "wb") as call_out:
            serve(call_in, call_out, worker)
    except BaseException:
        status = 1
    finally:
        os._exit(status)  # never back into the template's loop


def main() -> None:
    read_fd, write_fd, socket_fd = (int(a) for a in sys.argv[1:4])
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps finished calls
    fds = socket.socket(fileno=socket_fd)
    try:
        with os.fdopen(read_fd, "rb") as inp, os.fdopen(write_fd, "wb") as out:
            serve(inp, out, Worker(), fds)
    except BrokenPipeError:  # the bridge went away first: nobody is left to answer
        os._exit(0)


if __name__ == "__main__":
    main()
