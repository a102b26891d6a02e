"""When the speech engine fails, the caller is never left in silence.

The fallback prompt is synthesised when the call starts (by whatever still works when
the engine does not: :meth:`EngineSession.fallback_speech`). On a failure the bot
falls silent, the caller hears that prompt (or two beeps, if even it could not be
made), and then either the call goes on with another engine at the state it was in
(an engine with a fallback of its own: openai → local), or it takes the flow's
``fallback`` state (a transfer), else hangs up cleanly. The event says why.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

import numpy as np

from bridge import logs
from bridge.conversation.context import CallContext
from bridge.engines.base import I16, SpeechEngine
from bridge.events.schema import EngineFailed
from flows import interpreter as fi

log = logs.get_logger(__name__)

FALLBACK_PROMPT = "Sorry, we're having technical trouble."
FALLBACK_WAIT_S = 1.0  # an engine failing at once may beat the prompt's synthesis: wait this long


class FallbackFlow(Protocol):
    """The flow's side: where the call goes once the prompt has played."""

    def execute(self, actions: list[fi.Action]) -> None: ...

    def hang_up_when_quiet(self) -> None: ...


class FallbackHost(Protocol):
    """The call around the fallback: its bot, and the engine's reports."""

    def silence_bot(self) -> None:
        """Stop all bot speech and the caller's turn: the fallback speaks next."""

    def play(self, id_: str, text: str, audio: I16) -> None: ...

    def stop_model(self) -> None:
        """Stop listening to the engine's reports (its session is about to go)."""

    def restart_speaking(self) -> None:
        """The current session speaks and reports from here on."""


class Fallback:
    def __init__(
        self,
        ctx: CallContext,
        host: FallbackHost,
        flow: FallbackFlow,
        prompt: str,
        engine: SpeechEngine | None,
    ) -> None:
        self.ctx, self.host, self.flow, self.prompt = ctx, host, flow, prompt
        self.engine = engine  # the call goes on with it, once, if the engine fails
        self._switching = False
        self._audio: I16 | None = None
        self._made = asyncio.Event()

    async def prepare(self) -> None:
        """Synthesise the fallback prompt now, while the engine works."""
        chunks = [c.audio async for c in self.ctx.session.fallback_speech(self.prompt)]
        self._audio = np.concatenate(chunks) if chunks else None
        self._made.set()

    def fail(self, reason: str) -> None:
        ctx = self.ctx
        if ctx.failing or self._switching or ctx.ended.is_set():
            return  # (while switching, the old engine's other parts report the same failure)
        if self.engine is not None:
            engine, self.engine = self.engine, None
            self._switching = True
            ctx.spawn(self._switch(engine, reason))
            return
        ctx.failing = True
        state = ctx.flow.fallback
        log.warning("engine failed; falling back", reason=reason, fallback=state or "hangup")
        fallback = "transfer" if state else "hangup"
        ctx.emit(EngineFailed, engine=ctx.engine_name, reason=reason, fallback=fallback)
        ctx.result.reason = f"engine_failed: {reason}"
        self.host.silence_bot()
        ctx.spawn(self._to_flow(state))

    async def _to_flow(self, state: str | None) -> None:
        await self._play_prompt()
        if state is not None:
            self.flow.execute(self.ctx.interp.goto(state))
        else:
            self.flow.hang_up_when_quiet()

    async def _play_prompt(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._made.wait(), FALLBACK_WAIT_S)
        if self._audio is not None:
            self.host.play("fallback", self.prompt, self._audio)
        else:
            self.host.play("fallback", "[tone]", _tone())

    async def _switch(self, engine: SpeechEngine, reason: str) -> None:
        """The caller hears the fallback prompt while ``engine`` opens, then the current
        state again, on ``engine``."""
        ctx = self.ctx
        log.warning("engine failed; going on with another", reason=reason, fallback=engine.name)
        ctx.emit(EngineFailed, engine=ctx.engine_name, reason=reason, fallback="local")
        self.host.silence_bot()
        await self._play_prompt()
        old = ctx.session
        self.host.stop_model()
        try:
            ctx.session = await engine.open(ctx.call_id, ctx.flow)
        except Exception as exc:
            ctx.session, self._switching = old, False
            self.fail(f"{reason}; fallback engine did not start: {type(exc).__name__}")
            return
        self._switching = False
        ctx.engine_name = engine.name
        await old.close()
        self.host.restart_speaking()
        self.flow.execute(ctx.interp.goto(ctx.interp.state))


def _tone() -> I16:
    """When even the fallback prompt cannot be spoken: two short beeps, never silence."""
    t = np.arange(int(0.25 * 16000)) / 16000
    beep = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    return np.concatenate([beep, np.zeros(4000, np.int16), beep])
