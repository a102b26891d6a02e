"""A call's events go through the event log (Redis Streams) into the database."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.conversation.lookups import StaticLookup
from bridge.events.consumer import ConsumerConfig, StreamConsumer
from bridge.events.log import EventLog
from bridge.events.store_writer import StoreWriter
from bridge.legs.virtual import VirtualLeg, run_call
from bridge.store.db import make_engine
from bridge.store.models import Call, EventRecord, TranscriptSegment
from tests.bridge.conversation.calls import CARDS, VERIFY, engine, script


async def test_every_fact_of_a_call_reaches_the_database(
    redis_client: aioredis.Redis, stream_name: str, migrated_url: str
) -> None:
    log = EventLog(redis_client, stream_name)
    log.start()
    leg = VirtualLeg(
        script("what is my balance", "the fourth of July nineteen eighty two", "#4111#")
    )
    answers = {VERIFY: {"verified": True, "status": "active", "balance": 250}}
    rt = await run_call(CARDS, engine(), leg, emit=log.publish, lookup=StaticLookup(answers),
                        flow_version=CARDS.version, call_id="stored-call-1")  # fmt: skip
    assert await log.flush(10)
    await log.close()
    published = await redis_client.xlen(stream_name)

    db = make_engine(migrated_url)
    consumer = StreamConsumer(
        redis_client, ConsumerConfig(stream_name, "store-writer", "w1"), StoreWriter(db)
    )
    task = asyncio.create_task(consumer.run())
    for _ in range(500):
        if consumer.processed >= published:
            break
        await asyncio.sleep(0.02)
    consumer.stop()
    await task

    with Session(db) as s:
        call = s.get(Call, "stored-call-1")
        assert call is not None and call.flow_name == "card_services" and call.flow_version == 1
        assert call.outcome == rt.result.outcome and call.ended_at is not None
        kinds = set(s.scalars(select(EventRecord.type).where(EventRecord.call_id == call.id)))
        segments = s.scalars(
            select(TranscriptSegment).where(TranscriptSegment.call_id == call.id)
            .order_by(TranscriptSegment.seq)
        ).all()  # fmt: skip
    assert {"call.started", "flow.state_entered", "flow.intent", "call.dtmf", "turn.latency",
            "transcript.final", "call.ended"} <= kinds  # fmt: skip
    texts = [(seg.speaker, seg.text) for seg in segments]
    assert ("bot", "Your available balance is 250 pounds.") in texts
    assert any(sp == "caller" and "july" in t for sp, t in texts)
    assert all(seg.start_ms is not None and seg.end_ms is not None for seg in segments)
    db.dispose()
