"""One call's Realtime API session: a WebSocket to the model, kept alive for the call.

The socket and its queue are :class:`bridge.engines.openai.socket.RealtimeSocket`'s;
this module is what the conversation over it means. Our requests carry a tag that
comes back in ``response.metadata``, so a flow prompt's audio (:meth:`speak`) and the
model's own replies (:class:`ModelSpeech`) never mix.

A dropped socket is reconnected for ``reconnect_s``; the new session is rebuilt
from the state's settings and the call's transcript so far, and whatever was in
flight (a prompt, the caller's turn, a tool's answer) is asked again. When the
service stays away every waiter gets :class:`EngineError` and the runtime falls
back. Sensitive states never reach the model: their prompts and the caller's
answer go through the local engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from bridge import logs
from bridge.engines.base import (
    I16,
    CallerSpeech,
    CallerWords,
    Decision,
    EngineError,
    EngineEvent,
    EngineSession,
    Heard,
    ModelSpeech,
    ModelSpeechDone,
    Replied,
    Spoken,
    Usage,
)
from bridge.engines.openai import protocol as p
from bridge.engines.openai.socket import RealtimeSocket, reason
from bridge.engines.openai.turns import (
    SAY_EXACTLY,
    Turn,
    ask_turn,
    converse_turn,
    persona,
    read_call,
)
from flows.interpreter import Converse, Listen
from flows.model import Flow
from media import g711
from media.format import HOUSE_FRAME, HOUSE_RATE
from media.resample import Resampler

log = logs.get_logger(__name__)

OUT_FRAME = p.PCM_RATE // 50  # samples of the model's 24 kHz audio in 20 ms
TURN_AUDIO_FRAMES = 1500  # the caller turn kept for a replay after a reconnect (30 s)
TRANSCRIPT_WAIT_S = 5.0
IDLE_WAIT_S = 10.0
BRIDGED = "_bridged"  # the runtime's listen while a person talks to the caller


@dataclass(frozen=True)
class Config:
    url: str
    api_key: str
    model: str
    voice: str
    transcription_model: str | None
    connect_timeout_s: float
    reconnect_s: float
    prices: dict[str, float] = field(default_factory=lambda: dict(p.PRICES))


@dataclass
class _Response:
    id: str
    tag: str
    requested_at: float
    first_audio_ms: float | None = None
    calls: list[p.ServerEvent] = field(default_factory=list)


class _Say:
    """One flow prompt being spoken by the model: its audio, as it arrives."""

    def __init__(self, tag: str, text: str) -> None:
        self.tag, self.text = tag, text
        self.chunks: asyncio.Queue[Spoken | EngineError | None] = asyncio.Queue()
        self.requested_at = time.perf_counter()


class RealtimeSession(EngineSession):
    def __init__(
        self,
        config: Config,
        call_id: str,
        flow: Flow,
        line: str | None,
        local: Any = None,  # an EngineSession of the local engine, for sensitive states
        fallback_voice: Callable[[str], I16] | None = None,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.config, self.call_id, self.flow = config, call_id, flow
        self.local, self.fallback_voice, self.today = local, fallback_voice, today
        self.input_format = line if line in ("pcmu", "pcma") else "pcm"
        self._up = Resampler(HOUSE_RATE, p.PCM_RATE)
        self._to_line = Resampler(HOUSE_RATE, 8000, band="telephone")  # to the caller's ear
        self._events: asyncio.Queue[EngineEvent | EngineError] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._listen: Listen | None = None
        self._converse: Converse | None = None
        self._turn: Turn | None = None
        self._turn_audio: deque[bytes] = deque(maxlen=TURN_AUDIO_FRAMES)
        self._history: list[tuple[str, str]] = []  # (speaker, words): rebuilds a session
        self._says: dict[str, _Say] = {}
        self._responses: dict[str, _Response] = {}
        self._requested: dict[str, float] = {}  # tag → when we asked
        self._active: str | None = None  # the response being generated
        self._idle = asyncio.Event()
        self._idle.set()
        self._inflight: tuple[str, ...] | None = None  # what a reconnect must ask again
        self._received_ms: dict[str, int] = {}  # per output item: audio we got
        self._cut: set[str] = set()  # items truncated on a barge-in: late audio dropped
        self._down: dict[str, tuple[Resampler, np.ndarray]] = {}
        self._partial = ""
        self._heard_turn = False  # the caller's current turn has been transcribed
        self._replayed = False  # ... and was sent again after a reconnect: not twice
        self._transcribed: asyncio.Queue[str] = asyncio.Queue()
        self._rate_limits: dict[str, Any] = {}
        self._session_update_id = ""
        sep = "&" if "?" in config.url else "?"
        self._socket = RealtimeSocket(
            f"{config.url}{sep}model={config.model}", config.api_key,
            config.connect_timeout_s, config.reconnect_s, name=call_id[:8],
            settings=self._rebuilt_update, on_message=self._on_message,
            on_resumed=self._resume, on_failed=self._failed_with,
        )  # fmt: skip

    @property
    def _failed(self) -> EngineError | None:
        return self._socket.failed

    # -- which path a turn takes --------------------------------------------------------

    @property
    def _private(self) -> bool:
        """A sensitive state: the local engine hears and speaks it, not the model."""
        return self._listen is not None and self._listen.sensitive and self.local is not None

    @property
    def converses(self) -> bool:  # type: ignore[override]
        return not self._private and not self._bridged

    @property
    def server_turns(self) -> bool:  # type: ignore[override]
        return (
            self.converses and self._turn is not None and self._turn.turn_detection != "endpointer"
        )

    @property
    def _bridged(self) -> bool:
        return self._listen is not None and self._listen.state == BRIDGED

    @property
    def owes(self) -> bool:
        """A request or audio is waiting for the model, or an event for the runtime."""
        return self._failed is None and (
            self._inflight is not None
            or self._active is not None
            or not self._events.empty()
            or self._socket.sending
        )

    # -- EngineSession ------------------------------------------------------------------

    def converse(self, action: Converse) -> None:
        self._converse = action

    def listen(self, listen: Listen) -> None:
        self._listen = listen
        self._turn_audio.clear()
        self._partial = ""
        self._heard_turn = False
        if self._private:
            self.local.listen(listen)
            return
        if listen.state == BRIDGED:
            quiet = persona(self.flow) + "\n\nA person is talking to the caller now; stay silent."
            turn = Turn(quiet, [], "none", "endpointer", frozenset(), frozenset())
        elif self._converse is not None and self._converse.state == listen.state:
            turn = converse_turn(self.flow, self._converse, listen)
        else:
            turn = ask_turn(self.flow, listen, self.today())
        changed = turn != self._turn
        self._turn = turn
        if changed:
            self._send(self._session_update())
        if turn.turn_detection == "endpointer":
            self._send(p.clear_input())

    def push(self, frame: I16, line: bytes | None = None) -> None:
        if self._private:
            self.local.push(frame, line)
            return
        if self._failed is not None:
            return
        if self.input_format == "pcm":
            data = self._up.process_one(frame).astype("<i2", copy=False).tobytes()
        elif line is not None and len(line) == HOUSE_FRAME // 2:
            data = line  # G.711 as the carrier sent it: no resampling, no re-encoding
        else:
            narrow = self._to_line.process_one(frame)
            enc = g711.ulaw_encode if self.input_format == "pcmu" else g711.alaw_encode
            data = enc(narrow).tobytes()
        self._turn_audio.append(data)
        self._send(p.append(data), audio=True)

    async def partial(self) -> str:
        if self._private:
            return str(await self.local.partial())
        return self._partial

    async def finish(self) -> Heard:
        if self._private:
            return await self.local.finish()
        if self._failed is not None:
            raise self._failed
        if self._bridged:  # transcription only: the model does not answer a person's call
            while not self._transcribed.empty():
                self._transcribed.get_nowait()
            self._send(p.commit())
            started = time.perf_counter()
            try:
                text = await asyncio.wait_for(self._transcribed.get(), TRANSCRIPT_WAIT_S)
            except TimeoutError:
                text = ""
            return Heard(text, True, (time.perf_counter() - started) * 1000)
        if not self.server_turns:
            self._inflight = ("reply",)
            self._send(p.commit())
            self._request("reply")
        return Heard("", True, 0.0)

    async def speak(self, text: str, sensitive: bool = False) -> AsyncIterator[Spoken]:
        if sensitive and self.local is not None:
            async for chunk in self.local.speak(text):
                yield chunk
            return
        if self._failed is not None:
            raise self._failed
        await self._wait_idle()
        say = _Say(f"say-{next(self._ids)}", text)
        self._says[say.tag] = say
        self._inflight = ("say", say.tag, text)
        self._request(say.tag, SAY_EXACTLY.format(text=text), "none")
        try:
            while (chunk := await say.chunks.get()) is not None:
                if isinstance(chunk, EngineError):
                    raise chunk
                yield chunk
        finally:
            self._says.pop(say.tag, None)
            if self._inflight and self._inflight[:2] == ("say", say.tag):
                self._inflight = None
        self._history.append(("bot", text))

    async def fallback_speech(self, text: str) -> AsyncIterator[Spoken]:
        """Made by the local voice: it must work when the service does not."""
        if self.fallback_voice is None:
            return
        audio = await asyncio.to_thread(self.fallback_voice, text)
        yield Spoken(audio, 0.0)

    def interrupted(self, heard_ms: dict[str, int]) -> None:
        if self._active is not None:
            self._send(p.response_cancel(self._active))
        for item, ms in heard_ms.items():
            if item in self._cut or item not in self._received_ms:
                continue
            self._cut.add(item)
            # The API refuses a cut beyond the audio it sent for the item.
            self._send(p.truncate(item, max(0, min(ms, self._received_ms[item]))))
        for say in list(self._says.values()):
            say.chunks.put_nowait(None)
        if self._inflight and self._inflight[0] == "say":
            self._inflight = None

    def tool_result(self, call_id: str, output: str) -> None:
        self._inflight = ("tool", call_id, output)
        self._send(p.function_output(call_id, output))
        self._request("reply")

    async def events(self) -> AsyncIterator[EngineEvent]:
        while True:
            ev = await self._events.get()
            if isinstance(ev, EngineError):
                raise ev
            yield ev

    async def close(self) -> None:
        await self._socket.close()
        if self.local is not None:
            await self.local.close()
        if self._socket.dropped_audio:
            log.warning("caller audio dropped while the socket was slow",
                        frames=self._socket.dropped_audio)  # fmt: skip

    # -- sending ------------------------------------------------------------------------

    def _session_update(self) -> dict[str, Any]:
        turn = self._turn or ask_turn(self.flow, Listen(self.flow.start), self.today())
        event = p.session_update(
            model=self.config.model, instructions=turn.instructions,
            voice=self.flow.realtime.voice or self.config.voice, input_format=self.input_format,
            tools=turn.tools, tool_choice=turn.tool_choice, turn=turn.turn_detection,
            transcription_model=self.config.transcription_model,
        )  # fmt: skip
        self._session_update_id = event["event_id"] = f"cb-update-{next(self._ids)}"
        return event

    def _request(
        self, tag: str, instructions: str | None = None, tool_choice: str | None = None
    ) -> None:
        self._requested[tag] = time.perf_counter()
        event = p.response_create(tag, instructions=instructions, tool_choice=tool_choice)
        event["event_id"] = f"cb-{tag}-{next(self._ids)}"
        self._send(event)

    def _send(self, event: dict[str, Any], audio: bool = False) -> None:
        self._socket.send(event, audio)

    async def _wait_idle(self) -> None:
        """One response at a time (the API refuses a second); a reply that never ends
        must not keep the flow's next prompt from being said."""
        deadline = time.monotonic() + IDLE_WAIT_S
        while self._active is not None or (
            self._inflight is not None and self._inflight[0] != "say"
        ):
            self._idle.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("realtime response did not end; speaking anyway")
                self._active, self._inflight = None, None
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), left)

    # -- the connection -----------------------------------------------------------------

    def _rebuilt_update(self) -> dict[str, Any]:
        """The state's settings; after a reconnect, with what was said so far."""
        event = self._session_update()
        if self._history:
            said = "\n".join(f"{who}: {words}" for who, words in self._history[-40:])
            event["session"]["instructions"] += (
                "\n\nThe call so far (the connection was restored; go on from here):\n" + said
            )
        return event

    def _resume(self) -> None:
        """Ask again for what the dropped socket took with it."""
        self._active = None
        self._responses.clear()
        self._socket.forget_lost()
        inflight, self._inflight = self._inflight, None
        if inflight is None:
            return
        if inflight[0] == "say" and inflight[1] in self._says:
            self._inflight = inflight
            self._request(inflight[1], SAY_EXACTLY.format(text=inflight[2]), "none")
        elif inflight[0] == "reply":
            self._inflight = inflight
            self._replayed = self._heard_turn
            for data in self._turn_audio:
                self._send(p.append(data))
            self._send(p.commit())
            self._request("reply")
        elif inflight[0] == "tool":
            self._inflight = ("reply",)
            self._send(p.user_text(f"(The function's result: {inflight[2]})"))
            self._request("reply")

    def _failed_with(self, exc: EngineError) -> None:
        """The socket gave up (or we did, through it): every waiter hears why."""
        self._inflight, self._active = None, None
        self._idle.set()
        for say in self._says.values():
            say.chunks.put_nowait(exc)
        self._events.put_nowait(exc)

    # -- what the server says -----------------------------------------------------------

    def _on_message(self, raw: str | bytes) -> None:
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
                self._on_created(ev)
            case "response.output_audio.delta":
                self._on_audio(ev)
            case "response.output_audio.done":
                self._flush_audio(ev.text("item_id"), ev.response_id)
            case "response.output_audio_transcript.done":
                resp = self._responses.get(ev.response_id)
                item = ev.text("item_id")
                if resp is not None and not resp.tag.startswith("say-") and item not in self._cut:
                    self._history.append(("bot", ev.text("transcript")))
                    self._events.put_nowait(ModelSpeechDone(item, ev.text("transcript")))
            case "response.function_call_arguments.done":
                resp = self._responses.get(ev.response_id)
                if resp is not None:
                    resp.calls.append(ev)
            case "response.done":
                self._on_done(ev)
            case "input_audio_buffer.speech_started" if self.server_turns:
                self._events.put_nowait(CallerSpeech(True))
            case "input_audio_buffer.speech_stopped" if self.server_turns:
                self._requested["server"] = time.perf_counter()
                self._events.put_nowait(CallerSpeech(False))
            case "conversation.item.input_audio_transcription.delta":
                self._partial += ev.text("delta")
                self._events.put_nowait(CallerWords(self._partial, False))
            case "conversation.item.input_audio_transcription.completed":
                text = ev.text("transcript").strip()
                self._partial = ""
                if self._replayed:  # the same words, heard again from the replayed audio
                    self._replayed = False
                    return
                self._heard_turn = True
                self._transcribed.put_nowait(text)
                if text:
                    self._history.append(("caller", text))
                    if not self._bridged:  # the runtime transcribes a bridged call itself
                        self._events.put_nowait(CallerWords(text, True))
            case "rate_limits.updated":
                limits = ev.data.get("rate_limits")
                if isinstance(limits, list):
                    self._rate_limits = {
                        str(r.get("name")): r.get("remaining")
                        for r in limits
                        if isinstance(r, dict)
                    }

    def _on_error(self, ev: p.ServerEvent) -> None:
        err = ev.obj("error")
        code, about = str(err.get("code") or ""), str(err.get("event_id") or "")
        if code == "response_cancel_not_active":
            return  # the response had ended already: nothing to cancel
        if about and about == self._session_update_id:
            self._socket.fail(EngineError(f"realtime session rejected: {reason(ev)}"))
            return
        if about.startswith("cb-say-"):  # a prompt cannot be spoken: fail, do not go silent
            self._socket.fail(EngineError(f"realtime prompt refused: {reason(ev)}"))
            return
        log.warning("realtime error", code=code, message=str(err.get("message", ""))[:200])

    def _on_created(self, ev: p.ServerEvent) -> None:
        tag = ev.tag or "server"
        started = self._requested.pop(tag, time.perf_counter())
        self._responses[ev.response_id] = _Response(ev.response_id, tag, started)
        self._active = ev.response_id

    def _on_audio(self, ev: p.ServerEvent) -> None:
        resp = self._responses.get(ev.response_id)
        item = ev.text("item_id")
        if resp is None or item in self._cut:
            return  # a cancelled response's late audio
        data = ev.audio()
        pcm = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")  # an odd byte: dropped
        if len(pcm) == 0:
            return
        if resp.first_audio_ms is None:
            resp.first_audio_ms = (time.perf_counter() - resp.requested_at) * 1000
        self._received_ms[item] = self._received_ms.get(item, 0) + len(pcm) * 1000 // p.PCM_RATE
        down, rest = self._down.get(item) or (
            Resampler(p.PCM_RATE, HOUSE_RATE),
            np.zeros(0, np.int16),
        )
        pcm = np.concatenate([rest, pcm.astype(np.int16)])
        whole = len(pcm) - len(pcm) % OUT_FRAME
        self._down[item] = (down, pcm[whole:])
        if whole:
            self._deliver(resp, item, down.process_int16(pcm[None, :whole])[0])

    def _flush_audio(self, item: str, response_id: str) -> None:
        resp = self._responses.get(response_id)
        down, rest = self._down.pop(item, (None, np.zeros(0, np.int16)))
        if resp is None or down is None or not len(rest) or item in self._cut:
            return
        pad = np.zeros(OUT_FRAME - len(rest), np.int16)
        self._deliver(resp, item, down.process_int16(np.concatenate([rest, pad])[None, :])[0])

    def _deliver(self, resp: _Response, item: str, audio: I16) -> None:
        say = self._says.get(resp.tag)
        if say is not None:
            first = resp.first_audio_ms if self._received_ms[item] <= 1000 else 0.0
            say.chunks.put_nowait(Spoken(audio, first or 0.0, item))
        elif not resp.tag.startswith("say-"):
            self._events.put_nowait(ModelSpeech(item, audio))

    def _on_done(self, ev: p.ServerEvent) -> None:
        resp = self._responses.pop(ev.response_id, None)
        if self._active == ev.response_id:
            self._active = None
        status = str(ev.obj("response").get("status") or "")
        if resp is None:
            self._idle.set()
            return
        figures: dict[str, Any] = dict(p.usage(ev))
        figures["cost_usd"] = p.cost_usd(figures, self.config.prices)
        if resp.first_audio_ms is not None:
            figures["first_audio_ms"] = round(resp.first_audio_ms, 1)
        kind = "prompt" if resp.tag.startswith("say-") else "reply"
        figures |= {"response_id": resp.id, "status": status, "kind": kind,
                    "rate_limits": dict(self._rate_limits)}  # fmt: skip
        self._events.put_nowait(Usage(figures))
        say = self._says.get(resp.tag)
        if say is not None:
            say.chunks.put_nowait(None)
        elif status == "completed":
            self._decide(resp)
        elif status == "failed":
            self._socket.fail(EngineError(f"realtime response failed: {reason(ev)}"))
        if self._inflight and self._inflight[0] != "say" and kind == "reply":
            self._inflight = None
        self._idle.set()

    def _decide(self, resp: _Response) -> None:
        """A reply ended: what the model decided, the tools it wants, or neither."""
        listen, turn = self._listen, self._turn
        if listen is None or turn is None or self._bridged:
            return
        acted = False
        for call in resp.calls:
            name, call_id = call.text("name"), call.text("call_id")
            meant = read_call(turn, listen, self.flow, name, call_id, p.function_args(call),
                              self.today())  # fmt: skip
            if meant is None:
                log.warning("model called a function it was not given", function=name)
                self._send(p.function_output(call_id, '{"error": "no such function"}'))
                continue
            if isinstance(meant, Decision):
                meant = Decision(meant.intent, meant.slots, self._last_caller())
                # Answered, so the conversation holds no dangling call; the flow speaks next.
                self._send(p.function_output(call_id, '{"ok": true}'))
            self._events.put_nowait(meant)
            acted = True
        if not acted:
            self._events.put_nowait(Replied())

    def _last_caller(self) -> str:
        for who, words in reversed(self._history):
            if who == "caller":
                return words
        return ""
