"""The store writer as a process of its own (``callbridge events store-writer``)."""

from __future__ import annotations

import asyncio
import signal

from bridge.events.consumer import ConsumerConfig, StreamConsumer
from bridge.events.store_writer import GROUP, StoreWriter
from bridge.logs import get_logger
from bridge.process.services import redis_client
from bridge.settings import Settings
from bridge.store import migrate
from bridge.store.db import make_engine

log = get_logger(__name__)


async def run(settings: Settings, consumer_name: str) -> None:
    assert settings.redis_url is not None
    if settings.auto_migrate:
        await asyncio.to_thread(migrate.upgrade, settings.effective_database_url)
    redis = redis_client(settings.redis_url.get_secret_value())
    engine = make_engine(settings.effective_database_url)
    consumer = StreamConsumer(
        redis,
        ConsumerConfig(
            stream=settings.events.stream,
            group=GROUP,
            consumer=consumer_name,
            batch=settings.store_writer.batch,
        ),
        StoreWriter(engine),
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, consumer.stop)
    log.info("store writer running", stream=settings.events.stream, consumer=consumer_name)
    try:
        await consumer.run()
    finally:
        await redis.aclose()
        engine.dispose()
        log.info("store writer stopped", processed=consumer.processed)
