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
from typing import TYPE_CHECKING

import numpy as np

from bridge import logs
from bridge.engines.base import I16, SpeechEngine
from bridge.events.schema import EngineFailed

if TYPE_CHECKING:
    from bridge.conversation.runtime import CallRuntime

log = logs.get_logger(__name__)

FALLBACK_PROMPT = "Sorry, we're having technical trouble."
FALLBACK_WAIT_S = 1.0  # an engine failing at once may beat the prompt's synthesis: wait this long


class Fallback:
    def __init__(self, runtime: CallRuntime, prompt: str, engine: SpeechEngine | None) -> None:
        self.rt, self.prompt = runtime, prompt
        self.engine = engine  # the call goes on with it, once, if the engine fails
        self.failing = False  # the flow's fallback is under way: no more prompts or turns
        self._switching = False
        self._audio: I16 | None = None
        self._made = asyncio.Event()

    async def prepare(self) -> None:
        """Synthesise the fallback prompt now, while the engine works."""
        chunks = [c.audio async for c in self.rt.session.fallback_speech(self.prompt)]
        self._audio = np.concatenate(chunks) if chunks else None
        self._made.set()

    def fail(self, reason: str) -> None:
        rt = self.rt
        if self.failing or self._switching or rt.ended.is_set():
            return  # (while switching, the old engine's other parts report the same failure)
        if self.engine is not None:
            engine, self.engine = self.engine, None
            self._switching = True
            rt._spawn(self._switch(engine, reason))
            return
        self.failing = True
        state = rt.flow.fallback
        log.warning("engine failed; falling back", reason=reason, fallback=state or "hangup")
        rt._emit(EngineFailed, engine=rt.engine_name, reason=reason,
                 fallback="transfer" if state else "hangup")  # fmt: skip
        rt.result.reason = f"engine_failed: {reason}"
        rt.silence_bot()
        rt._spawn(self._to_flow(state))

    async def _to_flow(self, state: str | None) -> None:
        rt = self.rt
        await self._play_prompt()
        if state is not None:
            rt._execute(rt.interp.goto(state))
        else:
            rt._after_speech.append(lambda: rt._spawn(rt._hangup()))

    async def _play_prompt(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._made.wait(), FALLBACK_WAIT_S)
        if self._audio is not None:
            self.rt.play("fallback", self.prompt, self._audio)
        else:
            self.rt.play("fallback", "[tone]", _tone())

    async def _switch(self, engine: SpeechEngine, reason: str) -> None:
        """The caller hears the fallback prompt while ``engine`` opens, then the current
        state again, on ``engine``."""
        rt = self.rt
        log.warning("engine failed; going on with another", reason=reason, fallback=engine.name)
        rt._emit(EngineFailed, engine=rt.engine_name, reason=reason, fallback="local")
        rt.silence_bot()
        await self._play_prompt()
        old = rt.session
        if rt._model_task is not None:
            rt._model_task.cancel()
        try:
            rt.session = await engine.open(rt.call_id, rt.flow)
        except Exception as exc:
            rt.session, self._switching = old, False
            self.fail(f"{reason}; fallback engine did not start: {type(exc).__name__}")
            return
        self._switching = False
        rt.engine_name = engine.name
        await old.close()
        rt.restart_speaking()
        rt._execute(rt.interp.goto(rt.interp.state))


def _tone() -> I16:
    """When even the fallback prompt cannot be spoken: two short beeps, never silence."""
    t = np.arange(int(0.25 * 16000)) / 16000
    beep = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    return np.concatenate([beep, np.zeros(4000, np.int16), beep])
