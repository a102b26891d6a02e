"""Starting and ending calls in a serving process: the part every carrier leg shares.

A leg brings a call in; :class:`CallService` picks its flow (by dialled number,
else the default), its speech engine, admits it (or refuses while draining),
runs it with events going to the event log, and forgets it when it ends.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from bridge import logs
from bridge.calls import CallRegistry
from bridge.conversation.lookups import HttpLookup
from bridge.conversation.recording import RecordingsStore
from bridge.conversation.runtime import CallRuntime, LegControl
from bridge.engines.base import SpeechEngine
from bridge.engines.registry import engine_for, fallback_for
from bridge.events.schema import Envelope
from bridge.settings import Settings
from flows.loader import load
from flows.model import Flow
from flows.nlu import Matcher
from media.line_codec import LineCodec

log = logs.get_logger(__name__)


class CallService:
    def __init__(
        self,
        settings: Settings,
        calls: CallRegistry,
        emit: object,
        recordings: RecordingsStore | None = None,
    ) -> None:
        self.settings, self.calls = settings, calls
        self.recordings = recordings or RecordingsStore(
            settings.data_dir / "recordings", settings.recordings
        )
        self._emit = emit
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
        self._emit(event)  # type: ignore[operator]

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
        """Admit and start a call; raises :class:`bridge.calls.Draining` when shutting down."""
        call_id = call_id or uuid.uuid4().hex
        self.calls.begin(call_id)
        try:
            flow = self.flow_for(dialled)
            engine = self.engine or engine_for(self.settings, flow.flow)
            session = await engine.open(call_id, flow, line.codec if line else None)
            runtime = CallRuntime(
                call_id=call_id, flow=flow, session=session, engine_name=engine.name,
                control=leg, emit=self.emit, lookup=self.lookup, caller_number=caller,
                dialled_number=dialled, carrier=carrier, realtime=True, line=line,
                fallback_engine=None if self.engine else fallback_for(self.settings, engine),
                record=self.recordings.path_for(call_id), recording_failed=self.recordings.failed,
            )  # fmt: skip
            await runtime.start(flow.version)
        except Exception:
            self.calls.end(call_id)
            raise
        self.runtimes[call_id] = runtime
        self.calls.on_cut(call_id, runtime.cut)
        asyncio.get_running_loop().create_task(self._forget(runtime))
        return runtime

    async def _forget(self, runtime: CallRuntime) -> None:
        await runtime.ended.wait()
        self.runtimes.pop(runtime.call_id, None)
        self.calls.end(runtime.call_id)
