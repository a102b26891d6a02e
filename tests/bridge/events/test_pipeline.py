"""Publish → Redis stream → consumer group → store writer → database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select, text

from bridge.events.consumer import ConsumerConfig, StreamConsumer
from bridge.events.log import EventBufferFull, EventLog
from bridge.events.schema import (
    CallEnded,
    CallEvents,
    CallStarted,
    CarrierStatus,
    Envelope,
    TransferEvent,
)
from bridge.events.store_writer import StoreWriter
from bridge.process.services import redis_client
from bridge.store.db import make_engine
from bridge.store.models import Call, EventRecord, Leg, TranscriptSegment
from harness.servers import free_port
from harness.traffic import call_traffic


@pytest.fixture
async def event_log(redis_client: aioredis.Redis, stream_name: str) -> AsyncIterator[EventLog]:
    log = EventLog(redis_client, stream_name)
    log.start()
    yield log
    await log.close()


async def _wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def as_entries(events: list[Envelope]) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """Events as the consumer hands them to the store writer."""
    return [(f"1-{i}".encode(), {b"e": e.model_dump_json().encode()}) for i, e in enumerate(events)]


async def run_until_processed(consumer: StreamConsumer, n: int) -> None:
    task = asyncio.create_task(consumer.run())

    async def done() -> bool:
        return consumer.processed == n

    await _wait_for(done)
    consumer.stop()
    await task


async def test_publish_appends_in_order(
    event_log: EventLog, redis_client: aioredis.Redis, stream_name: str
) -> None:
    events = list(call_traffic(calls=5, per_call=20))
    for ev in events:
        event_log.publish(ev)
    assert await event_log.flush(5)
    entries = await redis_client.xrange(stream_name)
    assert [e[1][b"e"] for e in entries] == [ev.model_dump_json().encode() for ev in events]


async def test_store_writer_persists_everything_with_projections(
    event_log: EventLog, redis_client: aioredis.Redis, stream_name: str, migrated_url: str
) -> None:
    engine = make_engine(migrated_url)
    consumer = StreamConsumer(
        redis_client,
        ConsumerConfig(stream_name, "store-writer", "w1", batch=64),
        StoreWriter(engine),
    )
    task = asyncio.create_task(consumer.run())
    events = list(call_traffic(calls=10, per_call=30))
    for ev in events:
        event_log.publish(ev)

    async def all_stored() -> bool:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(EventRecord)) == len(events)

    await _wait_for(all_stored)
    consumer.stop()
    await task
    with engine.connect() as conn:
        calls = conn.execute(select(Call.id, Call.status, Call.duration_ms)).all()
        assert len(calls) == 10 and {c.status for c in calls} == {"completed"}
        assert {c.duration_ms for c in calls} == {29_000}
        segments = conn.scalar(select(func.count()).select_from(TranscriptSegment))
        assert segments == 10 * 28
        pending = await redis_client.xpending(stream_name, "store-writer")
        assert pending["pending"] == 0
    engine.dispose()


async def test_redelivered_batch_changes_nothing(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    writer = StoreWriter(engine)
    entries = [
        (f"1-{i}".encode(), {b"e": ev.model_dump_json().encode()})
        for i, ev in enumerate(call_traffic(calls=3, per_call=10))
    ]
    assert await writer(entries) == []
    assert await writer(entries[5:]) == []  # crash after commit, before ack: redelivered
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(EventRecord)) == 30
        assert conn.scalar(select(func.count()).select_from(TranscriptSegment)) == 3 * 8
        assert conn.scalar(select(func.count()).select_from(Call)) == 3
    engine.dispose()


async def test_each_source_numbers_its_own_events(migrated_url: str) -> None:
    """The call and the carrier both say seq 0 about one call: both are kept; the
    carrier's retried report (same source, same seq) is the same event."""
    engine = make_engine(migrated_url)
    writer = StoreWriter(engine)
    own = CallEvents("c1").make(CallStarted)
    carrier = CarrierStatus(
        call_id="c1", source="carrier", seq=0, ts=own.ts, carrier="twilio", status="ringing"
    )
    sent = [own, carrier, carrier]
    entries = [
        (f"1-{i}".encode(), {b"e": e.model_dump_json().encode()}) for i, e in enumerate(sent)
    ]
    assert await writer(entries) == []
    with engine.connect() as conn:
        rows = conn.execute(select(EventRecord.source, EventRecord.seq, EventRecord.type)).all()
    assert sorted(rows) == [("call", 0, "call.started"), ("carrier", 0, "call.carrier_status")]
    engine.dispose()


