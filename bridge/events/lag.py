"""How far a consumer group is behind its stream, in seconds: the age of the oldest
event it has not finished with (read but not acknowledged, or not read yet). Stream
ids start with the millisecond they were added, so no event has to be parsed.

A store writer that is stuck (a database that refuses writes, a disk that is full, a
writer that died) shows here as a lag that grows, whatever the cause.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from redis.exceptions import ResponseError


def _ms(entry_id: bytes | str) -> int:
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(raw.split("-", 1)[0])


async def group_lag_s(redis: aioredis.Redis, stream: str, group: str) -> float:
    """Seconds since the oldest event ``group`` has not finished with was added; 0 when
    it is up to date (or the stream and group do not exist yet)."""
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no such stream yet: nothing to be behind on
        return 0.0
    ours = next((g for g in groups if _name(g) == group), None)
    if ours is None:
        return 0.0
    oldest: int | None = None
    pending = await redis.xpending(stream, group)
    if pending["pending"]:
        oldest = _ms(pending["min"])
    last = ours["last-delivered-id"]
    unread = await redis.xrange(stream, min=f"({_text(last)}", count=1)
    if unread:
        first = _ms(unread[0][0])
        oldest = first if oldest is None else min(oldest, first)
    if oldest is None:
        return 0.0
    return max(0.0, time.time() - oldest / 1000)


def _name(group: dict[str, object]) -> str:
    return _text(group["name"])


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
