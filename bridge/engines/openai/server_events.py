"""What the Realtime server says, read into engine events for the runtime.

The model's audio goes to the flow prompt that asked for it, or out as the model's
own speech; the caller's words as transcripts; a finished reply as what the model
decided (:func:`bridge.engines.openai.turns.read_call`), the tools it wants, or
neither; every response's cost as :class:`Usage`. Messages that make no sense are
logged and dropped: nothing the server sends may end the call by surprise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from bridge import logs
from bridge.engines.base import (
    I16,
    CallerSpeech,
    CallerWords,
    Decision,
    EngineError,
    EngineEvent,
    ModelSpeech,
    ModelSpeechDone,
    Replied,
    Spoken,
    Usage,
)
from bridge.engines.openai import protocol as p
from bridge.engines.openai.bot_audio import BotAudio, pcm24
from bridge.engines.openai.responses import Response, Responses
from bridge.engines.openai.route import Route
from bridge.engines.openai.socket import reason
from bridge.engines.openai.transcript import Transcript
from bridge.engines.openai.turns import read_call
from flows.model import Flow

log = logs.get_logger(__name__)

Send = Callable[[dict[str, Any]], None]


class ServerEvents:
    def __init__(
        self,
        flow: Flow,
        today: Callable[[], date],
        prices: dict[str, float],
        *,
        route: Route,
        responses: Responses,
        transcript: Transcript,
        bot_audio: BotAudio,
        events: asyncio.Queue[EngineEvent | EngineError],
        send: Send,
        fail: Callable[[EngineError], None],
    ) -> None:
        self.flow, self.today, self.prices = flow, today, prices
        self.route, self.responses, self.transcript = route, responses, transcript
        self.bot_audio, self.events = bot_audio, events
        self._send, self._fail = send, fail
        self._rate_limits: dict[str, Any] = {}

    def on_message(self, raw: str | bytes) -> None:
        try:
            ev = p.parse(raw)
            self._on_event(ev)
        except p.ProtocolError as exc:
            log.warning("realtime message not understood", error=str(exc))

    def _on_event(self, ev: p.ServerEvent) -> None:
        match ev.type:
            case "error":
                self._on_error(ev)
            case "response.created":
                self.responses.created(ev)
            case "response.output_audio.delta":
                self._on_audio(ev)
            case "response.output_audio.done":
                self._flush_audio(ev.text("item_id"), ev.response_id)
            case "response.output_audio_transcript.done":
                self._on_bot_words(ev)
            case "response.function_call_arguments.done":
                resp = self.responses.by_id.get(ev.response_id)
                if resp is not None:
                    resp.calls.append(ev)
            case "response.done":
                self._on_done(ev)
            case "input_audio_buffer.speech_started" if self.route.server_turns:
                self.events.put_nowait(CallerSpeech(True))
            case "input_audio_buffer.speech_stopped" if self.route.server_turns:
                self.responses.caller_turn_ended()
                self.events.put_nowait(CallerSpeech(False))
            case "conversation.item.input_audio_transcription.delta":
                self.events.put_nowait(CallerWords(self.transcript.grow(ev.text("delta")), False))
            case "conversation.item.input_audio_transcription.completed":
                self._on_caller_words(ev.text("transcript").strip())
            case "rate_limits.updated":
                self._on_rate_limits(ev)

    def _on_error(self, ev: p.ServerEvent) -> None:
        err = ev.obj("error")
        code, about = str(err.get("code") or ""), str(err.get("event_id") or "")
        if code == "response_cancel_not_active":
            return  # the response had ended already: nothing to cancel
        if about and about == self.responses.update_id:
            self._fail(EngineError(f"realtime session rejected: {reason(ev)}"))
            return
        if about.startswith("cb-say-"):  # a prompt cannot be spoken: fail, do not go silent
            self._fail(EngineError(f"realtime prompt refused: {reason(ev)}"))
            return
        log.warning("realtime error", code=code, message=str(err.get("message", ""))[:200])

    def _on_rate_limits(self, ev: p.ServerEvent) -> None:
        limits = ev.data.get("rate_limits")
        if isinstance(limits, list):
            self._rate_limits = {
                str(r.get("name")): r.get("remaining") for r in limits if isinstance(r, dict)
            }

    # -- the caller's words and the model's ---------------------------------------------

    def _on_caller_words(self, text: str) -> None:
        if not self.transcript.caller_said(text):
            return  # the same words, heard again from the replayed audio
        if text and not self.route.bridged:  # the runtime transcribes a bridged call itself
            self.events.put_nowait(CallerWords(text, True))

    def _on_bot_words(self, ev: p.ServerEvent) -> None:
        resp = self.responses.by_id.get(ev.response_id)
        item = ev.text("item_id")
        if resp is not None and not resp.is_prompt and item not in self.bot_audio.cut:
            self.transcript.add("bot", ev.text("transcript"))
            self.events.put_nowait(ModelSpeechDone(item, ev.text("transcript")))

    # -- the model's audio --------------------------------------------------------------

    def _on_audio(self, ev: p.ServerEvent) -> None:
        resp = self.responses.by_id.get(ev.response_id)
        item = ev.text("item_id")
        if resp is None or item in self.bot_audio.cut:
            return  # a cancelled response's late audio
        pcm = pcm24(ev.audio())
        if len(pcm) == 0:
            return
        if resp.first_audio_ms is None:
            resp.first_audio_ms = (time.perf_counter() - resp.requested_at) * 1000
        audio = self.bot_audio.add(item, pcm)
        if audio is not None:
            self._deliver(resp, item, audio)

    def _flush_audio(self, item: str, response_id: str) -> None:
        resp = self.responses.by_id.get(response_id)
        audio = self.bot_audio.flush(item)
        if resp is not None and audio is not None:
            self._deliver(resp, item, audio)

    def _deliver(self, resp: Response, item: str, audio: I16) -> None:
        prompt = self.responses.prompts.get(resp.tag)
        if prompt is not None:
            first = resp.first_audio_ms if self.bot_audio.received_ms[item] <= 1000 else 0.0
            prompt.chunks.put_nowait(Spoken(audio, first or 0.0, item))
        elif not resp.is_prompt:
            self.events.put_nowait(ModelSpeech(item, audio))

    # -- a response ends ----------------------------------------------------------------

    def _on_done(self, ev: p.ServerEvent) -> None:
        responses = self.responses
        resp = responses.finished(ev.response_id)
        status = str(ev.obj("response").get("status") or "")
        if resp is None:
            responses.settled()
            return
        self.events.put_nowait(Usage(self._figures(ev, resp, status)))
        prompt = responses.prompts.get(resp.tag)
        if prompt is not None:
            prompt.chunks.put_nowait(None)
        elif status == "completed":
            self._decide(resp)
        elif status == "failed":
            self._fail(EngineError(f"realtime response failed: {reason(ev)}"))
        if responses.inflight and responses.inflight[0] != "say" and not resp.is_prompt:
            responses.inflight = None
        responses.settled()

    def _figures(self, ev: p.ServerEvent, resp: Response, status: str) -> dict[str, Any]:
        """What a response cost and how fast its audio came: the call's usage record."""
        figures: dict[str, Any] = dict(p.usage(ev))
        figures["cost_usd"] = p.cost_usd(figures, self.prices)
        if resp.first_audio_ms is not None:
            figures["first_audio_ms"] = round(resp.first_audio_ms, 1)
        figures["response_id"] = resp.id
        figures["status"] = status
        figures["kind"] = "prompt" if resp.is_prompt else "reply"
        figures["rate_limits"] = dict(self._rate_limits)
        return figures

    def _decide(self, resp: Response) -> None:
        """A reply ended: what the model decided, the tools it wants, or neither."""
        listen, turn = self.route.listen, self.route.turn
        if listen is None or turn is None or self.route.bridged:
            return
        acted = False
        for call in resp.calls:
            name, call_id = call.text("name"), call.text("call_id")
            args = p.function_args(call)
            meant = read_call(turn, listen, self.flow, name, call_id, args, self.today())
            if meant is None:
                log.warning("model called a function it was not given", function=name)
                self._send(p.function_output(call_id, '{"error": "no such function"}'))
                continue
            if isinstance(meant, Decision):
                meant = Decision(meant.intent, meant.slots, self.transcript.last_caller())
                # Answered, so the conversation holds no dangling call; the flow speaks next.
                self._send(p.function_output(call_id, '{"ok": true}'))
            self.events.put_nowait(meant)
            acted = True
        if not acted:
            self.events.put_nowait(Replied())
