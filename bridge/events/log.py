"""The publishing side of the event log.

``publish`` never blocks and never raises on a Redis outage: events go into a
bounded in-memory buffer that a background task appends to the stream in
pipelined batches. While Redis is away the buffer holds events (a gauge and a
log line say so) and they are appended, in order, when it returns. An append
that may or may not have reached Redis is retried; the duplicate that can leave
is harmless because consumers de-duplicate on ``(call_id, seq)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import deque
from collections.abc import Awaitable
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bridge import metrics
from bridge.events.schema import Envelope
from bridge.logs import get_logger

log = get_logger(__name__)

PIPELINE_BATCH = 500
_RETRY_MIN_S, _RETRY_MAX_S = 0.05, 1.0
# A Redis that accepts connections but does not answer (stopped, swapping, stuck)
# would hold an append for the client's whole socket timeout and retries: it counts
# as away after this long, and an idle log pings it this often, so either way it is
# noticed within ~2 s.
ANSWER_S = 1.0
HEARTBEAT_S = 1.0


class EventBufferFull(RuntimeError):
    """The local buffer is full: Redis has been unreachable for too long."""


class EventLog:
    def __init__(
        self,
        redis: aioredis.Redis,
        stream: str,
        *,
        maxlen: int = 1_000_000,
        buffer_max: int = 200_000,
    ) -> None:
        self._redis = redis
        self.stream = stream
        self._maxlen = maxlen
        self._buffer: deque[tuple[str, bytes]] = deque()
        self._buffer_max = buffer_max
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._redis_up = True
        self._task: asyncio.Task[None] | None = None
        metrics.REDIS_UP.set(1)

    # -- producer side ------------------------------------------------------------------

    def publish(self, event: Envelope) -> None:
        """Queue one event for the stream. Raises :class:`EventBufferFull` only when
        Redis has been away long enough to fill the buffer."""
        self.publish_raw(event.call_id, event.model_dump_json().encode())

    def publish_raw(self, call_id: str, payload: bytes) -> None:
        if len(self._buffer) >= self._buffer_max:
            metrics.EVENTS_REFUSED.inc()
            log.error(
                "event buffer full, event refused", call_id=call_id, buffered=len(self._buffer)
            )
            raise EventBufferFull(f"{len(self._buffer)} events waiting for Redis")
        self._buffer.append((call_id, payload))
        metrics.EVENT_BUFFER.set(len(self._buffer))
        self._idle.clear()
        self._wakeup.set()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def redis_up(self) -> bool:
        return self._redis_up

    # -- background flusher -------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="event-log-flusher")

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every buffered event is in Redis; False if ``timeout`` ran out."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 5.0, spill: Path | None = None) -> None:
        """Flush what is buffered (bounded by ``timeout``), then stop the flusher. What
        Redis did not take by then goes to ``spill`` (appended, one event a line), for
        :meth:`replay` at the next start: never dropped."""
        if self._buffer and not await self.flush(timeout):
            log.error("event log closed with events still buffered", buffered=len(self._buffer))
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._buffer and spill is not None:
            with spill.open("ab") as out:
                for call_id, payload in self._buffer:
                    out.write(json.dumps({"call_id": call_id}).encode() + b"\t" + payload + b"\n")
                out.flush()
                os.fsync(out.fileno())
            log.warning(
                "buffered events kept for the next start", events=len(self._buffer), file=str(spill)
            )
            self._buffer.clear()

    def replay(self, spill: Path) -> int:
        """Queue the events a previous run could not deliver, ahead of new ones, and
        remove the file (they are in the buffer now; the flusher delivers them)."""
        if not spill.exists():
            return 0
        n = 0
        for line in spill.read_bytes().splitlines():
            head, sep, payload = line.partition(b"\t")
            if not sep:
                continue  # a line cut short by a crash while writing it
            try:
                call_id = json.loads(head)["call_id"]
            except (ValueError, KeyError, TypeError):
                continue
            self._buffer.append((call_id, payload))
            n += 1
        spill.unlink()
        if n:
            metrics.EVENT_BUFFER.set(len(self._buffer))
            self._idle.clear()
            self._wakeup.set()
            log.info("events kept by the last run queued again", events=n)
        return n

    async def _run(self) -> None:
        delay = _RETRY_MIN_S
        while True:
            if not self._buffer:
                self._idle.set()
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), HEARTBEAT_S)
                if not self._buffer and not await self._answers(self._redis.ping()):
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _RETRY_MAX_S)
                continue
            batch = [self._buffer[i] for i in range(min(PIPELINE_BATCH, len(self._buffer)))]
            if not await self._answers(self._append(batch)):
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_S)
                continue
            for _ in batch:
                self._buffer.popleft()
            metrics.EVENTS_PUBLISHED.inc(len(batch))
            metrics.EVENT_BUFFER.set(len(self._buffer))
            delay = _RETRY_MIN_S

    async def _answers(self, request: Awaitable[object]) -> bool:
        """Whether Redis answered ``request`` within :data:`ANSWER_S`; the first
        failure and the first answer after them are logged and set the gauge."""
        try:
            await asyncio.wait_for(request, ANSWER_S)
        except (RedisError, OSError, TimeoutError) as exc:
            if self._redis_up:
                self._redis_up = False
                metrics.REDIS_UP.set(0)
                why = "not answering" if isinstance(exc, TimeoutError) else "unreachable"
                log.warning(
                    f"redis {why}, buffering events locally",
                    error=repr(exc),
                    buffered=len(self._buffer),
                )
            return False
        if not self._redis_up:
            self._redis_up = True
            metrics.REDIS_UP.set(1)
            log.info("redis reachable again", buffered=len(self._buffer))
        return True

    async def _append(self, batch: list[tuple[str, bytes]]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for call_id, payload in batch:
            pipe.xadd(
                self.stream,
                {"call_id": call_id, "e": payload},
                maxlen=self._maxlen,
                approximate=True,
            )
        await pipe.execute()
