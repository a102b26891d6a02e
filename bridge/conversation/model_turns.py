"""What a conversing engine (a realtime model) reports, carried out on the call.

The model's own speech goes to the bot's side as an utterance (its id the model's
item, so a barge-in can tell the model how much was heard); what it reports of the
caller (their voice activity, their words, its decision, a reply of its own) goes to
the caller's side; its calls of the flow's tools are run as lookups and answered;
each response's usage becomes an event. A cascaded engine reports nothing and this
stays idle.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

from bridge import logs
from bridge.conversation.context import CallContext
from bridge.conversation.latency import Latency
from bridge.conversation.lookups import LookupFn
from bridge.engines.base import (
    I16,
    CallerSpeech,
    CallerWords,
    Decision,
    EngineEvent,
    ModelSpeech,
    ModelSpeechDone,
    Replied,
    ToolCall,
    Usage,
)
from bridge.events.schema import EngineUsage, ToolCalled

log = logs.get_logger(__name__)


class ModelVoice(Protocol):
    """The bot's side, as the model's speech reaches it."""

    def stream(self, item: str, audio: I16) -> bool:
        """Play ``audio`` of ``item`` (dropped if a barge-in cut the item); True for
        its first audio."""
        ...

    def finish(self, item: str, text: str) -> None: ...


class ModelCaller(Protocol):
    """The caller's side, as the model reports what the caller did and meant."""

    def server_turn(self, started: bool) -> None: ...

    def model_words(self, text: str, final: bool) -> None: ...

    def decided(self, d: Decision) -> None: ...

    def replied(self) -> None: ...


class ModelTurns:
    def __init__(
        self,
        ctx: CallContext,
        voice: ModelVoice,
        caller: ModelCaller,
        latency: Latency,
        lookup: LookupFn,
    ) -> None:
        self.ctx, self.voice, self.caller = ctx, voice, caller
        self.latency, self.lookup = latency, lookup

    async def run(self) -> None:
        """Until the call ends or the engine fails (raised: the runtime falls back)."""
        async for event in self.ctx.session.events():
            if self.ctx.ended.is_set():
                return
            self.handle(event)

    def handle(self, event: EngineEvent) -> None:
        match event:
            case ModelSpeech(item, audio):
                if self.voice.stream(item, audio):
                    self.latency.model_spoke()
            case ModelSpeechDone(item, text):
                self.voice.finish(item, text)
            case CallerSpeech(started):
                self.caller.server_turn(started)
            case CallerWords(text, final):
                self.caller.model_words(text, final)
            case Decision():
                self.caller.decided(event)
            case Replied():
                self.caller.replied()
            case ToolCall():
                self.ctx.spawn(self._tool(event))
            case Usage(figures):
                self._usage(figures)

    async def _tool(self, call: ToolCall) -> None:
        ctx = self.ctx
        started = time.perf_counter()
        try:
            request = ctx.interp.tool_request(call.name, call.args)
            result = await self.lookup(request)
            ok = bool(result.ok)
            output = json.dumps(result.data if ok else {"error": "lookup failed"}, default=str)
        except Exception as exc:  # a bad tool must not end the call; the model hears why
            log.warning("tool failed", tool=call.name, error=type(exc).__name__)
            ok, output = False, json.dumps({"error": "tool failed"})
        ms = round((time.perf_counter() - started) * 1000, 1)
        ctx.emit(ToolCalled, tool=call.name, ok=ok, ms=ms)
        self.latency.asked()
        ctx.session.tool_result(call.call_id, output)

    def _usage(self, figures: dict[str, Any]) -> None:
        numbers = {
            k: float(v)
            for k, v in figures.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        limits = figures.get("rate_limits") or {}
        self.ctx.emit(
            EngineUsage,
            engine=self.ctx.engine_name,
            response_id=str(figures.get("response_id", "")),
            status=str(figures.get("status", "")),
            kind="prompt" if figures.get("kind") == "prompt" else "reply",
            figures=numbers,
            rate_limits={
                str(k): v if isinstance(v, int | float) else None for k, v in limits.items()
            },
        )
