"""Events per second through publish → Redis stream → store writer → database.

Runs the real pipeline (EventLog, a consumer group, StoreWriter) on SQLite with the
embedded Redis and on PostgreSQL with a Redis server, batched (the product's path)
and one row per INSERT/COMMIT (the baseline), and prints the medians of a few runs.
The last line is one JSON object.

    .venv/bin/python -m bench.events [--events 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from bridge.events.consumer import ConsumerConfig, StreamConsumer
from bridge.events.log import EventLog
from bridge.events.store_writer import StoreWriter
from bridge.process.embedded_redis import EmbeddedRedis
from bridge.process.services import redis_client
from bridge.store import migrate
from bridge.store.db import make_engine
from harness.servers import REDIS_SERVER_URL, pg_available, pg_database, redis_answers
from harness.traffic import call_traffic


async def one_run(redis_url: str, db_url: str, n: int, *, single_row: bool, batch: int) -> float:
    """Seconds from the first publish until the last event is durable and acknowledged."""
    engine = make_engine(db_url)
    client = redis_client(redis_url)
    stream = f"bench:{uuid.uuid4().hex}"
    events = list(call_traffic(calls=max(1, n // 200), per_call=min(n, 200), seed=n))
    log = EventLog(client, stream, buffer_max=len(events) + 1)
    consumer = StreamConsumer(
        client,
        ConsumerConfig(stream, "store-writer", "bench", batch=batch, block_ms=100),
        StoreWriter(engine, single_row=single_row),
    )
    await consumer.ensure_group()
    task = asyncio.create_task(consumer.run())
    log.start()
    started = time.perf_counter()
    for i, ev in enumerate(events):
        log.publish(ev)
        if i % 1000 == 999:
            await asyncio.sleep(0)  # a producer that yields, like a live call loop
    while consumer.processed < len(events):  # noqa: ASYNC110 - a cheap poll of a counter
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - started
    consumer.stop()
    await task
    await log.close()
    await client.delete(stream)
    await client.aclose()
    engine.dispose()
    return elapsed


async def measure(redis_url: str, db_url: str, n: int, runs: int, **kw: object) -> float:
    rates = []
    for _ in range(runs):
        elapsed = await one_run(redis_url, db_url, n, **kw)  # type: ignore[arg-type]
        rates.append(n / elapsed)
    return statistics.median(rates)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--single-events", type=int, default=2_000, help="events for the baseline")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    result: dict[str, float | str | None] = {}

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cb-bench-")))
        embedded = EmbeddedRedis(tmp)
        embedded_url = embedded.start()
        stack.callback(embedded.stop)
        setups = {"sqlite": (embedded_url, f"sqlite:///{tmp / 'bench.db'}")}
        why_no_pg = pg_available()
        if why_no_pg is None and redis_answers(REDIS_SERVER_URL):
            setups["pg"] = (REDIS_SERVER_URL, stack.enter_context(pg_database()))
        else:
            why = why_no_pg or f"no Redis server at {REDIS_SERVER_URL}"
            print(f"PostgreSQL part skipped: {why}")
            result["pg_events_per_s"] = None

        ratios = []
        for name, (redis_url, db_url) in setups.items():
            migrate.upgrade(db_url)
            batched = await measure(redis_url, db_url, args.events, args.runs,
                                    single_row=False, batch=args.batch)  # fmt: skip
            single = await measure(redis_url, db_url, args.single_events, args.runs,
                                   single_row=True, batch=args.batch)  # fmt: skip
            ratios.append(batched / single)
            print(f"{name:6s} batched {batched:9.0f} events/s   one row per insert "
                  f"{single:7.0f} events/s   ratio {batched / single:5.1f}x")  # fmt: skip
            result[f"{name}_events_per_s"] = round(batched)
            result[f"{name}_single_row_events_per_s"] = round(single)
        result["batched_vs_single"] = round(min(ratios), 1)
        result["goal_pg_events_per_s"] = 5000
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
