"""``serve --sip-workers N``: SIP worker processes behind a real Kamailio, called by sipp."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.sipfront import kamailio
from bridge.sipfront.pool import SipWorkerPool
from harness.peers import sipp
from harness.servers import free_udp_port, free_udp_ports
from tests.bridge.legs.conftest import Bridge, running_bridge

TRIVIAL = "harness.trivial_engine:TrivialEngine"  # no speech models: SIP is under test
NUMBER = "+441234567890"

pytestmark = [
    pytest.mark.skipif(not sipp.available(), reason="sipp is not installed (make test does)"),
    pytest.mark.skipif(
        not kamailio.available(), reason="kamailio is not installed (make test does)"
    ),
]
embedded = pytest.mark.parametrize("redis_url", ["embedded"], indirect=True)


@pytest.fixture
def sip_settings() -> dict[str, Any]:
    """``sip_bridge`` as a pool: two workers behind Kamailio."""
    return {
        "sip_workers": 2,
        "sip_worker_base_port": free_udp_ports(2),
        "sip_rtp_port": free_udp_ports(100),
        "engine": TRIVIAL,
        "drain_timeout_s": 5,
    }


def pool_of(b: Bridge) -> SipWorkerPool:
    pool = b.app.state.sip
    assert isinstance(pool, SipWorkerPool)
    return pool


async def sip_metrics(b: Bridge) -> dict[str, float]:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{b.base}/metrics")).text
    return {
        name: float(value)
        for line in text.splitlines()
        if line.startswith("callbridge_sip_")
        for name, value in [line.rsplit(" ", 1)]
    }


def hold(workdir: Path, port: int, calls: int, ms: int) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    steps = [sipp.PAUSE.format(ms=1500), sipp.DTMF.format(digit=1), sipp.PAUSE.format(ms=ms)]
    return sipp.call(workdir, port, NUMBER, [*steps, sipp.OUR_BYE], calls=calls)


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.2)


@embedded
async def test_calls_spread_over_workers_and_reach_the_flow(
    sip_bridge: Bridge, tmp_path: Path
) -> None:
    b = sip_bridge
    call = asyncio.create_task(asyncio.to_thread(hold, tmp_path / "a", b.sip_port, 4, 3000))
    peak: dict[str, float] = {}
    while not call.done():
        m = await sip_metrics(b)
        for w in ("0", "1"):
            key = f'callbridge_sip_calls{{worker="{w}"}}'
            peak[w] = max(peak.get(w, 0.0), m.get(key, 0.0))
        await asyncio.sleep(0.2)
    r = await call
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert peak == {"0": 2.0, "1": 2.0}, peak  # the least loaded worker takes each call

    ids = await b.calls()
    assert len(ids) == 4
    for call_id in ids:
        events = await b.events(call_id)
        assert events[0]["carrier"] == "sip" and events[0]["to_number"] == NUMBER
        assert [e["digits"] for e in events if e["type"] == "call.dtmf"][:1] == ["1"]
        states = [e["state"] for e in events if e["type"] == "flow.state_entered"]
        assert "for_balance" in states, states
    # Every BYE went through Kamailio, so its counts are back to zero: 6 calls fit again.
    await until(lambda: _calls_are(b, 0.0))


async def _calls_are(b: Bridge, n: float) -> bool:
    m = await sip_metrics(b)
    return all(m.get(f'callbridge_sip_calls{{worker="{w}"}}') == n for w in ("0", "1"))


@embedded
async def test_beyond_the_pool_capacity_the_caller_gets_503_with_retry_after(
    sip_bridge: Bridge, tmp_path: Path
) -> None:
    b = sip_bridge
    results: list[subprocess.CompletedProcess[str]] = []
    held = threading.Thread(
        target=lambda: results.append(hold(tmp_path / "h", b.sip_port, 6, 5000))
    )
    held.start()

    async def full() -> bool:
        m = await sip_metrics(b)
        return sum(m.get(f'callbridge_sip_calls{{worker="{w}"}}', 0) for w in "01") == 6

    await until(full)
    r = await asyncio.to_thread(
        sipp.invite_expecting, tmp_path, b.sip_port, NUMBER, 503, header="Retry-After: 5"
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    await asyncio.to_thread(held.join, 40)
    assert results and results[0].returncode == 0, results[0].stderr[-2000:]


@embedded
async def test_a_dead_worker_is_routed_around_and_started_again(
    sip_bridge: Bridge, tmp_path: Path
) -> None:
    b = sip_bridge
    pool = pool_of(b)
    dead = pool.workers[0].proc
    assert dead is not None
    os.kill(dead.pid, signal.SIGKILL)
    # Calls go on while it is gone: Kamailio skips it (it does not answer) for worker 1.
    r = await asyncio.to_thread(hold, tmp_path / "a", b.sip_port, 2, 1000)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert len(await b.calls()) == 2

    async def back() -> bool:
        m = await sip_metrics(b)
        return (
            m.get('callbridge_sip_worker_restarts_total{worker="0"}') == 1.0
            and m.get('callbridge_sip_worker_up{worker="0"}') == 1.0
        )

    await until(back)
    assert pool.workers[0].proc is not None and pool.workers[0].proc.pid != dead.pid
    # Both take calls again (up to 3 each; Kamailio probes the restarted one with OPTIONS).
    await asyncio.sleep(2.5)
    r = await asyncio.to_thread(hold, tmp_path / "b", b.sip_port, 6, 1000)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


@embedded
async def test_stopping_the_bridge_stops_workers_and_kamailio(
    tmp_path: Path, redis_url: str, stream_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_bridge(
        tmp_path, redis_url, stream_name, monkeypatch,
        sip_port=free_udp_port(), sip_bind="127.0.0.1", sip_workers=1,
        sip_worker_base_port=free_udp_port(), engine=TRIVIAL, drain_timeout_s=2,
    ) as b:  # fmt: skip
        pool = pool_of(b)
        pids = [w.proc.pid for w in pool.workers if w.proc is not None]
        assert pool.kamailio.running
    assert not pool.kamailio.running
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_dispatcher_list_names_each_worker_and_its_limit() -> None:
    text = kamailio.dispatcher_list(["sip:127.0.0.1:5061", "sip:10.0.0.6:5070"])
    assert text.splitlines() == [
        "1 sip:127.0.0.1:5061 8 0 duid=w0;maxload=3",
        "1 sip:10.0.0.6:5070 8 0 duid=w1;maxload=3",
    ]


@embedded
async def test_kamailio_also_dispatches_to_a_worker_on_another_host(
    tmp_path: Path, redis_url: str, stream_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The layout across machines: a `callbridge sip-worker` started on its own (here on
    loopback, as a host elsewhere would) and listed in CALLBRIDGE_SIP_REMOTE_WORKERS
    takes its share of the calls; its events reach the same stream."""
    remote_port = free_udp_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
    env.update(
        CALLBRIDGE_REDIS_URL=redis_url,
        CALLBRIDGE_EVENT_STREAM=stream_name,
        CALLBRIDGE_ENGINE=TRIVIAL,
        CALLBRIDGE_SIP_BIND="127.0.0.1",
        CALLBRIDGE_SIP_RTP_PORT=str(free_udp_ports(50)),
        CALLBRIDGE_DATA_DIR=str(tmp_path / "remote"),
        CALLBRIDGE_INSTANCE_ID="elsewhere",
    )
    remote = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.cli", "sip-worker", "--port", str(remote_port),
        env=env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert remote.stdout is not None
        await asyncio.wait_for(remote.stdout.readline(), 60)  # its first heartbeat: it is up
        async with running_bridge(
            tmp_path, redis_url, stream_name, monkeypatch,
            sip_port=free_udp_port(), sip_bind="127.0.0.1", sip_workers=1,
            sip_worker_base_port=free_udp_port(), sip_rtp_port=free_udp_ports(50),
            sip_remote_workers=[f"sip:127.0.0.1:{remote_port}"], engine=TRIVIAL,
            drain_timeout_s=2,
        ) as b:  # fmt: skip
            call = asyncio.create_task(asyncio.to_thread(hold, tmp_path / "a", b.sip_port, 4, 2000))
            local_peak = 0.0
            while not call.done():
                m = await sip_metrics(b)
                local_peak = max(local_peak, m.get('callbridge_sip_calls{worker="0"}', 0.0))
                await asyncio.sleep(0.2)
            r = await call
            assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
            assert len(await b.calls()) == 4
            assert local_peak == 2.0  # the other two went to the worker elsewhere
    finally:
        remote.terminate()
        await remote.wait()


