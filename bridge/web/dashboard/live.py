"""One call's events as Server-Sent Events, read from the event log (Redis Streams).

Each event's id is its stream entry id, so a browser that reconnects (EventSource
sends ``Last-Event-ID``) resumes right after the last event it got: no gap, no
duplicate. A first connection starts at the call's beginning.

The stream holds every call's events. A viewer catches up once on its own (the
entries since its call began), then is fed by the process's :class:`LiveHub`: one
reader of the stream for all viewers, handing each event to the viewers of its call.
Viewers add no reads of the stream however many there are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from bridge.logs import get_logger

log = get_logger(__name__)

BLOCK_MS = 250  # how long one read waits: bounds the delay to a browser
BATCH = 500
BACKLOG = 1_000  # events a viewer may fall behind before it is dropped (it reconnects)
KEEP_ALIVE_S = 15.0

Entry = tuple[str, dict[str, Any]]  # stream id, event


def start_id(started_at: datetime | None) -> str:
    """A stream id a little before the call began (stream ids are milliseconds); a call
    not stored yet began moments ago: the last minute, not the whole stream."""
    ms = started_at.timestamp() * 1000 if started_at else time.time() * 1000 - 60_000
    return f"{max(0, int(ms) - 5000)}-0"


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, n = entry_id.partition("-")
    return int(ms), int(n or 0)


def _decode(entry_id: Any, fields: dict[Any, Any]) -> Entry | None:
    eid = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    raw = fields.get(b"e") or fields.get("e")
    try:
        event = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return (eid, event) if isinstance(event, dict) else None


class LiveHub:
    """Reads the event stream once for the whole process while anyone watches, and
    hands each event to the queues watching its call."""

    def __init__(self, redis: aioredis.Redis, stream: str) -> None:
        self._redis = redis
        self._stream = stream
        self._watchers: dict[str, set[asyncio.Queue[Entry | None]]] = {}
        self._reader: asyncio.Task[None] | None = None

    @property
    def watching(self) -> int:
        return sum(len(qs) for qs in self._watchers.values())

    async def subscribe(self, call_id: str) -> asyncio.Queue[Entry | None]:
        """A queue of the call's events appended from now on (None: fell behind)."""
        queue: asyncio.Queue[Entry | None] = asyncio.Queue(BACKLOG)
        self._watchers.setdefault(call_id, set()).add(queue)
        if self._reader is None or self._reader.done():
            newest = await self._redis.xrevrange(self._stream, count=1)
            after = newest[0][0] if newest else "0-0"
            after = after.decode() if isinstance(after, bytes) else str(after)
            self._reader = asyncio.create_task(self._read(after))
        return queue

    def unsubscribe(self, call_id: str, queue: asyncio.Queue[Entry | None]) -> None:
        queues = self._watchers.get(call_id, set())
        queues.discard(queue)
        if not queues:
            self._watchers.pop(call_id, None)
        if not self._watchers and self._reader is not None:
            self._reader.cancel()  # nobody watches: stop reading
            self._reader = None

    async def _read(self, after: str) -> None:
        last = after
        while True:
            try:
                batches = await self._redis.xread({self._stream: last}, BATCH, BLOCK_MS)
            except aioredis.RedisError as exc:
                log.warning("live view: the event stream is unreadable", error=str(exc)[:200])
                await asyncio.sleep(1.0)
                continue
            for entry_id, fields in batches[0][1] if batches else []:
                entry = _decode(entry_id, fields)
                if entry is None:
                    continue
                last = entry[0]
                for queue in list(self._watchers.get(entry[1].get("call_id", ""), ())):
                    self._offer(queue, entry)

    @staticmethod
    def _offer(queue: asyncio.Queue[Entry | None], entry: Entry) -> None:
        try:
            queue.put_nowait(entry)
        except asyncio.QueueFull:  # a stalled browser: end its stream, it resumes later
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            queue.put_nowait(None)


def _message(entry: Entry) -> str:
    eid, event = entry
    return f"id: {eid}\nevent: {event.get('type', 'event')}\ndata: {json.dumps(event)}\n\n"


async def _history(
    redis: aioredis.Redis, stream: str, call_id: str, after: str
) -> AsyncIterator[Entry]:
    """The call's entries already in the stream after ``after`` (one pass, in pages)."""
    start = f"({after}"
    while True:
        page = await redis.xrange(stream, min=start, max="+", count=BATCH)
        for entry_id, fields in page:
            entry = _decode(entry_id, fields)
            if entry is not None:
                start = f"({entry[0]}"
                if entry[1].get("call_id") == call_id:
                    yield entry
        if len(page) < BATCH:
            return


async def call_events(
    hub: LiveHub, redis: aioredis.Redis, stream: str, call_id: str, after: str
) -> AsyncIterator[str]:
    """SSE messages for ``call_id`` after stream id ``after``, until the call ends."""
    yield "retry: 1000\n\n"
    queue = await hub.subscribe(call_id)  # first: nothing appended from now on is missed
    try:
        last = after
        async for entry in _history(redis, stream, call_id, after):
            last = entry[0]
            yield _message(entry)
            if entry[1].get("type") == "call.ended":
                return
        while True:
            try:
                entry = await asyncio.wait_for(queue.get(), KEEP_ALIVE_S)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if entry is None:
                return  # fell behind: the browser reconnects from its last id
            if _order(entry[0]) <= _order(last):
                continue  # already sent while catching up
            last = entry[0]
            yield _message(entry)
            if entry[1].get("type") == "call.ended":
                return
    finally:
        hub.unsubscribe(call_id, queue)
