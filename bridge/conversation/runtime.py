"""One call's conversation: the flow interpreter's actions carried out on a leg and an engine.

The leg pushes the caller's 20 ms house-format frames (:meth:`CallRuntime.caller_frame`)
and DTMF, and pulls the bot's frames (:meth:`CallRuntime.bot_frame`). Everything
that is timed — end of turn, no-input, inter-digit timeouts — counts caller
frames, so the call's own audio is its clock: the same on a phone line in real
time and on a virtual leg that runs as fast as the CPU allows.

Turn-taking: the media endpointer decides when the caller starts and stops
(ending early once the partial words already answer what the state expects);
caller speech while the bot talks clears playout at once (barge-in) and the
bot's turn is cut to what was played. Engine failure never leaves the line
silent: a fallback prompt, then the flow's fallback state or a clean hang-up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bridge import logs
from bridge.conversation.continuation import Continuation, Taken
from bridge.conversation.digits import Digits
from bridge.conversation.fallback import FALLBACK_PROMPT, Fallback
from bridge.conversation.lookups import LookupFn
from bridge.conversation.model_turns import ModelTurns
from bridge.conversation.recording import CallRecording
from bridge.conversation.speaker import Speaker
from bridge.engines.base import I16, EngineError, EngineSession, SpeechEngine
from bridge.events.schema import (
    BargeIn,
    CallEnded,
    CallEvents,
    CallStarted,
    DtmfReceived,
    Envelope,
    IntentDetected,
    RecordingFailed,
    StateEntered,
    TranscriptFinal,
    TranscriptPartial,
    TransferEvent,
    TurnLatency,
)
from flows import interpreter as fi
from flows.model import Flow
from flows.nlu import Matcher
from flows.nlu.unfinished import sounds_unfinished
from media.endpoint import EndpointConfig, Endpointer
from media.format import FRAME_MS, HOUSE_FRAME
from media.inbound import InboundAudio
from media.line_codec import LineCodec
from media.playout import Playout
from media.vad import NoiseFloorVad

log = logs.get_logger(__name__)

MASK = "[sensitive]"
DEFAULT_NO_INPUT_MS = 6000
LEAD_IN_FRAMES = 15  # audio before the VAD fired that recognition still gets (300 ms)
# pocketsphinx mistakes the first word when speech starts at once (the mu-law line's
# "talk to a person" heard as "uh how do a card can"): each turn starts on silence.
SILENT_START = np.zeros((15, HOUSE_FRAME), np.int16)
PARTIAL_EVERY = 10  # frames between checks of whether the answer is already complete
# The caller's quiet after which the engine is told they may be done: half the shortest
# hangover, so a final pass that starts then is mostly over when the turn ends.
PAUSE_MS = 100
CUT_HANGUP_S = 2.0  # a leg's hang-up when the bridge ends a call itself
LAST_WORDS_S = 3.0  # after a hang-up, how long the words already said may take to write down
# Turn-taking for a phone conversation: speech counts after 200 ms (shorter bursts on a
# noisy line are not a caller interrupting), the turn ends after 550 ms of silence;
# after 200 ms once the words so far are a whole answer by their form (all the digits,
# a yes or a no), never early on an intent ("I lost my card | somewhere on the bus" is
# a whole sentence at its pause, and the caller has more to say); after 1200 ms when
# the words at the pause stop mid-sentence ("how much money is | in my account") or
# answer nothing yet ("my son needs | his booster jab").
ENDPOINT = EndpointConfig(
    onset_ms=200, hangover_ms=550, early_hangover_ms=200, held_hangover_ms=1200
)


class LegControl(Protocol):
    """What the runtime asks of the leg that carries the call."""

    def clear(self) -> int:
        """Drop bot audio buffered beyond our playout (e.g. Twilio's `clear`); returns the
        milliseconds of it that had been handed over but not yet heard."""

    async def transfer(self, target: fi.Transfer) -> bool: ...

    async def hangup(self) -> None: ...


@dataclass
class _Turn:
    n: int
    speech_end_ms: int  # on the call clock
    endpoint_wait_ms: int
    asr_final_ms: float = 0.0
    tts_first_ms: float | None = None
    reported: bool = False


@dataclass
class Outcome:
    reason: str = ""
    outcome: str = ""
    path: list[str] = field(default_factory=list)


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
        self.call_id, self.flow, self.session = call_id, flow, session
        self.engine_name, self.control, self.lookup = engine_name, control, lookup
        self.carrier, self.realtime = carrier, realtime
        self.caller_number, self.dialled_number = caller_number, dialled_number
        # seq_base: a later stream of the same call numbers its events after the others'
        self._emit_raw, self.events = emit, CallEvents(call_id, start_seq=seq_base)
        self.fallback = Fallback(self, fallback_prompt, fallback_engine)
        # A carrier's frames are examined at the line's own rate and made house format
        # only while the engine hears them (media.inbound); the recording keeps the line's.
        self.line = line
        self.audio = InboundAudio(line, LEAD_IN_FRAMES)
        self._record = record  # opened once the call has started (its failure is an event)
        self.recording: CallRecording | None = None
        self.recording_failed = recording_failed
        self.model = ModelTurns(self)
        self._model_task: asyncio.Task[None] | None = None
        now = clock or (lambda: datetime.now(UTC))  # business hours and relative dates
        self.interp = fi.Interpreter(
            flow,
            clock=now,
            caller_number=caller_number,
            dialled_number=dialled_number,
            call_id=call_id,
        )
        self.matcher = Matcher(flow, today=lambda: now().date())
        self.vad = NoiseFloorVad(1)  # frame power: the same at the line's rate as at 16 kHz
        self.endpointer = Endpointer(1, endpoint or ENDPOINT)
        self.playout = Playout(HOUSE_FRAME, line, keep_line_pcm=record is not None)
        # Set when bot audio arrives with nothing playing: a leg that can send at any
        # moment (a WebSocket carrier) starts it at once, not at the next caller frame.
        self.audio_ready = asyncio.Event()
        self.voice = Speaker(
            self.playout, lambda text, sensitive: self.session.speak(text, sensitive=sensitive),
            name=call_id, audio_ready=self.audio_ready, on_synthesised=self._synthesised,
            on_failed=self._fail,
        )  # fmt: skip
        self.frames = 0
        self._t0 = time.monotonic()
        self.listen: fi.Listen | None = None
        self._turn_open = False  # a caller turn is being recognised
        self._paused = False  # the caller went quiet within the open turn (caller_paused)
        self._closing: asyncio.Task[None] | None = None  # the engine session's close, at the end
        self._handling = False  # a finished turn is being understood
        self._understanding: asyncio.Task[None] | None = None  # the last turn's recognition
        self.hung_up = False  # the caller is gone; the call ends once their words are down
        self._quiet = 0  # frames of nobody speaking while we wait for the caller
        self.digits = Digits()
        self._after_speech: list[Callable[[], None]] = []
        self._busy: set[asyncio.Task[Any]] = set()
        self._turns = 0
        self._turn: _Turn | None = None
        self._speech_start_ms = 0
        self._speech_start_clock = 0
        self._last_partial = ""
        self.continuation = Continuation()
        self.bot_frames = 0  # of bot audio played: what a caller may have heard of a reply
        self.bridged = False
        self.ended = asyncio.Event()
        self.result = Outcome()
        self.figures: list[dict[str, float]] = []  # per turn, for benchmarks
        self.barge_ins: list[dict[str, float]] = []

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

    def _emit(self, cls: type, **fields: Any) -> None:
        try:
            self._emit_raw(self.events.make(cls, **fields))
        except Exception:  # the event log refusing must not end the call
            log.exception("event not published", event=getattr(cls, "__name__", cls))

    # -- lifecycle --------------------------------------------------------------------

    async def start(self, flow_version: int | None = None) -> None:
        self._emit(
            CallStarted,
            carrier=self.carrier,
            from_number=self.caller_number,
            to_number=self.dialled_number,
            flow_name=self.flow.flow,
            flow_version=flow_version,
        )
        if self._record is not None:
            self.recording = CallRecording(
                self._record, self.audio.rate, on_failure=self._recording_stopped
            )
        self.voice.start()
        self._listen_to_model()
        self._spawn(self.fallback.prepare())
        self._execute(self.interp.start())

    def _recording_stopped(self, reason: str) -> None:
        """The recording failed (a full disk, an unwritable folder): the call goes on."""
        self._emit(RecordingFailed, reason=reason)
        if self.recording_failed is not None:
            self.recording_failed(reason)

    def _listen_to_model(self) -> None:
        async def run() -> None:
            try:
                await self.model.run()
            except EngineError as exc:
                self._fail(str(exc))

        self._model_task = asyncio.create_task(run(), name=f"model-{self.call_id}")

    async def settle(self) -> None:
        """Wait until no recognition, synthesis or lookup is in flight, and an ended call's
        engine session is closed (virtual legs)."""
        while True:
            pending = {t for t in self._busy if not t.done()}
            if self._closing is not None and not self._closing.done():
                pending.add(self._closing)
            owes = getattr(self.session, "owes", False)  # a model still to answer
            if self.voice.quiet and not pending and not owes:
                return
            if pending:
                await asyncio.wait(pending)
            else:
                await asyncio.sleep(0.001)  # synthesis runs in a thread; let it finish

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[None]:
        task = asyncio.create_task(self._guard(coro))
        self._busy.add(task)
        task.add_done_callback(self._busy.discard)
        # A call that ends at once cancels the task before it ran: close the coroutine
        # so it is not reported as never awaited (a no-op once it has run).
        task.add_done_callback(lambda _: coro.close())
        return task

    async def _guard(self, coro: Awaitable[Any]) -> None:
        try:
            await coro
        except EngineError as exc:
            self._fail(str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must end this call cleanly, not the process
            log.exception("call runtime error")
            self._fail(f"internal error: {type(exc).__name__}")

    def caller_hung_up(self, reason: str = "caller_hangup") -> None:
        """The caller's side is gone (``reason`` says how, e.g. ``rtp_timeout``). What
        they said before they went still reaches the transcript: a turn they were in
        the middle of is recognised as it stands, and the call ends when the last
        turn's words are written down (at most :data:`LAST_WORDS_S` later)."""
        if self.ended.is_set() or self.hung_up:
            return
        self.hung_up = True
        self.interp.handle(fi.HungUp())
        outcome = "transferred" if self.bridged else "abandoned"
        listen = self.listen
        ours = not self.session.server_turns or self.bridged  # we, not the model, end turns
        if ours and self._turn_open and self.in_speech and listen is not None:
            self._turn_open = False
            turn = self._understand(listen, self._speech_start_ms, self.frames * FRAME_MS)
            self._understanding = self._spawn(turn)
        last = self._understanding
        if last is None or last.done():
            self._end(reason, outcome)
            return
        self._spawn(self._end_after(last, reason, outcome))

    async def cut(self, reason: str) -> None:
        """End the call from our side now (the drain ran out of time): the leg hangs up
        (at most :data:`CUT_HANGUP_S`) and the call is stored with ``reason``."""
        if self.ended.is_set():
            return
        self.voice.silence()
        try:
            await asyncio.wait_for(self.control.hangup(), CUT_HANGUP_S)
        except Exception as exc:
            log.warning("the leg did not hang up", call_id=self.call_id, error=repr(exc))
        self._end(reason, "failed")

    async def _end_after(self, last: asyncio.Task[None], reason: str, outcome: str) -> None:
        await asyncio.wait({last}, timeout=LAST_WORDS_S)
        self._busy.discard(asyncio.current_task())  # type: ignore[arg-type]
        self._end(reason, outcome)

    def _end(self, reason: str, outcome: str) -> None:
        if self.ended.is_set():
            return
        self.result.reason, self.result.outcome = reason, outcome
        self._emit(
            CallEnded,
            reason=reason,
            outcome=outcome,
            duration_ms=self.frames * FRAME_MS,
        )
        self.voice.stop()
        if self._model_task is not None:
            self._model_task.cancel()
        for task in list(self._busy):
            task.cancel()
        if self.recording is not None:
            self.recording.close()
        self.ended.set()
        # Kept, and waited for by settle(): a loop that ends (the CLI's) would otherwise
        # drop the close half done, leaving the engine's socket open.
        self._closing = asyncio.get_running_loop().create_task(self.session.close())

    # -- caller side ------------------------------------------------------------------

    def caller_frame(self, frame: I16, line: bytes | None = None) -> None:
        """One 20 ms house-format frame of the caller (the leg calls this in order);
        ``line`` is the same frame as the carrier sent it, for engines that take it."""
        self._caller(frame, line)

    def caller_line(self, payload: bytes) -> None:
        """One 20 ms frame as the carrier sent it, in the line encoding the runtime was
        given (Twilio, Vonage): cheaper than :meth:`caller_frame` when nobody listens."""
        self._caller(self.audio.narrow(payload), payload)

    def _caller(self, frame: I16, line: bytes | None) -> None:
        if self.ended.is_set() or self.hung_up:
            return
        fired_at = time.perf_counter()
        self.frames += 1
        prob = self.vad.process(frame[None, :])
        started, ended = self.endpointer.update(prob)
        in_speech = bool(self.endpointer.in_speech[0]) or bool(len(ended))
        if len(started):
            self._on_speech_start(fired_at)
        if self.session.server_turns and not self.bridged:
            self.session.push(self.audio.house(frame), line)  # the model hears everything
        elif self._turn_open and (in_speech or len(started)):
            if len(started):
                self._push_onset()
            self.session.push(self.audio.house(frame), line)
            if self.frames % PARTIAL_EVERY == 0 and in_speech:
                self._spawn(self._partial())
            if not len(ended):
                self._pause(self.endpointer.quiet_ms())
        self.audio.add(frame)
        if len(ended):
            self._on_speech_end()
        self._tick_timers(in_speech)
        if self.recording is not None:
            self.recording.caller_frame(frame, self._private())

    def _private(self) -> bool:
        """Nothing of a sensitive state, or of a sensitive prompt, is recorded."""
        utt = self.voice.playing
        return self.flow.states[self.interp.state].sensitive or bool(utt and utt.sensitive)

    def _on_speech_start(self, fired_at: float) -> None:
        self._speech_start_ms = int(self.endpointer.speech_start_ms[0])
        # The same moment on the call clock (the audio timeline and the wall clock of a
        # real-time leg drift apart): what the barge-in's stop time is measured from.
        self._speech_start_clock = self.now_ms() - (self.audio_ms - self._speech_start_ms)
        self._last_partial = ""
        self._quiet = 0
        since = self.now_ms() - self._speech_start_clock
        going_on = self.continuation.resumable(self.now_ms(), self.bot_frames, since)
        if going_on is not None and self._step_back(going_on, onset=False):
            return
        self.continuation.forget()
        if self.listen is None or not self.voice.busy:
            return
        self._barge_in(fired_at)

    @property
    def awaiting_caller(self) -> bool:
        """The flow waits for the caller and the bot has finished talking."""
        return (
            self.listen is not None
            and self._turn_open
            and not self.endpointer.in_speech[0]
            and not self._handling
            and not self.voice.busy
            and not self.bridged
        )

    @property
    def in_speech(self) -> bool:
        """The caller is talking (by the endpointer)."""
        return bool(self.endpointer.in_speech[0])

    @property
    def speaking(self) -> bool:
        """The bot is talking, or has words still to say."""
        return self.voice.busy

    def _barge_in(self, fired_at: float) -> None:
        cut = self.voice.cut(self.control.clear)
        silent_us = (time.perf_counter() - fired_at) * 1e6
        heard = {h.item: h.played_ms for h in cut}
        self.model.cut.update(heard)
        self.session.interrupted(heard)
        for h in cut:
            utt = h.utterance
            if utt is None or h.played_ms == 0:
                continue  # queued but never heard: as if never said
            shown = MASK if utt.sensitive else _truncate(utt.text, h.played_ms, h.total_ms)
            self._emit(BargeIn, played_ms=h.played_ms, utterance=shown, at_ms=self._speech_start_ms)
            self._emit(
                TranscriptFinal,
                speaker="bot",
                text=shown,
                start_ms=utt.started_ms,
                end_ms=self.now_ms(),
                interrupted=True,
            )
        onset_to_silent = self.now_ms() - self._speech_start_clock
        self.barge_ins.append(
            {"onset_to_silent_ms": onset_to_silent, "vad_to_silent_us": silent_us}
        )
        self._after_speech.clear()

    def _pause(self, quiet_ms: int) -> None:
        """Tell the engine when the caller goes quiet within a turn, and speaks again."""
        if quiet_ms >= PAUSE_MS and not self._paused:
            self._paused = True
            self.session.caller_paused(True)
            self._spawn(self._hold_if_unfinished())
        elif quiet_ms == 0 and self._paused:
            self._paused = False
            self.session.caller_paused(False)
            self.endpointer.hold(0, False)  # the next pause is judged afresh

    async def _hold_if_unfinished(self) -> None:
        """Hold the turn open when what the caller said up to this pause (Whisper's
        words, heard from the pause on) stops mid-sentence, or answers nothing the
        state asked ("My son needs…", "Is there any chance…"): a caller gathering
        their thoughts is not done. A whole answer ends the turn on the usual hangover.
        """
        listen = self.listen
        if listen is None or self.bridged:
            return
        words = await self.session.words_at_pause()
        if not words:
            return
        unfinished = sounds_unfinished(words) or not await asyncio.to_thread(
            self.matcher.understands, words, listen
        )
        still = self._paused and self._turn_open and listen is self.listen
        if still and unfinished:
            self.endpointer.hold(0)

    def _on_speech_end(self) -> None:
        self._paused = False
        if not self._turn_open or self.listen is None:
            return
        listen = self.listen
        self._turn_open = False
        self._handling = True
        end_ms = int(self.endpointer.speech_end_ms[0])
        wait = self.frames * FRAME_MS - end_ms
        self._turns += 1
        speech_end_clock = self.now_ms() - wait if self.realtime else end_ms
        self._turn = _Turn(self._turns, speech_end_clock, wait)
        if self.session.server_turns and not self.bridged:
            self._turn_open = True  # the model ends turns (ModelTurns hears when)
            return
        self._understanding = self._spawn(self._understand(listen, self._speech_start_ms, end_ms))

    async def _partial(self) -> None:
        """Words so far: a partial transcript, and the endpointer's early-end hook."""
        listen = self.listen
        if listen is None or not self._turn_open:
            return
        words = await self.session.partial()
        if not words or words == self._last_partial:
            return
        self._last_partial = words
        self._emit(TranscriptPartial, speaker="caller", text=MASK if listen.sensitive else words,
                   start_ms=self._speech_start_ms, end_ms=self.frames * FRAME_MS)  # fmt: skip
        if self.bridged or listen.slot is None or listen.slot_type not in ("digits", "yes_no"):
            return
        # A slot whose answer is whole by its form (all the digits; a yes or a no) may end
        # the turn early; an intent never does (see ENDPOINT).
        if self.matcher.slot_value(words, listen) is not None:
            self.endpointer.set_complete(0)

    async def _understand(self, listen: fi.Listen, start_ms: int, end_ms: int) -> None:
        heard = await self.session.finish()
        if self._turn is not None:
            self._turn.asr_final_ms = heard.decode_ms
        if self.session.converses and not self.bridged:
            self.model.asked_at = time.perf_counter()
            return  # the model answers through its events (ModelTurns)
        whole, continues = self.continuation.joined(heard.text)
        text = MASK if listen.sensitive and heard.text else heard.text
        if self.hung_up:  # the caller's last words: written down, nobody left to answer
            if heard.text:
                self._emit(TranscriptFinal, speaker="caller", text=text, start_ms=start_ms,
                           end_ms=end_ms, continues=continues)  # fmt: skip
            return
        if self.bridged:
            self._transcribe_bridged(heard.text, start_ms, end_ms)
            return
        # Off the loop: the sentence embedding is milliseconds of CPU (the engine's own
        # look at the words has usually cached it already).
        u = await asyncio.to_thread(self.matcher.match, whole, listen)
        if heard.text:
            self._emit(TranscriptFinal, speaker="caller", text=text, start_ms=start_ms,
                       end_ms=end_ms, continues=continues)  # fmt: skip
        self._handling = False
        taken = Taken.of(self.interp.snap, len(self.result.path), listen, whole,
                         self.now_ms(), self.bot_frames)  # fmt: skip
        if self.endpointer.in_speech[0] and self._step_back(taken, onset=True):
            return  # already going on: nothing said back, nothing to undo
        if u.intent:
            slots = {k: MASK for k in u.slots} if listen.sensitive else u.slots
            self._emit(IntentDetected, intent=u.intent, confidence=u.confidence, slots=slots)
        if not any(isinstance(a, fi.Lookup) for a in self._handle(u)):
            self.continuation.taken = taken  # a request already sent is not taken back

    def _step_back(self, taken: Taken, onset: bool) -> bool:
        """The caller goes on with the turn just ended before its reply reached them:
        the reply is dropped, the flow returns to where it stood, and the turn is heard
        again from here (its words joined to these). Flows a model converses in, and a
        call handed to a person, take the words as they come."""
        if self.bridged or self.session.converses or self.session.server_turns:
            return False
        if self.ended.is_set() or self.hung_up:
            return False
        self.voice.cut(self.control.clear)
        self._after_speech.clear()  # a transfer or hang-up waiting on the reply
        self.interp.snap = self.continuation.step_back(taken)
        del self.result.path[taken.path_len :]
        log.info("caller went on after a pause", call_id=self.call_id, state=self.interp.state)
        self._emit(StateEntered, flow=self.flow.flow, state=self.interp.state)
        self._open_turn(taken.listen, onset=onset)
        return True

    def _transcribe_bridged(self, text: str, start_ms: int, end_ms: int) -> None:
        if text:
            self._emit(
                TranscriptFinal, speaker="caller", text=text, start_ms=start_ms, end_ms=end_ms
            )
        self._handling = False
        self._open_turn(fi.Listen("_bridged", slot_type="text"))

    def dtmf(self, key: str) -> None:
        """One DTMF key from the leg (RFC 4733, SIP INFO, a carrier event or in-band)."""
        if self.digits.swallowed(key, self.frames):
            return
        if self.ended.is_set() or self.listen is None or self._handling:
            return
        if self.voice.busy:
            self._barge_in(time.perf_counter())
        if self.digits.add(key, self.listen.dtmf_max):
            self._submit_digits()

    def _submit_digits(self) -> None:
        digits = self.digits.take(self.frames)
        listen = self.listen
        if not digits or listen is None:
            return
        self._emit(DtmfReceived, digits=MASK if listen.sensitive else digits)
        self._turn_open = False
        self._handle(fi.Dtmf(digits))

    def _tick_timers(self, in_speech: bool) -> None:
        if self.digits.timed_out():
            self._submit_digits()
        listen = self.listen
        if listen is None or in_speech or self._handling or self.voice.busy or self.bridged:
            self._quiet = 0
            return
        self._quiet += 1
        limit = listen.timeout_ms or DEFAULT_NO_INPUT_MS
        if self._quiet * FRAME_MS >= limit:
            self._quiet = 0
            self._turn_open = False
            self._handle(fi.NoInput())

    # -- bot side ---------------------------------------------------------------------

    def bot_frame(self) -> I16 | None:
        """The next 20 ms of bot audio, or None for silence (the leg calls this every tick)."""
        frame, done = self.voice.next_frame(self.audio_ms)
        if frame is not None and self.recording is not None:
            # A carrier call records what went down the line, at the line's rate.
            line = self.playout.line_pcm if self.line is not None else None
            self.recording.bot_frame(frame if line is None else line)
        if frame is not None:
            self.bot_frames += 1
            turn = self._turn
            if turn is not None and not turn.reported:
                self._report_turn(turn)
        for utt in done:
            self._emit(
                TranscriptFinal,
                speaker="bot",
                text=MASK if utt.sensitive else utt.text,
                start_ms=utt.started_ms,
                end_ms=self.now_ms(),
            )
        if not self.voice.busy and self._after_speech:
            then, self._after_speech = self._after_speech, []
            for fn in then:
                fn()
        return frame

    def bot_payload(self) -> bytes | None:
        """:meth:`bot_frame` in the leg's line encoding (the runtime was given ``line``),
        converted when the audio was queued rather than on every tick."""
        return None if self.bot_frame() is None else self.playout.line_frame

    def _report_turn(self, turn: _Turn) -> None:
        turn.reported = True
        gap = self.now_ms() - turn.speech_end_ms
        tts = turn.tts_first_ms or 0.0
        # In real time the gap holds the compute; on a virtual clock compute takes no
        # audio time, so what is left after the endpointer's wait is the bridge's own.
        compute = turn.asr_final_ms + tts if self.realtime else 0.0
        figures = {
            "turn_gap_ms": float(gap),
            "endpoint_wait_ms": float(turn.endpoint_wait_ms),
            "asr_final_ms": round(turn.asr_final_ms, 2),
            "tts_first_chunk_ms": round(tts, 2),
            "bridge_overhead_ms": round(gap - turn.endpoint_wait_ms - compute, 2),
        }
        self.figures.append(figures)
        self._emit(TurnLatency, turn=turn.n, figures_ms=figures)

    def _synthesised(self, synth_ms: float) -> None:
        """A chunk of a prompt was made: the turn's first one is its TTS time."""
        turn = self._turn
        if turn is not None and turn.tts_first_ms is None:
            turn.tts_first_ms = synth_ms

    # -- the flow's actions -----------------------------------------------------------

    def _handle(self, event: fi.Event) -> list[fi.Action]:
        self.continuation.forget()
        if self.ended.is_set() or self.fallback.failing:
            return []
        self.listen = None
        actions = self.interp.handle(event)
        self._execute(actions)
        return actions

    def _execute(self, actions: list[fi.Action]) -> None:
        for action in actions:
            match action:
                case fi.StateEntered(state):
                    self.result.path.append(state)
                    self._emit(StateEntered, flow=self.flow.flow, state=state)
                case fi.Say(text, sensitive):
                    if not self.fallback.failing:
                        self.voice.say(text, sensitive)
                case fi.Listen():
                    self._open_turn(action)
                case fi.Converse():
                    self.session.converse(action)  # a model converses; the local engine
                    # listens for the exits
                case fi.Lookup():
                    self._spawn(self._lookup(action))
                case fi.Transfer():
                    self._after_speech.append(lambda a=action: self._spawn(self._transfer(a)))
                case fi.Hangup():
                    self._after_speech.append(lambda: self._spawn(self._hangup()))
                case fi.SetVariables():
                    pass
        if (
            self.interp.ended
            and not self._after_speech
            and not any(isinstance(a, fi.Transfer | fi.Hangup) for a in actions)
        ):
            self._end("flow_ended", "completed")

    def _open_turn(self, listen: fi.Listen, onset: bool = True) -> None:
        """``onset``: give the engine what the caller is already saying (the speech
        started before the turn opened)."""
        self.listen = listen
        self._quiet = 0
        self.digits.clear()
        self._turn_open = True
        self._paused = False
        self.session.listen(listen)
        if onset and self.endpointer.in_speech[0]:
            self._push_onset()  # the caller is already talking: give them what they said

    def _push_onset(self) -> None:
        """Silence, then the recent frames: the onset the VAD needed to be sure."""
        for f in SILENT_START:
            self.session.push(f)
        for f in self.audio.lead_in():
            self.session.push(f)

    async def _lookup(self, req: fi.Lookup) -> None:
        result = await self.lookup(req)
        self._handle(result)

    async def _transfer(self, req: fi.Transfer) -> None:
        target = req.queue or req.sip or req.number or ""
        self._emit(TransferEvent, target=target, status="requested")
        ok = await self.control.transfer(req)
        self._emit(TransferEvent, target=target, status="connected" if ok else "failed")
        if not ok and self.fallback.failing:  # the fallback transfer failed too: end cleanly
            await self.control.hangup()
            self._end(self.result.reason, "failed")
            return
        if ok:
            self.interp.handle(fi.TransferResult(True))
            self.bridged = True  # the caller talks to a person; we keep transcribing
            self._open_turn(fi.Listen("_bridged", slot_type="text"))
            return
        self._handle(fi.TransferResult(False))

    async def _hangup(self) -> None:
        await self.control.hangup()
        outcome = "failed" if self.fallback.failing else "completed"
        self._end(self.result.reason or "flow_hangup", outcome)

    # -- failure (bridge/conversation/fallback.py) -------------------------------------

    def _fail(self, reason: str) -> None:
        self.fallback.fail(reason)

    def silence_bot(self) -> None:
        """Stop all bot speech and the caller's turn: the fallback speaks next."""
        self.voice.silence()
        self.control.clear()
        self.listen, self._turn_open, self._handling, self._after_speech = None, False, False, []

    def play(self, id_: str, text: str, audio: I16) -> None:
        """Queue ``audio`` as a bot utterance of its own (the fallback prompt)."""
        self.voice.play(id_, text, audio)

    def restart_speaking(self) -> None:
        """A new session speaks and reports from here on."""
        self.voice.start()
        self._listen_to_model()


def _truncate(text: str, played_ms: int, total_ms: int) -> str:
    """The words of ``text`` heard in ``played_ms`` of ``total_ms`` (evenly paced speech)."""
    words = text.split()
    if total_ms <= 0 or played_ms >= total_ms:
        return text
    return " ".join(words[: round(len(words) * played_ms / total_ms)])
