"""How many concurrent Twilio Media Streams one bridge process holds on one core.

The bridge runs in its own process pinned to one CPU (taskset), with the example
card flow's first state replaced by a long prompt and a trivial engine (no speech
models: it hears nothing and speaks a tone), so the cost is the bridge's own:
WebSocket, JSON, base64, G.711, resampling, VAD, endpointing, playout, flow and
events. A load generator on the other CPU plays N callers at real-time pace (a
160-byte mu-law frame every 20 ms each, as Twilio does) and, since the bridge
answers each caller frame with one bot frame, times every round trip:

- inbound → engine: upper bound = send of a caller frame → arrival of its bot frame;
- outbound lateness: arrival of bot frame i - (first arrival + i x 20 ms), less the
  smallest such offset of the stream.

Baseline in the same run: a bare WebSocket echo server (same framework, same CPU
pinning, no bridge) at the same N; the ratios compare p99s. N grows until a goal
breaks (inbound p99 > 40 ms or outbound lateness p99 > 20 ms) or the bridge's CPU
is saturated. The last line is one JSON object.

    .venv/bin/python -m bench.carriers [--max 600] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import websockets
from twilio.request_validator import RequestValidator

from tests.servers import free_port

TOKEN = "bench-auth-token"
FRAME = b"\xff" * 160
SERVER = r"""
import sys, uvicorn
from pathlib import Path
from bridge.settings import Settings
from bridge.web.app import create_app
from tests.fakes.trivial_engine import TrivialEngine
port, flow, data = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = Settings(port=port, public_url=f"http://127.0.0.1:{port}", default_flow=Path(flow),
             data_dir=Path(data), twilio_account_sid="AC" + "0" * 32, twilio_auth_token="TOKEN",
             log_level="warning")
app = create_app(s)
app.state.call_service.engine = TrivialEngine()
uvicorn.run(app, port=port, log_level="warning", ws_ping_interval=None)
""".replace("TOKEN", TOKEN)
ECHO = r"""
import sys, uvicorn
from fastapi import FastAPI, WebSocket
app = FastAPI()
@app.websocket("/twilio/stream")
async def echo(ws: WebSocket):
    await ws.accept()
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            return
        if msg.get("text"):
            await ws.send_text(msg["text"])
