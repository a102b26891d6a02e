"""How many concurrent Twilio Media Streams one bridge process holds on one core.

The bridge runs in its own process pinned to one CPU (taskset), with the example
card flow's first state replaced by a long prompt and a trivial engine (no speech
models: it hears nothing and speaks a tone), so the cost is the bridge's own:
WebSocket, JSON, base64, G.711, resampling, VAD, endpointing, playout, flow and
events. A load generator on the other CPU plays N callers at real-time pace (a
160-byte mu-law frame every 20 ms each, as Twilio does) and, since the bridge
keeps Twilio a fixed number of frames ahead of the caller's stream (sending two
frames a message every other caller frame), times round trips:

- inbound → engine: upper bound = send of a caller frame → arrival of the bot
  message it drew (half the caller frames draw one);
- outbound lateness: each bot frame against its 20 ms playback slot in a carrier
  buffer that plays the frames in order.

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
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import websockets
from twilio.request_validator import RequestValidator

from harness.servers import free_port

TOKEN = "bench-auth-token"
FRAME = b"\xff" * 160
SERVER = r"""
import sys, uvicorn
from pathlib import Path
from bridge.web.server import DrainingServer, uvicorn_config
from bridge.settings import Settings
from bridge.web.app import create_app
from harness.trivial_engine import TrivialEngine
port, flow, data = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = Settings(port=port, public_url=f"http://127.0.0.1:{port}", default_flow=Path(flow),
             data_dir=Path(data), twilio_account_sid="AC" + "0" * 32, twilio_auth_token="TOKEN",
             log_level="warning")
