"""Fixtures of the fault tests: a filesystem to fill, one bridge shared by the faults
that leave it as it was, and Twilio's REST API faked."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from harness.servers import free_port
from tests.fakes.twilio_rest import FakeTwilio
from tests.faults.serve import ACCOUNT, TOKEN, VONAGE_SECRET, Serve


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A filesystem of the test's own, to fill: 80 MB, just over the recordings store's
    64 MB low-disk mark once emptied (tmpfs takes memory only as it fills)."""
    where = tmp_path / "small"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=80m", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    bridge = Serve(
        tmp_path_factory.mktemp("shared") / "data",
        CALLBRIDGE_VONAGE_SIGNATURE_SECRET=VONAGE_SECRET,
    )
    yield bridge
    bridge.stop()
    assert bridge.proc.returncode == 0, bridge.stderr_tail()


@pytest.fixture
def twilio_rest() -> Iterator[tuple[FakeTwilio, str]]:
    """Twilio's REST API, faked on a port of its own (the bridge reaches it)."""
    fake = FakeTwilio(ACCOUNT, TOKEN)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(fake.app(), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield fake, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
