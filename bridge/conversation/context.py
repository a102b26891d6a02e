"""What every part of one call shares: who the call is, its clock, its events and
background tasks, and how it stands (handed to a person, hung up, failing, ended).

The parts of a call (the caller's turns, the bot's side, the flow's actions, a
model's reports, the fallback) each hold this one object rather than each other.
The engine session lives here because the fallback replaces it mid-call: every part
must speak to the current one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridge import logs
from bridge.engines.base import EngineError, EngineSession
from bridge.events.schema import CallEvents, Envelope
from flows import interpreter as fi
from flows.model import Flow
from media.format import FRAME_MS

log = logs.get_logger(__name__)


class LegControl(Protocol):
    """What the runtime asks of the leg that carries the call."""

    def clear(self) -> int:
        """Drop bot audio buffered beyond our playout (e.g. Twilio's `clear`); returns the
        milliseconds of it that had been handed over but not yet heard."""

    async def transfer(self, target: fi.Transfer) -> bool: ...

    async def hangup(self) -> None: ...


@dataclass
class Outcome:
    reason: str = ""
    outcome: str = ""
    path: list[str] = field(default_factory=list)


class CallContext:
    def __init__(
        self,
        *,
        call_id: str,
        flow: Flow,
        session: EngineSession,
        engine_name: str,
        interp: fi.Interpreter,
        emit: Callable[[Envelope], None],
        seq_base: int,
        realtime: bool,
    ) -> None:
        self.call_id, self.flow, self.interp = call_id, flow, interp
        self.session, self.engine_name = session, engine_name  # replaced on an engine fallback
        self.realtime = realtime
        # seq_base: a later stream of the same call numbers its events after the others'
        self._emit_raw, self.events = emit, CallEvents(call_id, start_seq=seq_base)
        self.result = Outcome()
        self.ended = asyncio.Event()
        self.frames = 0  # caller frames so far: the call's audio timeline
        self.bridged = False  # the caller talks to a person; we keep transcribing
        self.hung_up = False  # the caller is gone; the call ends once their words are down
        self.failing = False  # the flow's fallback is under way: no more prompts or turns
        self.on_failure: Callable[[str], None] = lambda reason: None  # the fallback, once made
        self.busy: set[asyncio.Task[Any]] = set()  # recognition, synthesis, lookups in flight
        self._t0 = time.monotonic()

    # -- clock and events -------------------------------------------------------------

    def now_ms(self) -> int:
        """The call clock: wall time on a real-time leg, the audio timeline on a virtual one."""
        if self.realtime:
            return int((time.monotonic() - self._t0) * 1000)
        return self.frames * FRAME_MS

    @property
    def audio_ms(self) -> int:
        """Where the call is on its audio timeline: the offsets transcripts carry."""
        return self.frames * FRAME_MS

    def emit(self, cls: type, **fields: Any) -> None:
        try:
            self._emit_raw(self.events.make(cls, **fields))
        except Exception:  # the event log refusing must not end the call
            log.exception("event not published", event=getattr(cls, "__name__", cls))

    # -- background work ----------------------------------------------------------------

    def fail(self, reason: str) -> None:
        """The engine (or a bug) failed the call: the fallback takes over."""
        self.on_failure(reason)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[None]:
        task = asyncio.create_task(self._guard(coro))
        self.busy.add(task)
        task.add_done_callback(self.busy.discard)
        # A call that ends at once cancels the task before it ran: close the coroutine
        # so it is not reported as never awaited (a no-op once it has run).
        task.add_done_callback(lambda _: coro.close())
        return task

    async def _guard(self, coro: Awaitable[Any]) -> None:
        try:
            await coro
        except EngineError as exc:
            self.fail(str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must end this call cleanly, not the process
            log.exception("call runtime error")
            self.fail(f"internal error: {type(exc).__name__}")
