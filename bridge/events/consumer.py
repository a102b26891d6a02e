"""The consuming side of the event log: one consumer of a Redis consumer group.

Entries are acknowledged only after the handler returns, i.e. after its work is
durable. A consumer that died leaves its entries pending: on restart it first
re-reads its own pending entries, and it periodically claims entries that other
consumers left idle for too long. Entries that cannot be decoded are moved to a
dead-letter stream so one bad record never stalls the group.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from bridge import metrics
from bridge.logs import get_logger

log = get_logger(__name__)

StreamEntry = tuple[bytes, dict[bytes, bytes]]
Handler = Callable[[Sequence[StreamEntry]], Awaitable[Sequence[bytes]]]
"""Processes a batch and returns the ids of entries to dead-letter (undecodable)."""


@dataclass(frozen=True)
class ConsumerConfig:
    stream: str
    group: str
    consumer: str
    batch: int = 500
    block_ms: int = 1000
    claim_idle_ms: int = 30_000
    claim_every_s: float = 10.0


class StreamConsumer:
    def __init__(self, redis: aioredis.Redis, config: ConsumerConfig, handler: Handler) -> None:
        self._redis = redis
        self.config = config
        self._handler = handler
        self._stop = asyncio.Event()
        self.processed = 0

    def stop(self) -> None:
        self._stop.set()

    async def ensure_group(self) -> None:
        try:
            # From the start of the stream: nothing published before the group existed is lost.
            await self._redis.xgroup_create(
                self.config.stream, self.config.group, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        cfg = self.config
        backlog = True  # our own pending entries come first after any start or failure
        delay = 0.05
        next_claim = 0.0
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            try:
                if backlog:
                    await self.ensure_group()
                if loop.time() >= next_claim:
                    await self._claim_abandoned()
                    next_claim = loop.time() + cfg.claim_every_s
                entries = await self._read("0" if backlog else ">")
                if backlog and not entries:
                    backlog = False
                    continue
                if entries:
                    await self._process(entries)
                delay = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                metrics.CONSUMER_ERRORS.labels(cfg.group).inc()
                log.warning(
                    "consumer failed, retrying", group=cfg.group, error=repr(exc), retry_in_s=delay
                )
                backlog = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(delay * 2, 2.0)

    async def _read(self, start: str) -> list[StreamEntry]:
        cfg = self.config
        read = asyncio.ensure_future(
            self._redis.xreadgroup(
                cfg.group,
                cfg.consumer,
                {cfg.stream: start},
                count=cfg.batch,
                block=None if start == "0" else cfg.block_ms,
            )
        )
        # A blocking read must not hold up stop(): whatever it would have returned stays
        # in the stream (unread, or pending for this consumer) for the next run.
        stopped = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({read, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not read.done():
            read.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await read
            return []
        reply = read.result()
        if not reply:
            return []
        # Pending entries that were trimmed away come back as (id, None): ack and skip them.
        entries = reply[0][1]
        gone = [eid for eid, fields in entries if fields is None]
        if gone:
            await self._redis.xack(cfg.stream, cfg.group, *gone)
        return [(eid, fields) for eid, fields in entries if fields is not None]

    async def _process(self, entries: list[StreamEntry]) -> None:
        cfg = self.config
        dead = await self._handler(entries)
        if dead:
            pipe = self._redis.pipeline(transaction=False)
            by_id = dict(entries)
            for eid in dead:
                pipe.xadd(
                    f"{cfg.stream}:dead", {**by_id[eid], b"from_id": eid, b"group": cfg.group}
                )
            await pipe.execute()
            metrics.DEAD_LETTERS.labels(cfg.group).inc(len(dead))
            log.error(
                "undecodable events moved to dead-letter stream",
                count=len(dead),
                stream=f"{cfg.stream}:dead",
            )
        await self._redis.xack(cfg.stream, cfg.group, *[eid for eid, _ in entries])
        self.processed += len(entries)

    async def _claim_abandoned(self) -> None:
        """Take over entries another consumer read but never acknowledged (it died)."""
        cfg = self.config
        start = "0-0"
        while True:
            reply = await self._redis.xautoclaim(
                cfg.stream,
                cfg.group,
                cfg.consumer,
                cfg.claim_idle_ms,
                start_id=start,
                count=cfg.batch,
            )
            start, claimed = reply[0], reply[1]
            claimed = [(eid, f) for eid, f in claimed if f]
            if claimed:
                log.info("claimed abandoned events", group=cfg.group, count=len(claimed))
                await self._process(claimed)
            if start in (b"0-0", "0-0"):
                return
