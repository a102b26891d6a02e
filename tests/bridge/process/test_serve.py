"""`callbridge serve` as an operator runs it: a process, signals, nothing left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.servers import free_port

CALLBRIDGE = str(Path(sys.executable).with_name("callbridge"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too; only its parent's wait() would reap it.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class Bridge:
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.data = tmp_path / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
        env |= {"CALLBRIDGE_DATA_DIR": str(self.data), "CALLBRIDGE_DRAIN_TIMEOUT_S": "3"}
        self.proc = subprocess.Popen(
            [CALLBRIDGE, "serve", "--port", str(self.port)],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, as a terminal would give it
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        assert self.proc.stdout is not None
        self.banner = self.proc.stdout.readline().decode()  # blocks until it is listening

    @property
    def redis_pid(self) -> int:
        return int((self.data / "redis" / "redis.pid").read_text())


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    b = Bridge(tmp_path)
    yield b
    if b.proc.poll() is None:
        b.proc.kill()
        b.proc.wait()


def test_serve_answers_and_prints_its_urls(bridge: Bridge) -> None:
    assert f"callbridge is running on {bridge.url}" in bridge.banner
    assert httpx.get(f"{bridge.url}/healthz").status_code == 200
    ready = httpx.get(f"{bridge.url}/readyz")
    assert ready.status_code == 200, ready.text
    assert (bridge.data / "callbridge.db").is_file()


@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C"])
def test_stopping_leaves_no_process_behind(bridge: Bridge, how: str) -> None:
    redis_pid = bridge.redis_pid
    assert _alive(redis_pid)
    if how == "SIGTERM":
        bridge.proc.send_signal(signal.SIGTERM)
    else:  # a terminal's Ctrl-C reaches the whole foreground process group
        os.killpg(bridge.proc.pid, signal.SIGINT)
    _, err = bridge.proc.communicate(timeout=20)
    assert bridge.proc.returncode == 0, err.decode()[-2000:]
    assert _wait_gone(redis_pid, 5), "embedded redis-server left running"
    assert b"Traceback" not in err


def test_a_killed_bridge_takes_its_redis_with_it(bridge: Bridge) -> None:
    redis_pid = bridge.redis_pid
    bridge.proc.kill()
    bridge.proc.wait()
    assert _wait_gone(redis_pid, 5), "embedded redis-server outlived a SIGKILLed bridge"


def test_a_second_bridge_on_the_same_data_dir_is_refused(bridge: Bridge, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
    env["CALLBRIDGE_DATA_DIR"] = str(bridge.data)
    second = subprocess.run(
        [CALLBRIDGE, "serve", "--port", str(free_port())],
        env=env, capture_output=True, timeout=30,
    )  # fmt: skip
    assert second.returncode != 0
    assert b"already running on this data dir" in second.stderr
    assert httpx.get(f"{bridge.url}/healthz").status_code == 200
    assert second.stderr.decode().count("\n") == 1, second.stderr  # one line, no traceback
    assert b"CALLBRIDGE_DATA_DIR" in second.stderr


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("CALLBRIDGE_DATABASE_URL", "notaurl://x", "is not usable"),
        (
            "CALLBRIDGE_DATABASE_URL",
            "postgresql+psycopg://u:hunter2@127.0.0.1:{port}/x",
            "cannot connect",
        ),
        ("CALLBRIDGE_REDIS_URL", "redis://:hunter2@127.0.0.1:{port}/0", "no Redis answers"),
        ("CALLBRIDGE_DATA_DIR", "{file}/data", "a part of the path is a file"),
        ("CALLBRIDGE_PORT", "{busy}", "cannot listen"),
        ("CALLBRIDGE_SIP_PORT", "{busy_udp}", "cannot listen"),
    ],
)
def test_a_misconfiguration_is_one_line_naming_the_setting_and_nothing_is_left_running(
    tmp_path: Path, setting: str, value: str, says: str
) -> None:
    """Issue 20, item 16: a bad setting used to print a 10,000-character traceback, or
    retry for ever, or start Redis and migrations before finding the port taken."""
    (tmp_path / "file").write_text("")
    busy, busy_udp = socket.socket(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    busy_udp.bind(("0.0.0.0", 0))
    value = value.format(port=free_port(), file=tmp_path / "file", busy=busy.getsockname()[1],
                         busy_udp=busy_udp.getsockname()[1])  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
    env |= {"CALLBRIDGE_DATA_DIR": str(tmp_path / "data"), "CALLBRIDGE_PORT": str(free_port())}
    env[setting] = value
    started = time.monotonic()
    r = subprocess.run([CALLBRIDGE, "serve"], env=env, capture_output=True, timeout=60)
    busy.close()
    busy_udp.close()
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert err.startswith(f"Error: {setting}: ") and says in err and err.count("\n") == 1, err
    assert "hunter2" not in err + r.stdout.decode()  # never a secret
    assert not (tmp_path / "data" / "redis").exists()  # nothing was started
    assert time.monotonic() - started < 30  # no retrying for ever