uvicorn.run(app, port=int(sys.argv[1]), log_level="warning", ws_ping_interval=None)
"""


def bench_flow(directory: Path) -> Path:
    cards = Path(__file__).resolve().parents[1] / "flows" / "examples" / "card_services.yaml"
    text = cards.read_text().replace(
        'say: "Thank you for calling {bank_name} card services."',
        'say: "' + " ".join(["Thank you for calling."] * 200) + '"',
    )
    path = directory / "bench_flow.yaml"
    path.write_text(text)
    return path


def start(script: str, args: list[str]) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    cmd = [sys.executable, "-c", script, *args]
    if os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        cmd = ["taskset", "-c", "0", *cmd]
    return subprocess.Popen(cmd, env=env)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_up(port: int) -> None:
    for _ in range(300):
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


async def one_stream(
    port: int, bridge: bool, seconds: float, t0: float
) -> tuple[list[float], list[float]]:
    url = f"ws://127.0.0.1:{port}/twilio/stream"
    call_sid = "CA" + os.urandom(16).hex()
    headers = {}
    token = ""
    if bridge:
        import httpx

        voice = f"http://127.0.0.1:{port}/twilio/voice"
        form = {"CallSid": call_sid, "From": "+15550100", "To": "+15550199"}
        sig = RequestValidator(TOKEN).compute_signature(voice, form)
        async with httpx.AsyncClient() as client:
            twiml = (await client.post(voice, data=form, headers={"X-Twilio-Signature": sig})).text
        token = twiml.split('name="token" value="')[1].split('"')[0]
        headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, {})}
    sent: dict[int, float] = {}
    rtt: list[float] = []
    arrivals: list[float] = []
    async with websockets.connect(url, additional_headers=headers, max_queue=None) as ws:
        sid = "MZbench"
        if bridge:
            await ws.send(
                json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            )
            await ws.send(
                json.dumps(
                    {
                        "event": "start",
                        "streamSid": sid,
                        "start": {
                            "streamSid": sid,
                            "callSid": call_sid,
                            "customParameters": {"token": token},
                            "mediaFormat": {
                                "encoding": "audio/x-mulaw",
                                "sampleRate": 8000,
                                "channels": 1,
                            },
                        },
                    }
                )
            )

        async def receive() -> None:
            n = 0
            async for raw in ws:
                now = time.perf_counter()
                if '"media"' not in raw:
                    continue
                arrivals.append(now)
                n += 1
                if n in sent:
                    rtt.append((now - sent[n]) * 1000)

        reader = asyncio.create_task(receive())
        payload = base64.b64encode(FRAME).decode()
        frames = int(seconds * 50)
        start = t0 + (hash(call_sid) % 20) / 1000  # callers are not in phase
        for i in range(1, frames + 1):
            delay = start + i * 0.02 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[i] = time.perf_counter()
            await ws.send(
                json.dumps(
                    {
                        "event": "media",
                        "sequenceNumber": str(i + 1),
                        "streamSid": sid,
                        "media": {
                            "track": "inbound",
                            "chunk": str(i),
                            "timestamp": str(20 * i),
                            "payload": payload,
                        },
                    }
                )
            )
        await asyncio.sleep(0.2)
        if bridge:
            await ws.send(json.dumps({"event": "stop", "streamSid": sid, "stop": {}}))
        reader.cancel()
    late: list[float] = []
    if arrivals:
        offsets = [(a - arrivals[0]) * 1000 - 20 * i for i, a in enumerate(arrivals)]
        base = min(offsets)
        late = [o - base for o in offsets]
    return rtt, late


async def load(port: int, n: int, bridge: bool, seconds: float) -> tuple[float, float, int]:
    t0 = time.perf_counter() + 1.0
    results = await asyncio.gather(
        *(one_stream(port, bridge, seconds, t0) for _ in range(n)), return_exceptions=True
    )
    rtt = [x for r in results if not isinstance(r, BaseException) for x in r[0]]
    late = [x for r in results if not isinstance(r, BaseException) for x in r[1]]
    failed = sum(isinstance(r, BaseException) for r in results)
    p = lambda v: float(np.percentile(v, 99)) if v else float("inf")  # noqa: E731
    return p(rtt), p(late), failed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=600)
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    if os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {1})  # the callers run beside the bridge, not on its core
    tmp = Path(tempfile.mkdtemp())
    flow = bench_flow(tmp)
    rows, best, best_cpu = [], 0, float("nan")
    for n in (50, 100, 200, 300, 400, 500, 600, 800):
        if n > args.max:
            break
        port, echo_port = free_port(), free_port()
        server = start(SERVER, [str(port), str(flow), str(tmp / f"d{n}")])
        echo = start(ECHO, [str(echo_port)])
        try:
            asyncio.run(wait_up(port))
            asyncio.run(wait_up(echo_port))
            cpu0, w0 = cpu_seconds(server.pid), time.perf_counter()
            rtt, late, failed = asyncio.run(load(port, n, True, args.seconds))
            cpu = cpu_seconds(server.pid) - cpu0
            wall = time.perf_counter() - w0
            e_rtt, e_late, _ = asyncio.run(load(echo_port, n, False, args.seconds))
        finally:
            for p in (server, echo):
                p.terminate()
                p.wait(10)
        busy = cpu / wall
        cpu_ms = cpu * 1000 / (n * args.seconds)
        ok = rtt <= 40 and late <= 20 and failed == 0 and busy < 0.95
        rows.append((n, rtt, late, e_rtt, e_late, busy, cpu_ms, failed, ok))
        print(
            f"{n:4d} streams: inbound→engine p99 ≤ {rtt:6.1f} ms (echo {e_rtt:5.1f}), "
            f"outbound late p99 {late:6.1f} ms (echo {e_late:5.1f}), bridge CPU {busy:4.0%} "
            f"of a core, {cpu_ms:5.2f} ms CPU per call-second, {failed} failed "
            f"{'ok' if ok else 'GOAL BROKEN'}"
        )
        if not ok:
            break
        best, best_cpu = n, cpu_ms
    last_ok = [r for r in rows if r[-1]]
    ref = last_ok[-1] if last_ok else rows[-1]
    print(
        json.dumps(
            {
                "max_streams": best,
                "cpu_ms_per_call_second": round(best_cpu, 3),
                "inbound_p99_ms_at_max": round(ref[1], 1),
                "outbound_late_p99_ms_at_max": round(ref[2], 1),
                "rtt_ratio_vs_echo": round(ref[1] / max(ref[3], 0.1), 1),
                "goal_streams": 300,
            }
        )
    )


if __name__ == "__main__":
    main()
