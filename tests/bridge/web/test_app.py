"""The web app under a real uvicorn server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from bridge import metrics
from bridge.conversation.registry import Draining
from bridge.events.consumer import ConsumerConfig, StreamConsumer
from bridge.events.schema import CallEvents, CallStarted
from bridge.events.store_writer import GROUP as STORE_WRITER_GROUP
from bridge.events.store_writer import StoreWriter
from bridge.process.services import Services
from bridge.settings import Settings
from bridge.web.app import create_app
from bridge.web.body_limit import MAX_BODY_BYTES
from bridge.web.server import DrainingServer
from flows.nlu.encoder import shared
from harness.servers import free_port


@dataclass
class Running:
    url: str
    server: DrainingServer
    services: Services
    task: asyncio.Task[None]


async def _start(settings: Settings) -> Running:
    services = Services(settings)
    config = uvicorn.Config(create_app(services=services), host="127.0.0.1", port=0,
                            log_config=None, lifespan="on")  # fmt: skip
    server = DrainingServer(config, services)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), task.exception()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return Running(f"http://127.0.0.1:{port}", server, services, task)


@pytest.fixture
async def running(tmp_path: Path, database_url: str) -> AsyncIterator[Running]:
    r = await _start(Settings(data_dir=tmp_path, database_url=database_url, drain_timeout_s=5))
    yield r
    r.server.should_exit = True
    await asyncio.wait_for(r.task, 15)


async def test_health_ready_metrics_openapi(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.url) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {
            "redis": "ok",
            "database": "ok",
            "store_writer": "ok",
            "recordings": "ok",
            "calls": "accepting",
        }
        metrics = await client.get("/metrics")
        assert "callbridge_active_calls" in metrics.text
        assert metrics.headers["content-type"].startswith("text/plain")
        spec = (await client.get("/openapi.json")).json()
        assert {"/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
        assert spec["info"]["title"] == "callbridge"


async def test_readyz_is_503_when_the_database_is_down(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/none",
        auto_migrate=False,
        store_writer_enabled=False,
    )
    r = await _start(settings)
    try:
        async with httpx.AsyncClient(base_url=r.url) as client:
            ready = await client.get("/readyz")
            assert (await client.get("/healthz")).status_code == 200
    finally:
        r.server.should_exit = True
        await asyncio.wait_for(r.task, 15)
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["redis"] == "ok" and checks["database"].startswith("unreachable")


async def test_readyz_is_503_while_recordings_cannot_be_written(
    tmp_path: Path, database_url: str
) -> None:
    r = await _start(Settings(data_dir=tmp_path, database_url=database_url))
    try:
        async with httpx.AsyncClient(base_url=r.url) as client:
            assert (await client.get("/readyz")).status_code == 200
            (tmp_path / "recordings").rmdir()  # replaced by a file: calls cannot record
            (tmp_path / "recordings").write_text("")
            ready = await client.get("/readyz")
            (tmp_path / "recordings").unlink()  # put right: ready again, no restart
            again = await client.get("/readyz")
    finally:
        r.server.should_exit = True
        await asyncio.wait_for(r.task, 15)
    assert ready.status_code == 503
    assert ready.json()["checks"]["recordings"].startswith("unwritable: ")
    assert again.status_code == 200


async def test_the_flows_are_learned_before_the_first_call(
    tmp_path: Path, database_url: str
) -> None:
    """Understanding a flow the first time reads the sentence encoder and encodes its
    examples (≈0.5 s): done at start-up, not on the first caller's line."""
    example = f"an example sentence no other test has {tmp_path.name}"
    flow = tmp_path / "own.yaml"
    flow.write_text(
        "flow: own\nstart: menu\n"
        f'intents: {{ only: {{ examples: ["{example}"] }} }}\n'
        "defaults: { no_input: { then: bye }, no_match: { then: bye } }\n"
        "states:\n"
        "  menu: { ask: Hello?, intents: [only], on: { only: bye } }\n"
        "  bye: { hangup: Bye. }\n"
    )
    assert not shared().cached(example)
    r = await _start(Settings(data_dir=tmp_path, database_url=database_url, default_flow=flow))
    r.server.should_exit = True
    await asyncio.wait_for(r.task, 15)
    assert shared().cached(example)