@embedded
async def test_many_short_calls_in_a_row_leave_every_worker_alive(
    sip_bridge: Bridge, tmp_path: Path
) -> None:
    """Calls ending all the time: each call's port leaves pjmedia's conference while the
    clock thread runs. Done carelessly this crashed a worker about once in ten calls.
    A worker frees a call's place only once pjsua has torn the call down, which on a
    loaded machine lags the BYE, and a worker that is still full rightly refuses the
    next INVITE (503 with Retry-After): the caller is told, nothing hangs. So a few
    503s are allowed; a call that times out, or any other failure, is not."""
    r = await asyncio.to_thread(
        sipp.call, tmp_path, sip_bridge.sip_port, NUMBER,
        [sipp.PAUSE.format(ms=300), sipp.OUR_BYE], calls=4, total=300, rate=24,
    )  # fmt: skip
    assert all(w.restarts == 0 for w in pool_of(sip_bridge).workers)  # none died
    if r.returncode != 0:
        errors = (tmp_path / "sipp.err").read_text()
        aborted = re.findall(r"Aborting call .*?received '(SIP/2.0 \d+)", errors)
        failed = re.search(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", r.stdout)
        assert failed is not None, r.stdout[-2000:]
        assert int(failed.group(1)) == len(aborted), errors[-2000:]  # each one a refusal
        assert set(aborted) == {"SIP/2.0 503"} and len(aborted) <= 30, errors[-2000:]
