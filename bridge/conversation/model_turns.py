"""What a conversing engine (a realtime model) reports, carried out on the call.

The runtime owns the call; this is the part of it that listens to a
speech-to-speech model: the model's own speech goes to playout as a bot
utterance (its id the model's item, so a barge-in can tell the model how much was
heard), its decisions go to the flow as an :class:`flows.interpreter.Utterance`,
its calls of the flow's tools are run as lookups and answered, and each response's
usage becomes an event. A cascaded engine reports nothing and this stays idle.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from bridge import logs
from bridge.engines.base import (
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
from bridge.events.schema import (
    EngineUsage,
    IntentDetected,
    ToolCalled,
    TranscriptFinal,
    TranscriptPartial,
)
from flows import interpreter as fi
from media.format import FRAME_MS

if TYPE_CHECKING:
    from bridge.conversation.runtime import CallRuntime

log = logs.get_logger(__name__)

MASK = "[sensitive]"


class ModelTurns:
    def __init__(self, runtime: CallRuntime) -> None:
        self.rt = runtime
        self.cut: set[str] = set()  # items a barge-in ended: their late audio is dropped
        self.asked_at: float | None = None  # the caller's turn was handed to the model

    async def run(self) -> None:
        """Until the call ends or the engine fails (raised: the runtime falls back)."""
        async for event in self.rt.session.events():
            if self.rt.ended.is_set():
                return
            self.handle(event)

    def handle(self, event: EngineEvent) -> None:
        match event:
            case ModelSpeech(item, audio):
                self._speech(item, audio)
            case ModelSpeechDone(item, text):
                self.rt.voice.finish(item, text)
            case CallerSpeech(started):
                self._server_turn(started)
            case CallerWords(text, final):
                self._caller_words(text, final)
            case Decision():
                self._decided(event)
            case Replied():
                self._replied()
            case ToolCall():
                self.rt._spawn(self._tool(event))
            case Usage(figures):
                self._usage(figures)

    def _speech(self, item: str, audio: Any) -> None:
        rt = self.rt
        if item in self.cut or rt.ended.is_set():
            return
        if rt.voice.stream(item, audio):
            turn = rt._turn
            if turn is not None and turn.tts_first_ms is None and self.asked_at is not None:
                # The model hears, decides and speaks in one go: all of it is its time.
                turn.tts_first_ms = (time.perf_counter() - self.asked_at) * 1000

    def _server_turn(self, started: bool) -> None:
        """The model's own voice activity (server-side turn detection)."""
        rt = self.rt
        if started:
            rt._handling = False
            if rt.voice.busy:
                rt._barge_in(time.perf_counter())
        elif rt.listen is not None:
            rt._handling = True  # the model answers next; no-input waits for it
            self.asked_at = time.perf_counter()

    def _caller_words(self, text: str, final: bool) -> None:
        rt = self.rt
        listen = rt.listen
        shown = MASK if listen is not None and listen.sensitive else text
        start, end = rt._speech_start_ms, rt.frames * FRAME_MS
        if final:
            rt._emit(TranscriptFinal, speaker="caller", text=shown, start_ms=start, end_ms=end)
        else:
            rt._emit(TranscriptPartial, speaker="caller", text=shown, start_ms=start, end_ms=end)

    def _decided(self, d: Decision) -> None:
        rt = self.rt
        if rt.listen is None or rt.bridged:
            return  # the turn closed meanwhile (DTMF, no-input): the flow has moved on
        rt._handling = False
        sensitive = rt.listen.sensitive
        if d.intent or d.slots:
            slots = {k: MASK for k in d.slots} if sensitive else d.slots
            rt._emit(IntentDetected, intent=d.intent or "", confidence=1.0, slots=slots)
        rt._handle(fi.Utterance(d.text, d.intent, dict(d.slots), 1.0))

    def _replied(self) -> None:
        """The model answered the caller itself: same state, the caller's turn again."""
        rt = self.rt
        rt._handling = False
        if rt.listen is None or rt.ended.is_set():
            return
        moved = rt.interp.handle(fi.ConverseTurn())
        if moved:  # max_turns reached: the flow moves on
            rt.listen = None
            rt._execute(moved)
        elif not rt._turn_open:
            rt._open_turn(rt.listen)

    async def _tool(self, call: ToolCall) -> None:
        rt = self.rt
        started = time.perf_counter()
        try:
            request = rt.interp.tool_request(call.name, call.args)
            result = await rt.lookup(request)
            ok = bool(result.ok)
            output = json.dumps(result.data if ok else {"error": "lookup failed"}, default=str)
        except Exception as exc:  # a bad tool must not end the call; the model hears why
            log.warning("tool failed", tool=call.name, error=type(exc).__name__)
            ok, output = False, json.dumps({"error": "tool failed"})
        rt._emit(
            ToolCalled, tool=call.name, ok=ok, ms=round((time.perf_counter() - started) * 1000, 1)
        )
        self.asked_at = time.perf_counter()
        rt.session.tool_result(call.call_id, output)

    def _usage(self, figures: dict[str, Any]) -> None:
        rt = self.rt
        numbers = {k: float(v) for k, v in figures.items()
                   if isinstance(v, int | float) and not isinstance(v, bool)}  # fmt: skip
        limits = figures.get("rate_limits") or {}
        rt._emit(
            EngineUsage,
            engine=rt.engine_name,
            response_id=str(figures.get("response_id", "")),
            status=str(figures.get("status", "")),
            kind="prompt" if figures.get("kind") == "prompt" else "reply",
            figures=numbers,
            rate_limits={
                str(k): v if isinstance(v, int | float) else None for k, v in limits.items()
            },
        )
