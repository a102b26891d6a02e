"""SIP calls held at once on this machine: sipp through Kamailio to the worker pool.

``callbridge serve --sip-workers W`` runs on embedded defaults with the card flow's
greeting stretched over the whole hold and a trivial engine (no speech models: the
cost is SIP, RTP, G.711 and resampling in pjmedia, the Python frame path, VAD,
endpointing, playout, flow and events). sipp places ``--calls`` calls at ``--rate``
per second through Kamailio, holds each ``--hold`` seconds and hangs up; a failed
call is any that sipp did not complete (refused, timed out, or ended by the bridge).
The calls' media goes to bench/rtp_peer.py, which sends 20 ms PCMU packets to each
worker and measures what the bridge sends back: RFC 3550 interarrival jitter, loss.
CPU and memory are those of the bridge's whole process tree (serve, workers,
Kamailio, Redis) while every call is up.

Baseline in the same run: the same peer measuring a bare Python RTP sender (one
asyncio loop pacing the same number of streams): the floor of jitter that this
machine and the measuring peer themselves add.

    bench/sip_load.sh [--calls 100] [--hold 120] [--workers 0 (auto)] [--rate 10]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from bench.carriers import bench_flow
from bridge.sipfront import kamailio
from harness.peers import sipp as sipp_peer
from harness.servers import free_port, free_udp_port, free_udp_ports

ROOT = Path(__file__).resolve().parents[1]
TRIVIAL = "harness.trivial_engine:TrivialEngine"
NUMBER = "+441234567890"

# The load call: sipp's INVITE (its media port from the injection file, so each call's
# RTP goes to its own port of the peer), a hold, and our BYE.
MEDIA = "m=audio [field0] RTP/AVP 0\na=rtpmap:0 PCMU/8000"


def scenario(hold_s: float) -> str:
    invite = sipp_peer.INVITE.format(
        media=MEDIA, status=200, check="", via=sipp_peer.NEW_VIA, ack_uri=sipp_peer.IN_DIALOG,
        headers="",
    )  # fmt: skip
    hold = sipp_peer.PAUSE.format(ms=int(hold_s * 1000))
    return invite + hold + sipp_peer.OUR_BYE + "</scenario>\n"


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def cpu_and_rss(pid: int) -> tuple[float, float]:
    cpu = rss = 0.0
    for p in tree(pid):
        try:
            t = p.cpu_times()
            cpu += t.user + t.system
            rss += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return cpu, rss


async def metrics(http: httpx.AsyncClient, base: str) -> dict[str, float]:
    text = (await http.get(f"{base}/metrics")).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("callbridge_sip_"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def total(m: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in m.items() if k.startswith(prefix + "{"))


def peer(first_port: int, count: int, out: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.rtp_peer", "--first-port", str(first_port),
         "--count", str(count), "--out", str(out), *extra],
        cwd=ROOT, preexec_fn=_instrument_priority,
    )  # fmt: skip


def _instrument_priority() -> None:
    """The peer is the measuring instrument: at the media threads' priority (where the
    bench may raise it), so its own scheduling delays do not read as the bridge's jitter."""
    with contextlib.suppress(PermissionError):
        os.nice(-10)


