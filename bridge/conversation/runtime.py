"""One call's conversation: the flow interpreter's actions carried out on a leg and an engine.

:class:`CallRuntime` is what a leg drives: it pushes the caller's 20 ms frames
(:meth:`CallRuntime.caller_frame`) and DTMF and pulls the bot's frames
(:meth:`CallRuntime.bot_frame`). The runtime wires the call's parts and owns its
life (start, the end, the recording); the work is theirs:

- :mod:`~bridge.conversation.turns` and :mod:`~bridge.conversation.understanding`:
  the caller's turns (voice activity, end of turn, pauses, keys, timers) and what
  their words mean for the flow, on the shared :mod:`~bridge.conversation.floor`;
- :mod:`~bridge.conversation.bot`: the bot's speech, its frames, barge-in;
- :mod:`~bridge.conversation.actions`: the interpreter's actions;
- :mod:`~bridge.conversation.model_turns`: what a conversing model reports;
- :mod:`~bridge.conversation.fallback`: engine failure never leaves the line silent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bridge import logs
from bridge.conversation.actions import FlowActions
from bridge.conversation.bot import BotSide
from bridge.conversation.context import CallContext, LegControl, Outcome
from bridge.conversation.fallback import FALLBACK_PROMPT, Fallback
from bridge.conversation.floor import Floor
from bridge.conversation.latency import Latency
from bridge.conversation.lookups import LookupFn
from bridge.conversation.model_turns import ModelTurns
from bridge.conversation.recording import CallRecording
from bridge.conversation.turns import ENDPOINT, CallerTurns
from bridge.conversation.understanding import Understanding
from bridge.engines.base import I16, EngineError, EngineSession, SpeechEngine
from bridge.events.schema import CallEnded, CallStarted, Envelope, RecordingFailed
from flows import interpreter as fi
from flows.model import Flow
from flows.nlu import Matcher
from media.endpoint import EndpointConfig
from media.line_codec import LineCodec

log = logs.get_logger(__name__)

CUT_HANGUP_S = 2.0  # a leg's hang-up when the bridge ends a call itself
LAST_WORDS_S = 3.0  # after a hang-up, how long the words already said may take to write down


class CallRuntime:
    def __init__(
        self,
        *,
        call_id: str,
        flow: Flow,
        session: EngineSession,
        engine_name: str,
        control: LegControl,
        emit: Callable[[Envelope], None],
        lookup: LookupFn,
        caller_number: str = "",
        dialled_number: str = "",
        carrier: str = "virtual",
        realtime: bool = True,
        endpoint: EndpointConfig | None = None,
        fallback_prompt: str = FALLBACK_PROMPT,
        clock: Callable[[], datetime] | None = None,
        line: LineCodec | None = None,
        fallback_engine: SpeechEngine | None = None,
        record: Path | None = None,
        recording_failed: Callable[[str], None] | None = None,
        seq_base: int = 0,
    ) -> None:
        self.control, self.carrier, self.line = control, carrier, line
        self.caller_number, self.dialled_number = caller_number, dialled_number
        now = clock or (lambda: datetime.now(UTC))  # business hours and relative dates
        interp = fi.Interpreter(
            flow,
            clock=now,
            caller_number=caller_number,
            dialled_number=dialled_number,
            call_id=call_id,
        )
        self.ctx = ctx = CallContext(
            call_id=call_id,
            flow=flow,
            session=session,
            engine_name=engine_name,
            interp=interp,
            emit=emit,
            seq_base=seq_base,
            realtime=realtime,
        )
        self._record = record  # opened once the call has started (its failure is an event)
        self.recording: CallRecording | None = None
        self.recording_failed = recording_failed
        self._model_task: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None  # the engine session's close, at the end
        matcher = Matcher(flow, today=lambda: now().date())
        self._assemble(lookup, endpoint or ENDPOINT, matcher, record is not None)
        self.fallback = Fallback(ctx, self, self.actions, fallback_prompt, fallback_engine)
        ctx.on_failure = self.fallback.fail

    def _assemble(
        self, lookup: LookupFn, endpoint: EndpointConfig, matcher: Matcher, recorded: bool
    ) -> None:
        """The call's parts, each given the few others it works with."""
        ctx, line = self.ctx, self.line
        self.latency = latency = Latency(ctx)
        self.floor = floor = Floor(ctx, endpoint, line)
        self.bot = bot = BotSide(ctx, floor, latency, self.control.clear, line, recorded)
        self.actions = flow = FlowActions(ctx, floor, bot, self.control, lookup, self._end)
        self.understanding = Understanding(ctx, floor, bot, flow, matcher, latency)
        self.turns = CallerTurns(ctx, floor, bot, flow, self.understanding, latency)
        self.model = ModelTurns(ctx, bot, self.understanding, latency, lookup)

    # -- what legs, the service and benchmarks read -------------------------------------

    @property
    def call_id(self) -> str:
        return self.ctx.call_id

    @property
    def flow(self) -> Flow:
        return self.ctx.flow

    @property
    def session(self) -> EngineSession:
        return self.ctx.session

    @property
    def engine_name(self) -> str:
        return self.ctx.engine_name

    @property
    def interp(self) -> fi.Interpreter:
        return self.ctx.interp

    @property
    def result(self) -> Outcome:
        return self.ctx.result

    @property
    def ended(self) -> asyncio.Event:
        return self.ctx.ended

    @property
    def bridged(self) -> bool:
        """The caller was handed to a person (we keep transcribing)."""
        return self.ctx.bridged

    @property
    def hung_up(self) -> bool:
        return self.ctx.hung_up

    @property
    def realtime(self) -> bool:
        return self.ctx.realtime

    @property
    def audio_ready(self) -> asyncio.Event:
        """Set when bot audio is ready with nothing playing (a leg may send it at once)."""
        return self.bot.audio_ready

    @property
    def figures(self) -> list[dict[str, float]]:
        """Per turn latency figures, for benchmarks."""
        return self.latency.figures

    @property
    def barge_ins(self) -> list[dict[str, float]]:
        return self.bot.barge_ins

    def now_ms(self) -> int:
        """The call clock: wall time on a real-time leg, the audio timeline on a virtual one."""
        return self.ctx.now_ms()

    @property
    def audio_ms(self) -> int:
        """Where the call is on its audio timeline: the offsets transcripts carry."""
        return self.ctx.audio_ms

    @property
    def awaiting_caller(self) -> bool:
        """The flow waits for the caller and the bot has finished talking."""
        return self.turns.awaiting_caller

    @property
    def in_speech(self) -> bool:
        """The caller is talking (by the endpointer)."""
        return self.floor.in_speech

    @property
    def speaking(self) -> bool:
        """The bot is talking, or has words still to say."""
        return self.bot.busy

    # -- lifecycle --------------------------------------------------------------------

    async def start(self, flow_version: int | None = None) -> None:
        self.ctx.emit(
            CallStarted,
            carrier=self.carrier,
            from_number=self.caller_number,
            to_number=self.dialled_number,
            flow_name=self.flow.flow,
            flow_version=flow_version,
        )
        if self._record is not None:
            self.recording = CallRecording(
                self._record,
                self.floor.audio.rate,
                on_failure=self._recording_stopped,
                paced=self.ctx.realtime,
            )
        self.restart_speaking()
        self.ctx.spawn(self.fallback.prepare())
        self.actions.execute(self.interp.start())

    def _recording_stopped(self, reason: str) -> None:
        """The recording failed (a full disk, an unwritable folder): the call goes on."""
        self.ctx.emit(RecordingFailed, reason=reason)
        if self.recording_failed is not None:
            self.recording_failed(reason)

    async def settle(self) -> None:
        """Wait until no recognition, synthesis or lookup is in flight, and an ended call's
        engine session is closed (virtual legs)."""
        while True:
            pending = {t for t in self.ctx.busy if not t.done()}
            if self._closing is not None and not self._closing.done():
                pending.add(self._closing)
            owes = getattr(self.session, "owes", False)  # a model still to answer
            if self.bot.quiet and not pending and not owes:
                await self._recording_written()
                return
            if pending:
                await asyncio.wait(pending)
            else:
                await asyncio.sleep(0.001)  # synthesis runs in a thread; let it finish

    async def _recording_written(self) -> None:
        """An ended call's recording file is complete, and a failure writing its last
        blocks (told from the writer's thread) has become its event."""
        if self.ctx.ended.is_set() and self.recording is not None:
            await asyncio.to_thread(self.recording.wait_closed, LAST_WORDS_S)
            await asyncio.sleep(0)  # the loop runs the writer's call_soon_threadsafe

    def caller_hung_up(self, reason: str = "caller_hangup") -> None:
        """The caller's side is gone (``reason`` says how, e.g. ``rtp_timeout``). What
        they said before they went still reaches the transcript: a turn they were in
        the middle of is recognised as it stands, and the call ends when the last
        turn's words are written down (at most :data:`LAST_WORDS_S` later)."""
        ctx = self.ctx
        if ctx.ended.is_set() or ctx.hung_up:
            return
        ctx.hung_up = True
        ctx.interp.handle(fi.HungUp())
        outcome = "transferred" if ctx.bridged else "abandoned"
        last = self.turns.last_words()
        if last is None or last.done():
            self._end(reason, outcome)
            return
        ctx.spawn(self._end_after(last, reason, outcome))

    async def cut(self, reason: str) -> None:
        """End the call from our side now (the drain ran out of time): the leg hangs up
        (at most :data:`CUT_HANGUP_S`) and the call is stored with ``reason``."""
        if self.ctx.ended.is_set():
            return
        self.bot.silence(carrier=False)
        try:
            await asyncio.wait_for(self.control.hangup(), CUT_HANGUP_S)
        except Exception as exc:
            log.warning("the leg did not hang up", call_id=self.call_id, error=repr(exc))
        self._end(reason, "failed")

    async def _end_after(self, last: asyncio.Task[None], reason: str, outcome: str) -> None:
        await asyncio.wait({last}, timeout=LAST_WORDS_S)
        me = asyncio.current_task()
        if me is not None:  # settle() need not wait for the end it is about to see
            self.ctx.busy.discard(me)
        self._end(reason, outcome)

    def _end(self, reason: str, outcome: str) -> None:
        ctx = self.ctx
        if ctx.ended.is_set():
            return
        ctx.result.reason, ctx.result.outcome = reason, outcome
        ctx.emit(CallEnded, reason=reason, outcome=outcome, duration_ms=ctx.audio_ms)
        self.bot.stop()
        self.stop_model()
        for task in list(ctx.busy):
            task.cancel()
        if self.recording is not None:
            self.recording.close()
        ctx.ended.set()
        # Kept, and waited for by settle(): a loop that ends (the CLI's) would otherwise
        # drop the close half done, leaving the engine's socket open.
        self._closing = asyncio.get_running_loop().create_task(self.session.close())

    # -- the leg's frames and keys ------------------------------------------------------

    def caller_frame(self, frame: I16, line: bytes | None = None) -> None:
        """One 20 ms house-format frame of the caller (the leg calls this in order);
        ``line`` is the same frame as the carrier sent it, for engines that take it."""
        self._caller(frame, line)

    def caller_line(self, payload: bytes) -> None:
        """One 20 ms frame as the carrier sent it, in the line encoding the runtime was
        given (Twilio, Vonage): cheaper than :meth:`caller_frame` when nobody listens."""
        self._caller(self.floor.audio.narrow(payload), payload)

    def _caller(self, frame: I16, line: bytes | None) -> None:
        if self.ctx.ended.is_set() or self.ctx.hung_up:
            return
        self.turns.frame(frame, line)
        if self.recording is not None:
            self.recording.caller_frame(frame, self._private())

    def _private(self) -> bool:
        """Nothing of a sensitive state, or of a sensitive prompt, is recorded."""
        return self.flow.states[self.interp.state].sensitive or self.bot.private

    def dtmf(self, key: str) -> None:
        """One DTMF key from the leg (RFC 4733, SIP INFO, a carrier event or in-band)."""
        self.turns.dtmf(key)

    def bot_frame(self) -> I16 | None:
        """The next 20 ms of bot audio, or None for silence (the leg calls this every tick)."""
        frame = self.bot.next_frame()
        if frame is not None and self.recording is not None:
            # A carrier call records what went down the line, at the line's rate.
            line = self.bot.playout.line_pcm if self.line is not None else None
            self.recording.bot_frame(frame if line is None else line)
        return frame

    def bot_payload(self) -> bytes | None:
        """:meth:`bot_frame` in the leg's line encoding (the runtime was given ``line``),
        converted when the audio was queued rather than on every tick."""
        return None if self.bot_frame() is None else self.bot.playout.line_frame

    # -- for the fallback (bridge.conversation.fallback.FallbackHost) --------------------

    def silence_bot(self) -> None:
        """Stop all bot speech and the caller's turn: the fallback speaks next."""
        self.bot.silence(carrier=True)
        self.floor.close()

    def play(self, id_: str, text: str, audio: I16) -> None:
        """Queue ``audio`` as a bot utterance of its own (the fallback prompt)."""
        self.bot.play(id_, text, audio)

    def stop_model(self) -> None:
        if self._model_task is not None:
            self._model_task.cancel()

    def restart_speaking(self) -> None:
        """The current session speaks and reports from here on."""
        self.bot.start()

        async def run() -> None:
            try:
                await self.model.run()
            except EngineError as exc:
                self.ctx.fail(str(exc))

        self._model_task = asyncio.create_task(run(), name=f"model-{self.call_id}")
