"""A real `callbridge serve` subprocess for the fault tests: its own data dir, embedded
Redis and SQLite, real ports, and the helpers that fill its disk and call it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from harness.servers import free_port
from tests.bridge.legs.twilio_caller import TwilioCaller

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


VONAGE_SECRET = "faults-vonage-signature-secret-32-bytes+"
