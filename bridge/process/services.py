"""The long-lived parts one bridge process shares: Redis, the database, the event
log, the store writer and the call registry. Started and stopped in order."""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from sqlalchemy import Engine

from bridge import metrics
from bridge.conversation.recording import RecordingsStore
from bridge.conversation.registry import CallRegistry
from bridge.events.consumer import ConsumerConfig, StreamConsumer
from bridge.events.lag import group_lag_s
from bridge.events.log import EventLog
from bridge.events.store_writer import GROUP as STORE_WRITER_GROUP
from bridge.events.store_writer import StoreWriter
from bridge.logs import get_logger
from bridge.process.embedded_redis import EmbeddedRedis
from bridge.settings import Settings
from bridge.store import migrate
from bridge.store.db import make_engine, ping

log = get_logger(__name__)

REDIS_CHECK_S = 0.5  # how often the embedded Redis is looked at


def redis_client(url: str) -> aioredis.Redis:
    # Few, quick retries: the event log and the consumers have their own retry loops
    # with buffering, so an outage should surface to them (and to metrics) fast.
    return aioredis.Redis.from_url(
        url,
        socket_timeout=5,
        socket_connect_timeout=2,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
    )


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.calls = CallRegistry()
        self.recordings = RecordingsStore(settings.data_dir / "recordings", settings.recordings)
        self.embedded_redis: EmbeddedRedis | None = None
        self.redis_url = ""
        self.redis: aioredis.Redis
        self.engine: Engine
        self.events: EventLog
        self._store_writer: StreamConsumer | None = None
        self._store_writer_task: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        # Events Redis had not taken when the process stopped: written here at the
        # stop, queued again at the next start.
        self.spill = settings.data_dir / "events.spill"

    async def start(self) -> None:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        if s.redis_url is None:
            self.embedded_redis = EmbeddedRedis(s.data_dir)
            self.redis_url = self.embedded_redis.start()
        else:
            self.redis_url = s.redis_url.get_secret_value()
        self.redis = redis_client(self.redis_url)
        self.engine = make_engine(s.effective_database_url)
        if s.auto_migrate:
            await asyncio.to_thread(migrate.upgrade, s.effective_database_url)
        self.events = EventLog(
            self.redis,
            s.events.stream,
            maxlen=s.events.stream_maxlen,
            buffer_max=s.events.buffer_max,
        )
        self.events.replay(self.spill)
        self.events.start()
        if self.embedded_redis is not None:
            self._supervisor = asyncio.create_task(self._supervise_redis(), name="redis-keeper")
        if s.store_writer.enabled:
            self._store_writer = StreamConsumer(
                self.redis,
                ConsumerConfig(
                    stream=s.events.stream,
                    group=STORE_WRITER_GROUP,
                    consumer=s.instance_id,
                    batch=s.store_writer.batch,
                ),
                StoreWriter(self.engine),
            )
            self._store_writer_task = asyncio.create_task(
                self._store_writer.run(), name="store-writer"
            )

    async def ready(self) -> dict[str, str]:
        """Check each dependency; the values are "ok" or what went wrong."""
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self.redis.ping(), 2)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unreachable: {type(exc).__name__}"
        try:
            await asyncio.wait_for(asyncio.to_thread(ping, self.engine), 2)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        if self.settings.store_writer.enabled:
            checks["store_writer"] = await self._store_writer_check()
        if self.recordings.enabled:
            try:
                checks["recordings"] = await asyncio.wait_for(
                    asyncio.to_thread(self.recordings.check), 2
                )
            except TimeoutError:
                checks["recordings"] = "unresponsive: the disk did not answer in 2 s"
        return checks

    async def _supervise_redis(self) -> None:
        """The embedded Redis is ours to keep alive: restarted within a second of dying
        (same data dir: its append-only file brings the streams back), while the event
        log buffers what calls say meanwhile."""
        redis = self.embedded_redis
        assert redis is not None
        while True:
            await asyncio.sleep(REDIS_CHECK_S)
            status = redis.exited
            if status is None:
                continue
            log.error("embedded redis died, restarting it", status=status)
            try:
                # On this (the loop's) thread: the server dies with the thread that
                # started it, and a pool thread may end; a start takes ~0.1 s.
                redis.restart()
            except Exception as exc:
                log.error("embedded redis did not restart; trying again", error=str(exc)[:300])
                await asyncio.sleep(REDIS_CHECK_S)

    async def _store_writer_check(self) -> str:
        """ "ok", or how far behind the writer is (a stuck writer, a database that
        refuses writes, a full disk all look like this from here)."""
        try:
            lag = await asyncio.wait_for(
                group_lag_s(self.redis, self.settings.events.stream, STORE_WRITER_GROUP), 2
            )
        except Exception as exc:
            return f"unknown: {type(exc).__name__}"
        metrics.STORE_WRITER_LAG.set(round(lag, 3))
        limit = self.settings.store_writer.max_lag_s
        return "ok" if lag <= limit else f"lagging: {lag:.0f} s behind (limit {limit:g} s)"

    async def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        await self.events.close(timeout=5, spill=self.spill)
        if self._store_writer is not None and self._store_writer_task is not None:
            # Give the writer a moment to persist what was just flushed, then stop it.
            self._store_writer.stop()
            try:
                await asyncio.wait_for(self._store_writer_task, self.settings.drain_timeout_s + 5)
            except TimeoutError:
                self._store_writer_task.cancel()
        await self.redis.aclose()
        self.engine.dispose()
        if self.embedded_redis is not None:
            self.embedded_redis.stop()
