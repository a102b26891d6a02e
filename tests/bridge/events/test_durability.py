"""Nothing accepted is lost: a store writer killed mid-way, and Redis going away.

Each runs on the embedded defaults (SQLite + the embedded Redis) and on the
production pair (PostgreSQL + a Redis server).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import Engine, func, select, text

from bridge import metrics
from bridge.events.consumer import ConsumerConfig, StreamConsumer
from bridge.events.log import EventLog
from bridge.events.store_writer import StoreWriter
from bridge.process.embedded_redis import EmbeddedRedis
from bridge.process.services import redis_client
from bridge.process.services import redis_client as redis_client_for
from bridge.store import migrate
from bridge.store.db import make_engine
from bridge.store.models import EventRecord
from harness.servers import RedisServerProcess, free_port
from harness.traffic import call_traffic

PAIRS = [
    pytest.param("embedded", "sqlite", id="sqlite+embedded-redis"),
    pytest.param("server", "postgresql", id="postgresql+redis-server", marks=pytest.mark.postgres),
]
CALLBRIDGE = str(Path(sys.executable).with_name("callbridge"))


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(EventRecord)) or 0


def assert_complete_and_ordered(engine: Engine, calls: int, per_call: int) -> None:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT call_id, seq FROM events ORDER BY id")).all()
    assert len(rows) == calls * per_call
    assert len(set(rows)) == len(rows), "duplicate (call_id, seq)"
    by_call: dict[str, list[int]] = defaultdict(list)
    for call_id, seq in rows:
        by_call[call_id].append(seq)
    assert len(by_call) == calls
    for call_id, seqs in by_call.items():
        assert seqs == list(range(per_call)), f"{call_id} out of order or incomplete"


async def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize(("redis_kind", "db_kind"), PAIRS)
async def test_store_writer_killed_halfway_loses_nothing(
    redis_kind: str, db_kind: str, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue(f"{redis_kind}_redis_url")
    db_url = request.getfixturevalue(f"{db_kind}_url")
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    stream = f"test:{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "CALLBRIDGE_REDIS_URL": redis_url,
        "CALLBRIDGE_DATABASE_URL": db_url,
        "CALLBRIDGE_EVENT_STREAM": stream,
        "CALLBRIDGE_STORE_WRITER_BATCH": "100",
        "CALLBRIDGE_LOG_FORMAT": "json",
    }

    def start_writer() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [CALLBRIDGE, "events", "store-writer", "--consumer", "writer-1"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    client = redis_client(redis_url)
    log = EventLog(client, stream)
    log.start()
    writer = start_writer()
    try:
        events = list(call_traffic(calls=50, per_call=200))

        async def publish() -> None:
            for i in range(0, len(events), 250):  # 10,000 events over about 4 s
                for ev in events[i : i + 250]:
                    log.publish(ev)
                await asyncio.sleep(0.1)

        publisher = asyncio.create_task(publish())
        await _wait(lambda: _count(engine) >= 4000, 60, "the writer to reach halfway")
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        at_kill = _count(engine)
        assert at_kill < 10_000, "the writer finished before it could be killed"
        await publisher
        assert await log.flush(10)
        writer = start_writer()
        await _wait(lambda: _count(engine) >= 10_000, 60, "all events after the restart")
        await asyncio.sleep(0.3)  # anything extra (a duplicate) would land now
        assert_complete_and_ordered(engine, calls=50, per_call=200)
    finally:
        writer.send_signal(signal.SIGTERM)
        _, err = writer.communicate(timeout=10)
        await log.close()
        await client.delete(stream)
        await client.aclose()
        engine.dispose()
    assert writer.returncode == 0, err.decode()[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize(("redis_kind", "db_kind"), PAIRS)
async def test_redis_outage_of_ten_seconds_loses_nothing(
    redis_kind: str, db_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db_url = request.getfixturevalue(f"{db_kind}_url")
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    # A Redis of this test's own: it is stopped and started again mid-test.
    server = (
        EmbeddedRedis(tmp_path) if redis_kind == "embedded" else RedisServerProcess(tmp_path / "r")
    )
    url = server.start()
    client = redis_client(url)
    log = EventLog(client, "events")
    log.start()
    consumer = StreamConsumer(
        client, ConsumerConfig("events", "store-writer", "w1", batch=200), StoreWriter(engine)
    )
    consumer_task = asyncio.create_task(consumer.run())
    events = list(call_traffic(calls=20, per_call=250))  # 5,000 events over about 12.5 s
    peak_buffer = 0

    async def publish() -> None:
        nonlocal peak_buffer
        for i in range(0, len(events), 20):
            for ev in events[i : i + 20]:
                log.publish(ev)  # never blocks, never raises during the outage
            peak_buffer = max(peak_buffer, int(metrics.EVENT_BUFFER._value.get()))
            await asyncio.sleep(0.05)

    try:
        publisher = asyncio.create_task(publish())
        await asyncio.sleep(1.0)
        server.stop()
        await asyncio.sleep(10.0)
        assert not log.redis_up, "the outage went unnoticed"
        assert log.buffered > 1000
        server.start()
        await publisher
        assert await log.flush(30)
        await _wait(lambda: _count(engine) >= len(events), 60, "every event after the outage")
        await asyncio.sleep(0.3)
        assert log.redis_up
        assert peak_buffer > 1000
        assert_complete_and_ordered(engine, calls=20, per_call=250)
    finally:
        consumer.stop()
        await consumer_task
        await log.close()
        await client.aclose()
        server.stop()
        engine.dispose()


async def test_a_hung_redis_is_noticed_within_two_seconds_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    """Issue 20, item 9: a Redis stopped with SIGSTOP keeps its connections open and
    answers nothing; the gauge stayed 1 and nothing was logged for as long as it hung.
    Idle or publishing, the log now notices within ~2 s, buffers, and delivers it all
    when Redis answers again."""
    server = RedisServerProcess(tmp_path / "r")
    url = server.start()
    client = redis_client(url)
    log = EventLog(client, "events")
    log.start()
    ev = call_traffic(calls=1, per_call=40)
    try:
        log.publish(next(ev))
        assert await log.flush(5) and log.redis_up
        loop = asyncio.get_running_loop()
        server.pause()  # while the log is idle: only its heartbeat can notice
        paused = loop.time()
        await _wait(lambda: not log.redis_up, 5, "the hang noticed")
        assert loop.time() - paused < 2.5
        assert metrics.REDIS_UP._value.get() == 0
        for e in ev:
            log.publish(e)  # never blocks while Redis hangs
        await asyncio.sleep(1.0)
        assert log.buffered == 39
        server.resume()
        assert await log.flush(10) and log.redis_up
        assert await client.xlen("events") >= 40  # a retried append may add a duplicate
    finally:
        server.resume()
        await log.close()
        await client.aclose()
        server.stop()


async def test_events_redis_never_took_are_kept_at_the_stop_and_sent_at_the_next_start(
    tmp_path: Path, redis_client: aioredis.Redis, stream_name: str
) -> None:
    """Issue 20, item 8: at shutdown with Redis away the buffered events were dropped
    ("closed with events still buffered") and their calls stayed in progress for ever."""
    spill = tmp_path / "events.spill"
    away = redis_client_for(f"redis://127.0.0.1:{free_port()}/0")
    first = EventLog(away, stream_name)
    first.start()
    events = list(call_traffic(calls=3, per_call=10))
    for ev in events:
        first.publish(ev)
    await first.close(timeout=0.5, spill=spill)
    await away.aclose()
    assert len(spill.read_bytes().splitlines()) == 30
    second = EventLog(redis_client, stream_name)
    assert second.replay(spill) == 30 and not spill.exists()
    second.start()
    assert await second.flush(10)
    stored = [f[b"e"] for _, f in await redis_client.xrange(stream_name)]
    assert stored == [ev.model_dump_json().encode() for ev in events]  # all, in order
    await second.close()
