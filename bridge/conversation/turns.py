"""The caller's side of turn-taking, frame by frame.

The leg pushes the caller's 20 ms frames in order (:meth:`CallerTurns.frame`) and
their keys (:meth:`CallerTurns.dtmf`). Everything that is timed — end of turn,
no-input, inter-digit timeouts — counts caller frames, so the call's own audio is its
clock: the same on a phone line in real time and on a virtual leg that runs as fast
as the CPU allows.

The media endpointer decides when the caller starts and stops (ending early once the
partial words already answer what the state expects); caller speech while the bot
talks cuts the bot (barge-in). A turn that ends goes to
:class:`~bridge.conversation.understanding.Understanding`.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from bridge.conversation.actions import FlowActions
from bridge.conversation.bot import BotSide
from bridge.conversation.context import CallContext
from bridge.conversation.floor import Floor
from bridge.conversation.keys import InbandKeys
from bridge.conversation.latency import Latency
from bridge.conversation.understanding import Understanding
from bridge.engines.base import I16
from bridge.events.schema import DtmfReceived
from flows import interpreter as fi
from flows.interpreter import MASK
from media.endpoint import EndpointConfig
from media.format import FRAME_MS
from media.vad import NoiseFloorVad

DEFAULT_NO_INPUT_MS = 6000
PARTIAL_EVERY = 10  # frames between checks of whether the answer is already complete
# The caller's quiet after which the engine is told they may be done: half the shortest
# hangover, so a final pass that starts then is mostly over when the turn ends.
PAUSE_MS = 100
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


class CallerTurns:
    def __init__(
        self,
        ctx: CallContext,
        floor: Floor,
        bot: BotSide,
        flow: FlowActions,
        understanding: Understanding,
        latency: Latency,
    ) -> None:
        self.ctx, self.floor, self.bot, self.flow = ctx, floor, bot, flow
        self.understanding, self.latency = understanding, latency
        self.vad = NoiseFloorVad(1)  # frame power: the same at the line's rate as at 16 kHz
        self.inband = InbandKeys(floor.audio.rate)
        self._understanding: asyncio.Task[None] | None = None  # the last turn's recognition

    @property
    def awaiting_caller(self) -> bool:
        """The flow waits for the caller and the bot has finished talking."""
        floor = self.floor
        return (
            floor.listen is not None
            and floor.open
            and not floor.in_speech
            and not floor.handling
            and not self.bot.busy
            and not self.ctx.bridged
        )

    def frame(self, frame: I16, line: bytes | None) -> None:
        """One 20 ms frame of the caller, at the line's rate (``line``: as the carrier
        sent it, for engines that take it)."""
        ctx, floor = self.ctx, self.floor
        fired_at = time.perf_counter()
        ctx.frames += 1
        key = self.inband.feed(frame, ctx.frames)
        if self.inband.in_tone:  # a key's tone is not speech: no barge-in, no words
            frame, prob = np.zeros_like(frame), np.zeros(1)  # the noise floor learns nothing
        else:
            prob = self.vad.process(frame[None, :])
        started, ended = floor.endpointer.update(prob)
        in_speech = floor.in_speech or bool(len(ended))
        if len(started):
            self._speech_started(fired_at)
        session = ctx.session
        if session.server_turns and not ctx.bridged:
            session.push(floor.audio.house(frame), line)  # the model hears everything
        elif floor.open and (in_speech or len(started)):
            if len(started):
                floor.push_onset()
            session.push(floor.audio.house(frame), line)
            if ctx.frames % PARTIAL_EVERY == 0 and in_speech:
                ctx.spawn(self.understanding.partial())
            if not len(ended):
                self._pause(floor.endpointer.quiet_ms())
        floor.audio.add(frame)
        if len(ended):
            self._speech_ended()
        if key is not None:
            self._key(key)
        self._tick_timers(in_speech)

    def _speech_started(self, fired_at: float) -> None:
        ctx, floor = self.ctx, self.floor
        floor.speech_started()
        since = ctx.now_ms() - floor.speech_start_clock
        going_on = floor.continuation.resumable(ctx.now_ms(), self.bot.sent_frames, since)
        if going_on is not None and self.understanding.step_back(going_on, onset=False):
            return
        floor.continuation.forget()
        if floor.listen is None or not self.bot.busy:
            return
        self.bot.barge_in(fired_at)

    def _pause(self, quiet_ms: int) -> None:
        """Tell the engine when the caller goes quiet within a turn, and speaks again."""
        floor = self.floor
        if quiet_ms >= PAUSE_MS and not floor.paused:
            floor.paused = True
            self.ctx.session.caller_paused(True)
            self.ctx.spawn(self.understanding.hold_if_unfinished())
        elif quiet_ms == 0 and floor.paused:
            floor.paused = False
            self.ctx.session.caller_paused(False)
            floor.endpointer.hold(0, False)  # the next pause is judged afresh

    def _speech_ended(self) -> None:
        ctx, floor = self.ctx, self.floor
        floor.paused = False
        if not floor.open or floor.listen is None:
            return
        listen = floor.listen
        floor.open = False
        floor.handling = True
        end_ms = int(floor.endpointer.speech_end_ms[0])
        self.latency.turn_ended(end_ms)
        if ctx.session.server_turns and not ctx.bridged:
            floor.open = True  # the model ends turns (ModelTurns hears when)
            return
        understand = self.understanding.understand(listen, floor.speech_start_ms, end_ms)
        self._understanding = ctx.spawn(understand)

    def last_words(self) -> asyncio.Task[None] | None:
        """The caller hung up: a turn they were in the middle of is recognised as it
        stands. Returns the recognition of their last turn, if any."""
        ctx, floor = self.ctx, self.floor
        listen = floor.listen
        ours = not ctx.session.server_turns or ctx.bridged  # we, not the model, end turns
        if ours and floor.open and floor.in_speech and listen is not None:
            floor.open = False
            turn = self.understanding.understand(listen, floor.speech_start_ms, ctx.audio_ms)
            self._understanding = ctx.spawn(turn)
        return self._understanding

    # -- keys and timers --------------------------------------------------------------------

    def dtmf(self, key: str) -> None:
        """One DTMF key reported out of band (RFC 4733, SIP INFO, a carrier event)."""
        if not self.inband.out_of_band(key, self.ctx.frames):
            self._key(key)

    def _key(self, key: str) -> None:
        floor = self.floor
        if floor.digits.swallowed(key, self.ctx.frames):
            return
        if self.ctx.ended.is_set() or floor.listen is None or floor.handling:
            return
        if self.bot.busy:
            self.bot.barge_in(time.perf_counter())
        if floor.digits.add(key, floor.listen.dtmf_max):
            self._submit_digits()

    def _submit_digits(self) -> None:
        floor = self.floor
        digits = floor.digits.take(self.ctx.frames)
        listen = floor.listen
        if not digits or listen is None:
            return
        self.ctx.emit(DtmfReceived, digits=MASK if listen.sensitive else digits)
        floor.open = False
        self.flow.handle(fi.Dtmf(digits))

    def _tick_timers(self, in_speech: bool) -> None:
        floor = self.floor
        if floor.digits.timed_out():
            self._submit_digits()
        listen = floor.listen
        if listen is None or in_speech or floor.handling or self.bot.busy or self.ctx.bridged:
            floor.quiet = 0
            return
        floor.quiet += 1
        limit = listen.timeout_ms or DEFAULT_NO_INPUT_MS
        if floor.quiet * FRAME_MS >= limit:
            floor.quiet = 0
            floor.open = False
            self.flow.handle(fi.NoInput())