async def test_legs_open_with_the_call_and_a_connected_transfer_and_close_at_its_end(
    migrated_url: str,
) -> None:
    engine = make_engine(migrated_url)
    writer = StoreWriter(engine)
    events = CallEvents("c2")
    sent = [
        events.make(CallStarted, carrier="twilio", from_number="+447700900111"),
        events.make(TransferEvent, target="+441234567000", status="requested"),
        events.make(TransferEvent, target="+441234567000", status="connected"),
        events.make(CallEnded, reason="caller_hangup"),
    ]
    entries = as_entries(sent)
    assert await writer(entries[:3]) == []
    with engine.connect() as conn:
        open_legs = conn.execute(select(Leg.role, Leg.status)).all()
    assert sorted(open_legs) == [("agent", "active"), ("caller", "active")]
    assert await writer(entries) == []  # redelivered with the end: no leg twice
    with engine.connect() as conn:
        legs = conn.execute(select(Leg.role, Leg.remote, Leg.carrier, Leg.status)).all()
        ended = conn.scalar(select(func.count()).where(Leg.ended_at.is_not(None)))
    assert sorted(legs) == [
        ("agent", "+441234567000", "", "ended"),
        ("caller", "+447700900111", "twilio", "ended"),
    ]
    assert ended == 2
    engine.dispose()


async def test_an_event_of_a_type_this_build_does_not_know_is_stored_as_it_came(
    migrated_url: str,
) -> None:
    engine = make_engine(migrated_url)
    newer = json.dumps(
        {
            "type": "crm.pushed",
            "v": 3,
            "call_id": "c9",
            "source": "crm",
            "seq": 4,
            "ts": "2026-12-03T10:00:00Z",
            "system": "hubspot",
        }
    ).encode()
    assert await StoreWriter(engine)([(b"1-0", {b"e": newer})]) == []
    with engine.connect() as conn:
        row = conn.execute(select(EventRecord)).one()
    assert (row.source, row.seq, row.type, row.version) == ("crm", 4, "crm.pushed", 3)
    assert row.payload["system"] == "hubspot"
    engine.dispose()


async def test_undecodable_entries_go_to_dead_letters(
    redis_client: aioredis.Redis, stream_name: str, migrated_url: str
) -> None:
    engine = make_engine(migrated_url)
    good = CallEvents("c1").make(CallStarted)
    await redis_client.xadd(stream_name, {"e": b"{not json"})
    await redis_client.xadd(stream_name, {"other": b"field"})
    await redis_client.xadd(stream_name, {"e": good.model_dump_json()})
    consumer = StreamConsumer(
        redis_client, ConsumerConfig(stream_name, "store-writer", "w1"), StoreWriter(engine)
    )
    await run_until_processed(consumer, 3)
    assert await redis_client.xlen(f"{stream_name}:dead") == 2
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM events")) == 1
    engine.dispose()


