"""Faults met by a real `callbridge serve` process, as an operator runs it (issue 20):
a subprocess on real ports, called by a signed Twilio client (tests/bridge/legs), its
own embedded Redis and SQLite. Each test checks that every call ends with its true
reason, that what was accepted is in the store, that /readyz told the truth, and that
nobody had to step in."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.bridge.legs.twilio_caller import TwilioCaller
from tests.servers import free_port

CALLBRIDGE = str(Path(sys.executable).with_name("callbridge"))
ACCOUNT, TOKEN = "AC" + "2" * 32, "faults-test-auth-token"


class Serve:
    """`callbridge serve` with Twilio configured, its data in ``data``."""

    def __init__(self, data: Path, **settings: str) -> None:
        self.port = free_port()
        self.data = data
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
        env |= {
            "CALLBRIDGE_DATA_DIR": str(data),
            "CALLBRIDGE_PUBLIC_URL": self.url,
            "CALLBRIDGE_TWILIO_ACCOUNT_SID": ACCOUNT,
            "CALLBRIDGE_TWILIO_AUTH_TOKEN": TOKEN,
            "CALLBRIDGE_TWILIO_API_URL": f"http://127.0.0.1:{free_port()}",  # unreachable
            **settings,
        }
        self.proc = subprocess.Popen(
            [CALLBRIDGE, "serve", "--port", str(self.port)],
            env=env, cwd=data.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.banner = self.proc.stdout.readline().decode()  # once it listens
        assert "callbridge is running" in self.banner, self.proc.stderr.read().decode()[-2000:]

    def caller(self) -> TwilioCaller:
        return TwilioCaller(self.url, TOKEN, "CA" + uuid.uuid4().hex)

    def ready(self) -> httpx.Response:
        return httpx.get(f"{self.url}/readyz", timeout=5)

    def events(self, call_id: str) -> list[dict[str, Any]]:
        engine = create_engine(f"sqlite:///{self.data / 'callbridge.db'}")
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT payload FROM events WHERE call_id = :c ORDER BY seq"), {"c": call_id}
            ).all()
        engine.dispose()
        return [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in rows]

    def ended(self, call_id: str, within_s: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            events = self.events(call_id)
            if events and events[-1]["type"] == "call.ended":
                return events[-1]
            time.sleep(0.2)
        raise AssertionError(f"{call_id}: no call.ended within {within_s} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


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


def fill(where: Path) -> None:
    """Leave the filesystem with no free byte."""
    with (where / "filler").open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 1_048_576)
        except OSError:
            pass


async def a_short_call(caller: TwilioCaller) -> None:
    await caller.connect((await caller.voice_webhook()).text)
    await caller.wait_for_bot(min_frames=40, quiet=0, limit=3000)
    await caller.stop()


def test_a_full_disk_fails_the_recordings_never_the_calls(tmp_path: Path, tmpfs: Path) -> None:
    """Item 1: the recordings folder on a disk that is full. Calls used to drop at once
    (ENOSPC), stay `caller_hangup` and hold their slots while /readyz said ready."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "recordings").symlink_to(tmpfs, target_is_directory=True)
    bridge = Serve(data)
    try:
        fill(tmpfs)
        callers = [bridge.caller() for _ in range(2)]

        async def calls() -> None:
            await asyncio.gather(*(a_short_call(c) for c in callers))

        asyncio.run(calls())
        for c in callers:
            assert c.bot_frames() >= 40  # the greeting played: the call went on
            assert bridge.ended(c.call_sid)["reason"] == "caller_hangup"
            failed = [e for e in bridge.events(c.call_sid) if e["type"] == "recording.failed"]
            assert failed and "No space left" in failed[0]["reason"], failed
        ready = bridge.ready()
        assert ready.status_code == 503
        recordings = ready.json()["checks"]["recordings"]
        assert "No space left" in recordings or recordings.startswith("low disk"), recordings
        (tmpfs / "filler").unlink()  # the operator frees space: nothing else to do
        for _ in range(100):
            if bridge.ready().status_code == 200:
                break
            time.sleep(0.7)
        assert bridge.ready().status_code == 200, bridge.ready().text
    finally:
        bridge.stop()
    assert bridge.proc.returncode == 0


def test_sigterm_drains_with_health_served_and_ends_the_rest_as_drain_timeout(
    tmp_path: Path,
) -> None:
    """Items 17 and 18: during the drain /healthz is 200 and /readyz 503 "draining"; a
    call the drain runs out of time for is ended by the bridge as `drain_timeout`."""
    bridge = Serve(tmp_path / "data", CALLBRIDGE_DRAIN_TIMEOUT_S="4")
    c = bridge.caller()
    seen: list[tuple[int, int]] = []

    async def call() -> None:
        await c.connect((await c.voice_webhook()).text)
        await c.wait_for_bot(min_frames=40, quiet=0, limit=3000)
        bridge.proc.send_signal(signal.SIGTERM)
        async with httpx.AsyncClient(base_url=bridge.url) as http:
            for _ in range(10):  # the caller stays on the line, saying nothing
                for _ in range(10):
                    await c.media(b"\xff" * 160)
                health, ready = await http.get("/healthz"), await http.get("/readyz")
                seen.append((health.status_code, ready.status_code))
                await asyncio.sleep(0.1)
        while c.ws.close_code is None:
            await c.media(b"\xff" * 160)
            await asyncio.sleep(0.02)

    try:
        asyncio.run(call())
        assert bridge.proc.wait(30) == 0
    finally:
        bridge.stop()
    assert seen and set(seen) == {(200, 503)}, seen
    end = bridge.ended(c.call_sid)
    assert (end["reason"], end["outcome"]) == ("drain_timeout", "failed"), end


def test_redis_killed_mid_call_is_restarted_and_no_event_is_lost(tmp_path: Path) -> None:
    """Item 8: the embedded Redis killed while a call talks: restarted by the bridge,
    the call goes on, and every event of the call reaches the store."""
    bridge = Serve(tmp_path / "data")
    c = bridge.caller()

    async def call() -> None:
        await c.connect((await c.voice_webhook()).text)
        await c.wait_for_bot(min_frames=20, quiet=0, limit=3000)
        pid = int((bridge.data / "redis" / "redis.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        await c.wait_for_bot(min_frames=20, quiet=0, limit=3000)  # the bot goes on
        await c.stop()

    try:
        asyncio.run(call())
        end = bridge.ended(c.call_sid, within_s=30)
        assert end["reason"] == "caller_hangup"
        seqs = [e["seq"] for e in bridge.events(c.call_sid)]
        assert seqs == list(range(len(seqs))), seqs  # every event, once, in order
        assert bridge.ready().status_code == 200
    finally:
        bridge.stop()
    assert bridge.proc.returncode == 0