async def test_shutdown_drains_calls_in_flight(running: Running) -> None:
    """While the calls drain, health is still served (issue 20, item 17): /healthz 200,
    /readyz 503 "draining", so an orchestrator tells draining from dead."""
    calls = running.services.calls
    calls.begin("call-in-flight")
    running.server.should_exit = True
    await asyncio.sleep(0.5)
    assert not running.task.done(), "exited with a call still in flight"
    with pytest.raises(Draining):
        calls.begin("late-call")
    async with httpx.AsyncClient(base_url=running.url) as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["calls"] == "draining"
    calls.end("call-in-flight")
    await asyncio.wait_for(running.task, 5)


async def test_drain_gives_up_after_the_timeout(tmp_path: Path) -> None:
    """The calls still held are ended from our side with their true reason (issue 20,
    item 18), not left to be stored as the caller's hang-up."""
    r = await _start(Settings(data_dir=tmp_path, drain_timeout_s=0.5))
    cut: list[str] = []

    async def end(reason: str) -> None:
        cut.append(reason)
        r.services.calls.end("stuck-call")

    r.services.calls.begin("stuck-call")
    r.services.calls.on_cut("stuck-call", end)
    loop = asyncio.get_running_loop()
    started = loop.time()
    r.server.should_exit = True
    await asyncio.wait_for(r.task, 10)
    assert 0.5 <= loop.time() - started < 5
    assert cut == ["drain_timeout"]


async def test_request_bodies_over_the_limit_are_refused_before_any_route_reads_them(
    running: Running,
) -> None:
    """Issue 20, item 14: an unsigned webhook or an anonymous JSON body of megabytes is
    413, declared or chunked, before signature checks or parsing hold it in memory."""
    big = b"x" * (MAX_BODY_BYTES + 1)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for i in range(0, len(big), 64_000):
            yield big[i : i + 64_000]

    async with httpx.AsyncClient(base_url=running.url) as client:
        declared = await client.post("/vonage/answer", content=big)
        assert declared.status_code == 413, declared.text
        chunked = await client.post(
            "/api/flows/validate", content=chunks(), headers={"content-type": "application/json"}
        )
        assert chunked.status_code == 413, chunked.text
        small = await client.post("/vonage/answer", content=b"{}")
        assert small.status_code in (401, 403), small.text  # the usual refusal
        assert (await client.get("/healthz")).status_code == 200


async def test_readyz_reports_a_store_writer_that_falls_behind(
    tmp_path: Path, database_url: str
) -> None:
    """Issue 20, item 10: a stuck writer (here: stopped) is 503 with how far behind it
    is, and the lag is a metric; once a writer catches up, ready again."""
    r = await _start(
        Settings(data_dir=tmp_path, database_url=database_url, store_writer_max_lag_s=0.5)
    )
    s = r.services
    try:
        async with httpx.AsyncClient(base_url=r.url) as client:
            assert (await client.get("/readyz")).json()["checks"]["store_writer"] == "ok"
            assert s._store_writer is not None and s._store_writer_task is not None
            s._store_writer.stop()
            await s._store_writer_task
            s.events.publish(CallEvents("lagging-call").make(CallStarted, carrier="test"))
            assert await s.events.flush(5)
            await asyncio.sleep(1.0)
            ready = await client.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["checks"]["store_writer"].startswith("lagging: ")
            assert metrics.STORE_WRITER_LAG._value.get() >= 1.0
            config = ConsumerConfig(s.settings.events.stream, STORE_WRITER_GROUP, "w2")
            writer = StreamConsumer(s.redis, config, StoreWriter(s.engine))
            task = asyncio.create_task(writer.run())
            for _ in range(100):
                if (await client.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await client.get("/readyz")).status_code == 200
            writer.stop()
            await task
    finally:
        r.server.should_exit = True
        await asyncio.wait_for(r.task, 15)
