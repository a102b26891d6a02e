"""The process's services: the embedded Redis kept alive (issue 20, item 8)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from bridge.events.schema import CallEvents, CallStarted
from bridge.process.services import Services
from bridge.settings import Settings


async def test_a_killed_embedded_redis_is_restarted_with_its_data_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    s = Services(Settings(data_dir=tmp_path, store_writer_enabled=False))
    await s.start()
    try:
        stream = s.settings.events.stream
        events = CallEvents("kept-call")
        s.events.publish(events.make(CallStarted, carrier="test"))
        assert await s.events.flush(5)
        redis = s.embedded_redis
        assert redis is not None and redis.pid is not None
        os.kill(redis.pid, signal.SIGKILL)
        for _ in range(20):  # calls go on talking meanwhile
            s.events.publish(events.make(CallStarted, carrier="test"))
            await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        killed = loop.time()
        while redis.exited is not None or not await _answers(s):
            assert loop.time() - killed < 5, "the embedded redis was not restarted"
            await asyncio.sleep(0.1)
        assert await s.events.flush(10)
        # the event before the kill came back from the append-only file; the ones said
        # while it was down were buffered and delivered
        assert await s.redis.xlen(stream) >= 21
    finally:
        await s.stop()


async def _answers(s: Services) -> bool:
    try:
        return bool(await asyncio.wait_for(s.redis.ping(), 1))
    except Exception:
        return False