app = create_app(s)
app.state.call_service.engine = TrivialEngine()
DrainingServer(uvicorn_config(s, app), app.state.services).run()
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
uvicorn.run(app, port=int(sys.argv[1]), log_level="warning", ws_per_message_deflate=False)
"""


def bench_flow(directory: Path, sentences: int = 200) -> Path:
    """The card flow with a greeting of ``sentences`` sentences (0.3 s each from the
    trivial engine), so the bot talks for the whole run."""
    cards = Path(__file__).resolve().parents[1] / "flows" / "examples" / "card_services.yaml"
    text = cards.read_text().replace(
        'say: "Thank you for calling {bank_name} card services."',
        'say: "' + " ".join(["Thank you for calling."] * sentences) + '"',
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


class Gate:
    """Holds every caller until all have connected, so the real-time phase is one load."""

    def __init__(self, n: int) -> None:
        self.n, self.arrived, self.open = n, set[int](), asyncio.Event()
        self.at = 0.0

    def arrive(self, caller: int) -> None:
        """The caller is ready, or has failed: either way nobody waits for it (idempotent)."""
        self.arrived.add(caller)
        if len(self.arrived) >= self.n and not self.open.is_set():
            self.at = time.perf_counter() + 0.2
            self.open.set()


async def caller(
    port: int, bridge: bool, seconds: float, gate: Gate, http: httpx.AsyncClient
) -> tuple[list[float], list[float]]:
    key = id(asyncio.current_task())
    try:
        return await one_stream(port, bridge, seconds, lambda: gate.arrive(key), gate, http)
    finally:
        gate.arrive(key)


async def one_stream(
    port: int,
    bridge: bool,
    seconds: float,
    ready: Callable[[], None],
    gate: Gate,
    http: httpx.AsyncClient,
) -> tuple[list[float], list[float]]:
    url = f"ws://127.0.0.1:{port}/twilio/stream"
    call_sid = "CA" + os.urandom(16).hex()
    headers = {}
    token = ""
    if bridge:
        voice = f"http://127.0.0.1:{port}/twilio/voice"
        form = {"CallSid": call_sid, "From": "+15550100", "To": "+15550199"}
        sig = RequestValidator(TOKEN).compute_signature(voice, form)
        twiml = (await http.post(voice, data=form, headers={"X-Twilio-Signature": sig})).text
        token = twiml.split('name="token" value="')[1].split('"')[0]
        headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, {})}
    sent: dict[int, float] = {}
    arrivals: list[tuple[float, int]] = []  # (when, frames) per bot message
    async with websockets.connect(
        url, additional_headers=headers, max_queue=None, compression=None
    ) as ws:
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

        got_bot = asyncio.Event()

        async def receive() -> None:
            async for raw in ws:
                if '"media"' in raw:  # one message may carry several 20 ms frames
                    payload = raw.split('"payload": "', 1)[-1].split('"', 1)[0]
                    arrivals.append((time.perf_counter(), len(payload) * 3 // 4 // 160))
                    got_bot.set()

        def media(i: int) -> str:
            return json.dumps(
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

        reader = asyncio.create_task(receive())
        payload = base64.b64encode(FRAME).decode()
        # Until the bot speaks, frames go one at a time and wait for an answer, so the
        # caller frame that drew the bot's first frames is known exactly: caller frame i
        # drew a burst of `lead` frames (the bridge keeps Twilio that far ahead); from then
        # on every caller frame draws one bot frame.
        i = 0
        while not got_bot.is_set() and i < 200:
            i += 1
            sent[i] = time.perf_counter()
            await ws.send(media(i))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(got_bot.wait(), 1.0)
        await asyncio.sleep(0.3)
        lead_messages = len(arrivals)
        lead = sum(k for _, k in arrivals)
        ready()
        await gate.open.wait()
        await asyncio.sleep(max(0.0, gate.at - time.perf_counter()))  # all start together
        start = time.perf_counter() + (hash(call_sid) % 20) / 1000  # callers are not in phase
        playing_from = start + 0.02  # Twilio plays the lead, then each frame in its slot
        frames = int(seconds * 50)
        for j in range(1, frames + 1):
            delay = start + j * 0.02 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[i + j] = time.perf_counter()
            await ws.send(media(i + j))
        await asyncio.sleep(0.2)
        if bridge:
            await ws.send(json.dumps({"event": "stop", "streamSid": sid, "stop": {}}))
        reader.cancel()
    # The bridge keeps `lead` frames ahead of the caller's clock, so the message that
    # brings the frames sent to S was drawn by caller frame i + S - lead (i drew the
    # lead); its arrival bounds when that caller frame reached the engine. Frames that
    # drew no message (the bridge sends two frames every other caller frame) are the
    # same kind of frame at the same load, so the sample is a fair one.
    rtt: list[float] = []
    late: list[float] = []
    total = lead
    # Lateness as the caller's phone feels it: the carrier plays one frame per 20 ms
    # slot from its buffer; a frame that arrives after its slot began is late by that
    # much (and playback slips, as a real buffer's would).
    due = playing_from + lead * 0.02
    for a, frames in arrivals[lead_messages:]:
        total += frames
        if i + total - lead in sent:
            rtt.append((a - sent[i + total - lead]) * 1000)
        for _ in range(frames):
            late.append(max(0.0, (a - due) * 1000))
            due = max(due, a) + 0.02
    return rtt, late


@dataclass
class Run:
    inbound_p99: float  # ms
    late_p99: float  # ms
    failed: int
    setup_cpu_ms: float  # per call: webhook, handshake, call start
    cpu_ms_per_call_second: float  # while every stream is in its real-time phase
    busy: float  # fraction of the server's core in that phase


async def load(port: int, pid: int, n: int, bridge: bool, seconds: float) -> Run:
    gate = Gate(n)
    cpu0 = cpu_seconds(pid)
    marks: list[tuple[float, float]] = []

    async def sample_cpu() -> None:
        # The steady phase: from 0.5 s after all callers start real time to 0.5 s before
        # they stop, so set-up and tear-down are counted apart.
        await gate.open.wait()
        for at in (gate.at + 0.5, gate.at + seconds - 0.5):
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            marks.append((time.perf_counter(), cpu_seconds(pid)))

    sampler = asyncio.create_task(sample_cpu())
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50)) as http:
        results = await asyncio.gather(
            *(caller(port, bridge, seconds, gate, http) for _ in range(n)),
            return_exceptions=True,
        )
    await sampler
    rtt = [x for r in results if not isinstance(r, BaseException) for x in r[0]]
    late = [x for r in results if not isinstance(r, BaseException) for x in r[1]]
    failed = sum(isinstance(r, BaseException) for r in results)
    p = lambda v: float(np.percentile(v, 99)) if v else float("inf")  # noqa: E731
    (w1, c1), (w2, c2) = marks
    return Run(
        inbound_p99=p(rtt),
        late_p99=p(late),
        failed=failed,
        setup_cpu_ms=(c1 - cpu0) * 1000 / n,
        cpu_ms_per_call_second=(c2 - c1) * 1000 / (n * (w2 - w1)),
        busy=(c2 - c1) / (w2 - w1),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=600)
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    if os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {1})  # the callers run beside the bridge, not on its core
    tmp = Path(tempfile.mkdtemp())
    flow = bench_flow(tmp)
    rows: list[tuple[int, Run, Run, bool]] = []
    for n in (50, 100, 200, 250, 300, 400, 500, 600, 800):
        if n > args.max:
            break
        port, echo_port = free_port(), free_port()
        server = start(SERVER, [str(port), str(flow), str(tmp / f"d{n}")])
        echo = start(ECHO, [str(echo_port)])
        try:
            asyncio.run(wait_up(port))
            asyncio.run(wait_up(echo_port))
            r = asyncio.run(load(port, server.pid, n, True, args.seconds))
            e = asyncio.run(load(echo_port, echo.pid, n, False, args.seconds))
        finally:
            for proc in (server, echo):
                proc.terminate()
                proc.wait(10)
        ok = r.inbound_p99 <= 40 and r.late_p99 <= 20 and r.failed == 0 and r.busy < 0.95
        rows.append((n, r, e, ok))
        print(
            f"{n:4d} streams: inbound→engine p99 ≤ {r.inbound_p99:6.1f} ms "
            f"(echo {e.inbound_p99:5.1f}), outbound late p99 {r.late_p99:6.1f} ms "
            f"(echo {e.late_p99:5.1f}), bridge CPU {r.busy:4.0%} of a core "
            f"(echo {e.busy:4.0%}), {r.cpu_ms_per_call_second:5.2f} ms CPU per call-second "
            f"(echo {e.cpu_ms_per_call_second:4.2f}), set-up {r.setup_cpu_ms:4.1f} ms CPU "
            f"per call, {r.failed} failed {'ok' if ok else 'GOAL BROKEN'}"
        )
        if not ok:
            break
    passed = [row for row in rows if row[3]]
    n, r, e, _ = passed[-1] if passed else rows[-1]
    print(
        json.dumps(
            {
                "max_streams": n if passed else 0,
                "cpu_ms_per_call_second": round(r.cpu_ms_per_call_second, 3),
                "setup_cpu_ms_per_call": round(r.setup_cpu_ms, 1),
                "inbound_p99_ms_at_max": round(r.inbound_p99, 1),
                "outbound_late_p99_ms_at_max": round(r.late_p99, 1),
                "cpu_ratio_vs_echo": round(
                    r.cpu_ms_per_call_second / max(e.cpu_ms_per_call_second, 1e-3), 2
                ),
                "goal_streams": 300,
            }
        )
    )


if __name__ == "__main__":
    main()
