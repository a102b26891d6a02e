"""One call's events as Server-Sent Events, read from the event log (Redis Streams).

Each event's id is its stream entry id, so a browser that reconnects (EventSource
sends ``Last-Event-ID``) resumes right after the last event it got: no gap, no
duplicate. A first connection starts at the call's beginning.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import datetime

import redis.asyncio as aioredis

BLOCK_MS = 250  # how long one read waits: bounds the delay to a browser
BATCH = 500


def start_id(started_at: datetime | None) -> str:
    """A stream id a little before the call began (stream ids are milliseconds); a call
    not stored yet began moments ago: the last minute, not the whole stream."""
    ms = started_at.timestamp() * 1000 if started_at else time.time() * 1000 - 60_000
    return f"{max(0, int(ms) - 5000)}-0"


async def call_events(
    redis: aioredis.Redis, stream: str, call_id: str, after: str
) -> AsyncIterator[str]:
    """SSE messages for ``call_id`` after stream id ``after``, until the call ends."""
    last = after
    yield "retry: 1000\n\n"
    while True:
        batches = await redis.xread({stream: last}, count=BATCH, block=BLOCK_MS)
        if not batches:
            yield ": keep-alive\n\n"
            continue
        for entry_id, fields in batches[0][1]:
            last = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            raw = fields.get(b"e") or fields.get("e")
            try:
                ev = json.loads(raw)
            except (TypeError, ValueError):
                continue
            if ev.get("call_id") != call_id:
                continue
            yield f"id: {last}\nevent: {ev.get('type', 'event')}\ndata: {json.dumps(ev)}\n\n"
            if ev.get("type") == "call.ended":
                return
