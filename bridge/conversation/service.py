"""Starting and ending calls in a serving process: the part every carrier leg shares.

A leg brings a call in; :class:`CallService` picks its flow (by dialled number,
else the default), its speech engine, admits it (or refuses while draining),
runs it with events going to the event log, and forgets it when it ends.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import redis.asyncio as aioredis

from bridge import logs
from bridge.conversation.context import LegControl
from bridge.conversation.lookups import HttpLookup
from bridge.conversation.recording import RecordingsStore
from bridge.conversation.registry import CallRegistry
from bridge.conversation.runtime import CallRuntime
from bridge.engines.base import SpeechEngine
from bridge.engines.registry import engine_for, fallback_for
from bridge.events.schema import Envelope
from bridge.settings import Settings
from flows.loader import load
from flows.model import Flow
from flows.nlu import Matcher
from media.line_codec import LineCodec

log = logs.get_logger(__name__)

# A carrier may stream one call more than once (Twilio does when the call is sent back
# to /twilio/voice). Each stream is a leg of its own, numbered from 1: leg n numbers
# its events from (n - 1) * LEG_SEQ_SPAN (below the carriers' own, from 10^9) and
# records to "<call id>-<n>.wav", so neither collides with the legs before it.
LEG_SEQ_SPAN = 10_000_000
LEGS_KEPT_S = 86_400  # how long a call id's leg count is remembered


class LegCount:
    """How many times each call id has been streamed: in Redis, so every bridge agrees
    (a second stream may reach another node), else in this process."""

    def __init__(self, redis: Callable[[], aioredis.Redis | None] = lambda: None) -> None:
        self._redis = redis
        self._local: Counter[str] = Counter()

    async def next(self, call_id: str) -> int:
        redis = self._redis()
        if redis is not None:
            key = f"callbridge:legs:{call_id}"
            try:
                n = int(await asyncio.wait_for(redis.incr(key), 1))
                await asyncio.wait_for(redis.expire(key, LEGS_KEPT_S), 1)
                return n
            except Exception as exc:  # the call goes on; a second stream may collide
                log.warning("leg count from redis failed", call_id=call_id, error=repr(exc))
        self._local[call_id] += 1
        return self._local[call_id]


class CallService:
    def __init__(
        self,
        settings: Settings,
        calls: CallRegistry,
        emit: Callable[[Envelope], None],
        recordings: RecordingsStore | None = None,
        legs: LegCount | None = None,
    ) -> None:
        self.settings, self.calls = settings, calls
        self.recordings = recordings or RecordingsStore(
            settings.data_dir / "recordings", settings.recordings
        )
        self._emit = emit
        self.legs = legs or LegCount()
        self._flows: dict[Path, Flow] = {}
        self.lookup = HttpLookup(settings.lookup_hosts)
        self.runtimes: dict[str, CallRuntime] = {}
        self.engine: SpeechEngine | None = None  # when set, every call uses it (load tests)

    def flow_for(self, dialled: str) -> Flow:
        """The flow for a dialled number; loaded once (a call keeps the object it got)."""
        path = Path(self.settings.number_flows.get(dialled, self.settings.default_flow))
        if path not in self._flows:
            self._flows[path] = load(path)
        return self._flows[path]

    def warm(self) -> None:
        """Load the flows this process answers with and learn their intents now, not on a
        caller's line: the first understanding of a flow reads the sentence encoder and
        encodes its examples (≈0.5 s). Blocking: run it in a thread."""
        for dialled in ["", *self.settings.number_flows]:
            try:
                Matcher(self.flow_for(dialled))
            except Exception as exc:  # the first call reports it again, and falls back
                log.warning("flow could not be prepared", dialled=dialled, error=str(exc))

    def emit(self, event: Envelope) -> None:
        self._emit(event)

    async def start(
        self,
        leg: LegControl,
        *,
        carrier: str,
        caller: str,
        dialled: str,
        call_id: str | None = None,
        line: LineCodec | None = None,
    ) -> CallRuntime:
        """Admit and start a call; raises :class:`~bridge.conversation.registry.Draining` when
        shutting down."""
        call_id = call_id or uuid.uuid4().hex
        n = await self.legs.next(call_id)
        leg_id = call_id if n == 1 else f"{call_id}-{n}"  # this stream's own name
        self.calls.begin(leg_id)
        try:
            flow = self.flow_for(dialled)
            engine = self.engine or engine_for(self.settings, flow.flow)
            session = await engine.open(call_id, flow, line.codec if line else None)
            runtime = CallRuntime(
                call_id=call_id,
                flow=flow,
                session=session,
                engine_name=engine.name,
                control=leg,
                emit=self.emit,
                lookup=self.lookup,
                caller_number=caller,
                dialled_number=dialled,
                carrier=carrier,
                realtime=True,
                line=line,
                fallback_engine=None if self.engine else fallback_for(self.settings, engine),
                record=self.recordings.path_for(leg_id),
                recording_failed=self.recordings.failed,
                seq_base=(n - 1) * LEG_SEQ_SPAN,
            )
            await runtime.start(flow.version)
        except Exception:
            self.calls.end(leg_id)
            raise
        self.runtimes[call_id] = runtime  # the newest leg: a fork after a transfer joins it
        self.calls.on_cut(leg_id, runtime.cut)
        asyncio.get_running_loop().create_task(self._forget(runtime, leg_id))
        return runtime

    async def _forget(self, runtime: CallRuntime, leg_id: str) -> None:
        await runtime.ended.wait()
        if self.runtimes.get(runtime.call_id) is runtime:
            del self.runtimes[runtime.call_id]
        self.calls.end(leg_id)
