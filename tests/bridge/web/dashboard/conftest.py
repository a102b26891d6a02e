"""The bridge serving its dashboard on loopback, with one user of each role, and a way to
put a simulated call on the event log."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bridge.events.schema import CallEnded, CallEvents, CallStarted, StateEntered, TranscriptFinal
from bridge.process.services import Services
from bridge.settings import Settings
from bridge.web.app import create_app

PASSWORD = "correct horse battery"
USERS = {"agent": "ann", "supervisor": "sue", "admin": "ada"}


@dataclass
class Dashboard:
    url: str
    services: Services
    app: Any

    async def client(self, role: str | None) -> httpx.AsyncClient:
        """A browser-like client, logged in as the user of ``role`` (None: nobody)."""
        c = httpx.AsyncClient(base_url=self.url, follow_redirects=False, timeout=10)
        if role is not None:
            page = await c.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf, page.text
            r = await c.post("/login", data={"username": USERS[role], "password": PASSWORD,
                                             "csrf": csrf.group(1), "next": "/"})  # fmt: skip
            assert r.status_code == 303 and "error" not in r.headers["location"], r.headers
        return c

    async def csrf(self, c: httpx.AsyncClient) -> str:
        page = await c.get("/login")
        found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert found
        return found.group(1)

    def call(self) -> SimulatedCall:
        return SimulatedCall(self.services, uuid.uuid4().hex)


class SimulatedCall:
    """A call's events published as the runtime would (the store writer stores them)."""

    def __init__(self, services: Services, call_id: str) -> None:
        self.services, self.id = services, call_id
        self.events = CallEvents(call_id)
        self.ms = 0

    def emit(self, cls: type, **fields: Any) -> None:
        self.services.events.publish(self.events.make(cls, **fields))

    def start(self, caller: str = "+447700900123", flow: str = "card_services") -> None:
        self.emit(CallStarted, carrier="twilio", from_number=caller, to_number="+441234567890",
                  flow_name=flow, flow_version=1)  # fmt: skip
        self.emit(StateEntered, flow=flow, state="greet")

    def say(self, speaker: str, text: str, ms: int = 1500) -> None:
        self.emit(TranscriptFinal, speaker=speaker, text=text, start_ms=self.ms,
                  end_ms=self.ms + ms)  # fmt: skip
        self.ms += ms + 300

    def end(self, outcome: str = "completed") -> None:
        self.emit(CallEnded, reason="caller_hangup", outcome=outcome, duration_ms=self.ms)


async def stored(services: Services, call_id: str, timeout: float = 10.0) -> None:
    """Wait until the store writer has the call."""
    from sqlalchemy.orm import Session

    from bridge.store.models import Call

    for _ in range(int(timeout / 0.05)):
        with Session(services.engine) as s:
            if s.get(Call, call_id) is not None:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the call never reached the database")


@pytest.fixture
async def dashboard(
    tmp_path: Path, database_url: str, redis_url: str, stream_name: str
) -> AsyncIterator[Dashboard]:
    settings = Settings(data_dir=tmp_path, database_url=database_url, redis_url=redis_url,
                        event_stream=stream_name, sip_port=0, drain_timeout_s=2,
                        store_writer_batch=50)  # fmt: skip
    services = Services(settings)
    app = create_app(services=services)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None,
                                           lifespan="on", timeout_graceful_shutdown=1))  # fmt: skip
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), task.exception()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    for role, name in USERS.items():
        app.state.users.add(name, role, PASSWORD)
    yield Dashboard(f"http://127.0.0.1:{port}", services, app)
    server.should_exit = True
    await asyncio.wait_for(task, 20)
