"""Faults met by a real `callbridge serve` process, as an operator runs it (issue 20):
a subprocess on real ports, called by a signed Twilio client (tests/bridge/legs), its
own embedded Redis and SQLite. Each test checks that every call ends with its true
reason, that what was accepted is in the store, that /readyz told the truth, and that
nobody had to step in."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
import websockets
from sqlalchemy import create_engine, text

from harness.audio import VOICES, synthesize
from harness.servers import free_port
from tests.bridge.legs.twilio_caller import TwilioCaller
from tests.bridge.legs.vonage_caller import VonageCaller
from tests.fakes.twilio_rest import FakeTwilio

CALLBRIDGE = str(Path(sys.executable).with_name("callbridge"))
ACCOUNT, TOKEN = "AC" + "2" * 32, "faults-test-auth-token"


class Serve:
    """`callbridge serve` with Twilio configured, its data in ``data``."""

    def __init__(self, data: Path, **settings: str) -> None:
        self.port = free_port()
        self.data = data
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = settings.get(
            "CALLBRIDGE_DATABASE_URL", f"sqlite:///{data / 'callbridge.db'}"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
        env |= {
            "CALLBRIDGE_DATA_DIR": str(data),
            "CALLBRIDGE_PUBLIC_URL": self.url,
            "CALLBRIDGE_TWILIO_ACCOUNT_SID": ACCOUNT,
            "CALLBRIDGE_TWILIO_AUTH_TOKEN": TOKEN,
            "CALLBRIDGE_TWILIO_API_URL": f"http://127.0.0.1:{free_port()}",  # unreachable
            "CALLBRIDGE_SIP_PORT": "0",  # bridges side by side; SIP has faults of its own
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
        engine = create_engine(self.database)
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

    def stderr_tail(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")[-3000:]

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


# -- one bridge for the faults that leave it as it was -----------------------------------

VONAGE_SECRET = "faults-vonage-signature-secret-32-bytes+"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    bridge = Serve(
        tmp_path_factory.mktemp("shared") / "data",
        CALLBRIDGE_VONAGE_SIGNATURE_SECRET=VONAGE_SECRET,
    )
    yield bridge
    bridge.stop()
    assert bridge.proc.returncode == 0, bridge.stderr_tail()


def test_calls_end_without_the_carrier_api_and_with_their_true_reason(shared: Serve) -> None:
    """Item 2 (Twilio's REST unreachable: the transfer fails, the flow says sorry and
    hangs up by closing the stream) and item 18 (stored as the flow's hang-up)."""
    c = shared.caller()

    async def call() -> None:
        await c.connect((await c.voice_webhook()).text)
        await c.wait_for_bot(min_frames=40, quiet=0, limit=3000)
        await c.dtmf("0")  # an agent, please
        for _ in range(6000):
            if c.ws.close_code is not None:
                return
            with contextlib.suppress(websockets.ConnectionClosed):
                await c.media(b"\xff" * 160)
        raise AssertionError("the bridge never ended the call")

    asyncio.run(call())
    end = shared.ended(c.call_sid)
    assert (end["reason"], end["outcome"]) == ("flow_hangup", "completed"), end
    transfers = [e["status"] for e in shared.events(c.call_sid) if e["type"] == "call.transfer"]
    assert transfers == ["requested", "failed"]


def test_abusive_sockets_cost_one_socket_each(shared: Serve) -> None:
    """Items 3, 4 and 6: a second start on a socket that carries a call, the same
    CallSid streamed again, and 51 bad messages (bad base64 among them)."""
    first, abuser = shared.caller(), shared.caller()
    again = TwilioCaller(shared.url, TOKEN, first.call_sid)

    async def calls() -> None:
        await first.connect((await first.voice_webhook()).text)
        await first.wait_for_bot(min_frames=20, quiet=0, limit=3000)
        other = (await abuser.voice_webhook()).text
        await first.send(abuser.start(other, "MZx"))  # a second call on the first's socket
        await first.wait_for_bot(min_frames=10, quiet=0, limit=3000)  # the first call goes on
        await first.stop()
        await again.connect((await again.voice_webhook()).text)
        await again.wait_for_bot(min_frames=20, quiet=0, limit=3000)
        bad = {"event": "media", "streamSid": again.stream_sid, "media": {"payload": "%%%"}}
        with contextlib.suppress(websockets.ConnectionClosed):
            for _ in range(60):
                await again.send(bad)
        await asyncio.wait_for(again.ws.wait_closed(), 10)
        assert again.ws.close_code == 1008

    asyncio.run(calls())
    shared.ended(first.call_sid)
    events = shared.events(first.call_sid)
    ends = [e["reason"] for e in events if e["type"] == "call.ended"]
    assert sorted(ends) == ["caller_hangup", "protocol_error"], ends  # both legs, true reasons
    seqs = [e["seq"] for e in events]
    assert len(seqs) == len(set(seqs))
    assert shared.events(abuser.call_sid) == []  # no second call was started on the socket


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


def test_stale_and_replayed_vonage_signatures_and_huge_bodies_are_refused(
    shared: Serve,
) -> None:
    """Items 11 and 14 at the edge of a running bridge."""
    body = json.dumps({"to": "441234567890", "from": "447700900123", "uuid": str(uuid.uuid4())})
    raw = body.encode()

    def token(**claims: Any) -> str:
        base = {"iat": int(time.time()), "jti": uuid.uuid4().hex, "iss": "Vonage",
                "payload_hash": hashlib.sha256(raw).hexdigest()}  # fmt: skip
        return "Bearer " + jwt.encode({**base, **claims}, VONAGE_SECRET, algorithm="HS256")

    url = f"{shared.url}/vonage/answer"
    fresh = token()
    with httpx.Client() as http:
        post = lambda auth: http.post(url, content=raw, headers={"Authorization": auth})  # noqa: E731
        assert post(token(iat=int(time.time()) - 365 * 86400)).status_code == 403
        assert post(fresh).status_code == 200
        assert post(fresh).status_code == 403  # replayed
        assert http.post(url, content=b"x" * 2_000_000).status_code == 413


def test_a_flow_nested_thousands_deep_is_a_flow_error(tmp_path: Path) -> None:
    """Item 15, from the command line an admin runs."""
    deep = tmp_path / "deep.yaml"
    deep.write_text("flow: x\nstart: a\nstates:\n  a:\n    say: " + "[" * 5000 + "]" * 5000 + "\n")
    r = subprocess.run(
        [CALLBRIDGE, "flows", "validate", str(deep)], capture_output=True, timeout=60
    )
    assert r.returncode == 1 and b"nested more than" in r.stdout + r.stderr
    assert b"Traceback" not in r.stdout + r.stderr


def test_a_socket_that_never_starts_a_call_is_closed_and_poison_values_are_400(
    shared: Serve,
) -> None:
    """Item 5 (a signed socket held with no `start`: closed after the 10 s handshake
    deadline) and item 7 (a signed status callback whose SequenceNumber no column can
    hold: 400 at the edge, and the store goes on writing)."""
    c = shared.caller()
    url = shared.url.replace("http://", "ws://") + "/twilio/stream"

    async def idle() -> int | None:
        ws = await websockets.connect(
            url, additional_headers={"X-Twilio-Signature": c.sign(url, {})}
        )
        await asyncio.wait_for(ws.wait_closed(), 15)
        return ws.close_code

    assert asyncio.run(idle()) == 1008
    status = f"{shared.url}/twilio/status"
    form = {"CallSid": c.call_sid, "CallStatus": "completed", "SequenceNumber": "9" * 23}
    r = httpx.post(status, data=form, headers={"X-Twilio-Signature": c.sign(status, form)})
    assert r.status_code == 400
    after = shared.caller()
    asyncio.run(a_short_call(after))
    assert shared.ended(after.call_sid)["reason"] == "caller_hangup"  # still stored


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


def test_an_odd_length_vonage_frame_leaves_the_caller_understood(shared: Serve) -> None:
    """Item 12: one odd-length binary frame used to shift the byte order of every
    sample after it, and the caller turned to noise. They are still understood."""
    c = VonageCaller(shared.url, VONAGE_SECRET)
    c.frame_s = 0.02  # real time: the local engine hears it as a caller would say it

    async def call() -> None:
        await c.connect((await c.answer()).json())
        await c.wait_for_bot(min_frames=40, quiet=20, limit=3000)
        await c.frame(b"\x01")  # the stray byte
        await c.say(synthesize("what is my balance please", VOICES[1]))
        await c.wait_for_bot(min_frames=10, quiet=0, limit=1000)
        await c.ws.close()

    asyncio.run(call())
    shared.ended(c.call_uuid)
    said = [e["text"].lower() for e in shared.events(c.call_uuid)
            if e["type"] == "transcript.final" and e["speaker"] == "caller"]  # fmt: skip
    assert any("balance" in s for s in said), said


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


def test_the_fork_after_a_transfer_survives_bad_frames(
    tmp_path: Path, twilio_rest: tuple[FakeTwilio, str]
) -> None:
    """Item 13: after a transfer the listen-only fork keeps transcribing the caller for
    the agent; one binary or malformed frame used to end it (an unhandled exception)."""
    fake, api = twilio_rest
    bridge = Serve(tmp_path / "data", CALLBRIDGE_TWILIO_API_URL=api)
    c = bridge.caller()
    fake.calls.add(c.call_sid)

    async def call() -> None:
        await c.connect((await c.voice_webhook()).text)
        await c.wait_for_bot(min_frames=40, quiet=0, limit=3000)
        await c.dtmf("0")  # an agent: the transfer goes through the REST fake
        for _ in range(6000):
            if fake.requests:
                break
            await c.media(b"\xff" * 160)
        twiml = fake.requests[0].form["Twiml"]
        await c.stop()  # Twilio ends the <Connect> stream when the TwiML is replaced
        fork = TwilioCaller(c.base, c.auth_token, c.call_sid)
        fork.frame_s = 0.02
        await fork.connect(twiml, path="fork")
        await fork.ws.send(b"\x00\x01binary")
        bad = {"event": "media", "streamSid": fork.stream_sid, "media": {"payload": "%%%"}}
        await fork.send(bad)
        await fork.say(synthesize("my card was stolen yesterday", VOICES[1]))
        for _ in range(60):
            await fork.media(b"\xff" * 160)
        await fork.stop()

    try:
        asyncio.run(call())
        end = bridge.ended(c.call_sid, within_s=30)
        assert end["outcome"] == "transferred", end
        events = bridge.events(c.call_sid)
        at = max(i for i, e in enumerate(events) if e["type"] == "call.transfer")
        after = [e["text"].lower() for e in events[at:]
                 if e["type"] == "transcript.final" and e["speaker"] == "caller"]  # fmt: skip
        assert any("stolen" in t for t in after), after
    finally:
        bridge.stop()
    assert bridge.proc.returncode == 0