def stop(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def sipp_counts(stdout: str) -> tuple[int, int]:
    ok = re.findall(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", stdout)
    failed = re.findall(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", stdout)
    return (int(ok[-1]) if ok else 0), (int(failed[-1]) if failed else -1)


def start_bridge(
    args: argparse.Namespace, tmp: Path
) -> tuple[subprocess.Popen[bytes], str, int, int]:
    """``serve --sip-workers`` on embedded defaults; returns it, its URL, SIP port, workers."""
    workers = args.workers or math.ceil(args.calls / kamailio.WORKER_CALLS) + 1
    http_port, sip_port = free_port(), free_udp_port()
    base = f"http://127.0.0.1:{http_port}"
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        CALLBRIDGE_DATA_DIR=str(tmp / "data"),
        CALLBRIDGE_PORT=str(http_port),
        CALLBRIDGE_SIP__PORT=str(sip_port),
        CALLBRIDGE_SIP__BIND="127.0.0.1",
        CALLBRIDGE_SIP__WORKER_BASE_PORT=str(free_udp_ports(workers)),
        CALLBRIDGE_SIP__RTP_PORT=str(free_udp_ports(workers * 42)),
        CALLBRIDGE_ENGINE=TRIVIAL,
        CALLBRIDGE_DEFAULT_FLOW=str(bench_flow(tmp, sentences=int(args.hold / 0.3) + 100)),
        CALLBRIDGE_LOG_LEVEL="warning",
        CALLBRIDGE_DRAIN_TIMEOUT_S="5",
    )
    serve = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "serve", "--sip-workers", str(workers)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return serve, base, sip_port, workers


async def bridge_run(
    args: argparse.Namespace,
    tmp: Path,
    serve: subprocess.Popen[bytes],
    base: str,
    sip_port: int,
    workers: int,
) -> dict[str, float]:
    rtp_first = free_udp_ports(2 * args.calls)
    out = tmp / "peer.json"
    rtp = None
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            started = time.monotonic()
            while True:
                assert serve.poll() is None, "the bridge exited at start"
                with_up = 0.0
                with contextlib.suppress(httpx.HTTPError):
                    with_up = total(await metrics(http, base), "callbridge_sip_worker_up")
                if with_up == workers:
                    break
                assert time.monotonic() - started < 300, "workers did not come up"
                await asyncio.sleep(0.5)
            print(f"{workers} workers up in {time.monotonic() - started:.0f} s", flush=True)
            rtp = peer(rtp_first, args.calls, out)
            (tmp / "ports.csv").write_text(
                "SEQUENTIAL\n" + "".join(f"{rtp_first + 2 * i}\n" for i in range(args.calls))
            )
            (tmp / "load.xml").write_text(scenario(args.hold))
            sipp = await asyncio.create_subprocess_exec(
                "sipp", f"127.0.0.1:{sip_port}", "-sf", str(tmp / "load.xml"),
                "-inf", str(tmp / "ports.csv"), "-s", NUMBER,
                "-m", str(args.calls), "-l", str(args.calls), "-r", str(args.rate),
                "-i", "127.0.0.1", "-p", str(free_udp_port()), "-mp", str(free_udp_ports(4)),
                "-timeout", str(int(args.hold + 120)), "-timeout_error", "-nostdin",
                "-trace_err", "-error_file", str(tmp / "sipp.err"),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp,
            )  # fmt: skip
            ramp = args.calls / args.rate
            peak = 0.0
            marks: list[tuple[float, float, float]] = []
            t0 = time.monotonic()
            sipp_out = asyncio.ensure_future(sipp.communicate())
            while not sipp_out.done():
                m = await metrics(http, base)
                peak = max(peak, total(m, "callbridge_sip_calls"))
                elapsed = time.monotonic() - t0
                # Steady phase: all calls up (ramp + 5 s) until 5 s before the first BYE.
                if (not marks and elapsed >= ramp + 5) or (
                    len(marks) == 1 and elapsed >= args.hold - 5
                ):
                    marks.append((time.monotonic(), *cpu_and_rss(serve.pid)))
                    print(f"  {peak:.0f} calls up at {elapsed:.0f} s", flush=True)
                await asyncio.wait({sipp_out}, timeout=1.0)
            stdout = (await sipp_out)[0].decode(errors="replace")
        ok, failed = sipp_counts(stdout)
    finally:
        if rtp is not None:
            stop(rtp)
        stop(serve)
    media = json.loads(out.read_text()) if out.exists() else {}
    (w1, c1, _), (w2, c2, rss) = marks if len(marks) == 2 else [(0, 0, 0), (1, 0, 0)]
    calls = max(1.0, peak)
    return {
        "workers": workers,
        "concurrent_calls": int(peak),
        "completed_calls": ok,
        "failed_calls": failed,
        "cpu_cores": round((c2 - c1) / (w2 - w1), 3),
        "cpu_ms_per_call_second": round((c2 - c1) * 1000 / ((w2 - w1) * calls), 3),
        "rss_mb_total": round(rss / 2**20),
        "rss_mb_per_call": round(rss / 2**20 / calls, 1),
        **media,
    }


def baseline_run(calls: int, seconds: float, tmp: Path) -> dict[str, float]:
    first = free_udp_ports(4 * calls)  # one run for both peers: two could overlap
    sender_first = first + 2 * calls
    out, sender_out = tmp / "baseline.json", tmp / "baseline-sender.json"
    measuring = peer(first, calls, out)
    time.sleep(0.5)
    sender = peer(sender_first, calls, sender_out, "--pace", "--target-port", str(first))
    time.sleep(seconds)
    stop(sender)
    stop(measuring)
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--hold", type=float, default=120.0, help="seconds each call is held")
    ap.add_argument("--workers", type=int, default=0, help="0: calls / 3 + 1")
    ap.add_argument("--rate", type=float, default=10.0, help="new calls per second")
    ap.add_argument("--baseline-seconds", type=float, default=20.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sip-load-"))
    r = asyncio.run(bridge_run(args, tmp, *start_bridge(args, tmp)))
    b = baseline_run(args.calls, args.baseline_seconds, tmp)
    print(
        f"{r['concurrent_calls']} calls held at once on {r['workers']} workers for "
        f"{args.hold:.0f} s: {r['completed_calls']} completed, {r['failed_calls']} failed; "
        f"RTP from the bridge: loss {r.get('loss_ratio')}, jitter p50/p99/max "
        f"{r.get('jitter_p50_ms')}/{r.get('jitter_p99_ms')}/{r.get('jitter_max_ms')} ms, "
        f"|D| p99 {r.get('transit_delta_p99_ms')} ms (baseline Python pacer: jitter p99 "
        f"{b.get('jitter_p99_ms')} ms, |D| p99 {b.get('transit_delta_p99_ms')} ms); "
        f"CPU {r['cpu_cores']} cores = {r['cpu_ms_per_call_second']} ms per call-second; "
        f"memory {r['rss_mb_total']} MB = {r['rss_mb_per_call']} MB per call"
    )
    jitter, floor = r.get("jitter_p99_ms"), b.get("jitter_p99_ms")
    print(
        json.dumps(
            {
                **r,
                "hold_s": args.hold,
                "jitter_p99_ms_baseline": floor,
                "jitter_ratio_vs_baseline": (
                    round(jitter / floor, 2) if jitter is not None and floor else None
                ),
                "goal_concurrent_calls": 100,
                "goal_jitter_p99_ms": 10,
            }
        )
    )


if __name__ == "__main__":
    main()