async def test_consumer_resumes_its_own_pending_entries(
    redis_client: aioredis.Redis, stream_name: str, migrated_url: str
) -> None:
    """Entries read but not acknowledged (the consumer died) are handled on restart."""
    engine = make_engine(migrated_url)
    events = list(call_traffic(calls=2, per_call=10))
    for ev in events:
        await redis_client.xadd(stream_name, {"e": ev.model_dump_json()})
    await redis_client.xgroup_create(stream_name, "store-writer", id="0")
    # A consumer reads everything and dies before acknowledging.
    await redis_client.xreadgroup("store-writer", "w1", {stream_name: ">"}, count=100)
    consumer = StreamConsumer(
        redis_client, ConsumerConfig(stream_name, "store-writer", "w1"), StoreWriter(engine)
    )
    await run_until_processed(consumer, 20)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM events")) == 20
    engine.dispose()


async def test_abandoned_entries_of_a_dead_consumer_are_claimed(
    redis_client: aioredis.Redis, stream_name: str, migrated_url: str
) -> None:
    engine = make_engine(migrated_url)
    for ev in call_traffic(calls=1, per_call=5):
        await redis_client.xadd(stream_name, {"e": ev.model_dump_json()})
    await redis_client.xgroup_create(stream_name, "store-writer", id="0")
    await redis_client.xreadgroup("store-writer", "dead-one", {stream_name: ">"}, count=100)
    config = ConsumerConfig(stream_name, "store-writer", "w2", claim_idle_ms=50, claim_every_s=0.05)
    consumer = StreamConsumer(redis_client, config, StoreWriter(engine))
    await run_until_processed(consumer, 5)
    assert (await redis_client.xpending(stream_name, "store-writer"))["pending"] == 0
    engine.dispose()


async def test_buffer_is_bounded_while_redis_is_away() -> None:
    unreachable = redis_client(f"redis://127.0.0.1:{free_port()}/0")
    log = EventLog(unreachable, "s", buffer_max=100)
    log.start()
    ev = CallEvents("c")
    for _ in range(100):
        log.publish(ev.make(CallStarted))
    with pytest.raises(EventBufferFull):
        log.publish(ev.make(CallStarted))

    async def noticed() -> bool:
        return not log.redis_up

    await _wait_for(noticed, timeout=10)
    assert log.buffered == 100
    await log.close(timeout=0.1)
    await unreachable.aclose()


async def test_an_event_the_database_refuses_is_dead_lettered_and_the_rest_go_on(
    redis_client: aioredis.Redis, stream_name: str, migrated_url: str
) -> None:
    """Issue 20, item 7: one event no database column can hold (a sequence number past
    64 bits) used to stop every write, for ever. It is struck each time it fails alone,
    dead-lettered at the third strike, and the events around it are stored."""
    engine = make_engine(migrated_url)
    events = CallEvents("c1")
    before = events.make(CallStarted, carrier="test")
    poison = events.make(CallStarted, carrier="test").model_copy(update={"seq": 10**22})
    after = [events.make(CallStarted, carrier="test") for _ in range(3)]
    for ev in (before, poison, *after):
        await redis_client.xadd(stream_name, {"e": ev.model_dump_json()})
    consumer = StreamConsumer(
        redis_client, ConsumerConfig(stream_name, "store-writer", "w1"), StoreWriter(engine)
    )
    await run_until_processed(consumer, 5)
    [(_, dead)] = await redis_client.xrange(f"{stream_name}:dead")
    assert b'"seq":10000000000000000000000' in dead[b"e"]
    with engine.connect() as conn:
        stored = conn.scalars(text("SELECT seq FROM events ORDER BY seq")).all()
    assert stored == [before.seq, *(e.seq for e in after)]
    assert (await redis_client.xpending(stream_name, "store-writer"))["pending"] == 0
    # and the writer goes on with what comes next
    later = events.make(CallStarted, carrier="test")
    await redis_client.xadd(stream_name, {"e": later.model_dump_json()})
    consumer = StreamConsumer(
        redis_client, ConsumerConfig(stream_name, "store-writer", "w1"), StoreWriter(engine)
    )
    await run_until_processed(consumer, 1)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT max(seq) FROM events")) == later.seq
    engine.dispose()
