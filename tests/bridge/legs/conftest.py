"""The bridge under uvicorn on loopback, with fakes of the carriers' REST APIs and a CRM."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI

from bridge.settings import Settings
from bridge.web.app import create_app
from harness.servers import free_port
from tests.fakes.twilio_rest import FakeTwilio
from tests.fakes.vonage_rest import FakeVonage, rsa_key, self_signed

ACCOUNT, TOKEN = "AC" + "1" * 32, "twilio-test-auth-token"
VONAGE_APP = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
VONAGE_SECRET = "vonage-signature-secret-of-32-bytes-or-more"
VONAGE_KEY = rsa_key()
STARTUP_S = 60.0


async def serve(app: FastAPI, port: int, **tls: Any) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            port=port,
            log_level="warning",
            ws_ping_interval=None,
            timeout_graceful_shutdown=2,
            **tls,
        )
    )
    task = asyncio.create_task(server.serve())
    # Start-up runs the app's lifespan first (SIP workers, Kamailio, learning the
    # flows): seconds on a busy 2-core machine. Tests start once it listens, never before.
    deadline = time.monotonic() + STARTUP_S
    while not server.started:
        if task.done():
            task.result()  # start-up failed: its error, not a later "connection refused"
            raise RuntimeError("the server stopped before it listened")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server did not listen within {STARTUP_S} s")
        await asyncio.sleep(0.01)
    return server, task


@dataclass
class Bridge:
    base: str
    app: FastAPI
    twilio: FakeTwilio
    vonage: FakeVonage
    redis: aioredis.Redis
    stream: str
    sip_port: int = 0

    async def calls(self) -> list[str]:
        """Ids of the calls on the event log, in the order they started."""
        out = []
        for _, fields in await self.redis.xrange(self.stream):
            ev = json.loads(fields[b"e"])
            if ev["type"] == "call.started":
                out.append(ev["call_id"])
        return out

    async def events(self, call_id: str, settle_s: float = 5.0) -> list[dict[str, Any]]:
        """The call's events in order. A call that has just ended on the wire may not
        have its last events on the stream yet: wait up to ``settle_s`` for call.ended."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settle_s
        while True:
            out = []
            for _, fields in await self.redis.xrange(self.stream):
                ev = json.loads(fields[b"e"])
                if ev["call_id"] == call_id:
                    out.append(ev)
            out.sort(key=lambda e: e["seq"])
            if (out and out[-1]["type"] == "call.ended") or loop.time() >= deadline:
                return out
            await asyncio.sleep(0.05)


@pytest.fixture
async def bridge(
    tmp_path: Path, redis_url: str, stream_name: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Bridge]:
    async with running_bridge(tmp_path, redis_url, stream_name, monkeypatch) as b:
        yield b


@asynccontextmanager
async def running_bridge(
    tmp_path: Path,
    redis_url: str,
    stream_name: str,
    monkeypatch: pytest.MonkeyPatch,
    **extra: Any,
) -> AsyncIterator[Bridge]:
    vonage = FakeVonage(VONAGE_APP, VONAGE_KEY[1])
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # the SDK trusts our test CA
    vonage_port = free_port()
    vonage_server, vonage_task = await serve(
        vonage.app(), vonage_port, ssl_certfile=str(cert), ssl_keyfile=str(key)
    )
    twilio = FakeTwilio(ACCOUNT, TOKEN)
    fakes = twilio.app()

    @fakes.post("/cards/verify")
    async def verify(body: dict[str, Any]) -> dict[str, Any]:
        return {"verified": True, "status": "active", "balance": 250}

    fake_port, port = free_port(), free_port()
    fake_server, fake_task = await serve(fakes, fake_port)
    settings = Settings(
        data_dir=tmp_path,
        redis_url=redis_url,
        database_url=f"sqlite:///{tmp_path}/cb.db",
        public_url=f"http://127.0.0.1:{port}",
        port=port,
        event_stream=stream_name,
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_api_url=f"http://127.0.0.1:{fake_port}",
        lookup_hosts={"http://crm.internal": f"http://127.0.0.1:{fake_port}"},
        store_writer_enabled=False,
        vonage_application_id=VONAGE_APP,
        vonage_private_key=VONAGE_KEY[0],
        vonage_signature_secret=VONAGE_SECRET,
        vonage_api_host=f"127.0.0.1:{vonage_port}",
        queue_targets={"cards": "+441234567000"},
        **extra,
    )
    app = create_app(settings)
    server, task = await serve(app, port)
    client = aioredis.Redis.from_url(redis_url)
    yield Bridge(
        f"http://127.0.0.1:{port}", app, twilio, vonage, client, stream_name, settings.sip.port
    )
    await client.aclose()
    for s, t in ((server, task), (fake_server, fake_task), (vonage_server, vonage_task)):
        s.should_exit = True
        await t
