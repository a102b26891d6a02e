"""Faults of what a bridge runs on: a full disk (recordings, the database), SIGTERM
with calls in flight, Redis killed or hung. Each call ends with its true reason, what
was accepted is stored, /readyz tells the truth, and nobody steps in."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import httpx
import websockets

from tests.faults.serve import Serve, a_short_call, fill


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
        # Until the bridge closes the socket (a send may be the first to learn of it).
        with contextlib.suppress(websockets.ConnectionClosed):
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


def test_a_hung_redis_shows_on_the_metrics_within_two_seconds(shared: Serve) -> None:
    """Item 9: the bridge's Redis stopped (SIGSTOP): the gauge goes to 0 within ~2 s
    and back to 1 when it answers again."""
    pid = int((shared.data / "redis" / "redis.pid").read_text())

    def redis_up() -> float:
        text = httpx.get(f"{shared.url}/metrics", timeout=5).text
        line = next(x for x in text.splitlines() if x.startswith("callbridge_event_log_redis_up"))
        return float(line.split()[-1])

    assert redis_up() == 1.0
    os.kill(pid, signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        while redis_up() != 0.0:
            assert time.monotonic() - stopped < 3.0, "the hang went unnoticed"
            time.sleep(0.1)
    finally:
        os.kill(pid, signal.SIGCONT)
    for _ in range(50):
        if redis_up() == 1.0:
            break
        time.sleep(0.1)
    assert redis_up() == 1.0


def test_a_database_on_a_full_disk_shows_as_lag_and_loses_nothing(
    tmp_path: Path, tmpfs: Path
) -> None:
    """Item 10: the database cannot be written (its disk is full). /readyz used to say
    ready while nothing was stored; now the store writer's lag turns it 503, and once
    there is room every event of the call made meanwhile is stored."""
    db = tmpfs / "callbridge.db"
    bridge = Serve(
        tmp_path / "data",
        CALLBRIDGE_DATABASE_URL=f"sqlite:///{db}",
        CALLBRIDGE_STORE_WRITER_MAX_LAG_S="2",
    )
    try:
        fill(tmpfs)
        c = bridge.caller()
        asyncio.run(a_short_call(c))
        for _ in range(60):
            ready = bridge.ready()
            if ready.status_code == 503:
                break
            time.sleep(0.2)
        assert ready.json()["checks"]["store_writer"].startswith("lagging"), ready.text
        (tmpfs / "filler").unlink()
        end = bridge.ended(c.call_sid, within_s=30)
        assert end["reason"] == "caller_hangup"
        seqs = [e["seq"] for e in bridge.events(c.call_sid)]
        assert seqs == list(range(len(seqs)))  # all of it, once, in order
        for _ in range(50):
            if bridge.ready().status_code == 200:
                break
            time.sleep(0.2)
        assert bridge.ready().status_code == 200
    finally:
        bridge.stop()
    assert bridge.proc.returncode == 0
