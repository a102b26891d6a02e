"""What the caller's words mean for the call: transcripts, intents, the flow's next move.

A turn the endpointer ended is recognised and matched against what the state
expects, then handed to the flow; words so far show as partial transcripts and may
end a turn early, or hold it open at a pause when they stop mid-sentence. A caller
who goes on before the reply reached them has the flow stepped back and both parts
understood as one (:mod:`bridge.conversation.continuation`). A model that converses
reports the same things itself: its reports land here too (:meth:`server_turn`,
:meth:`model_words`, :meth:`decided`, :meth:`replied`).
"""

from __future__ import annotations

import asyncio
import time

from bridge import logs
from bridge.conversation.actions import FlowActions
from bridge.conversation.bot import BotSide
from bridge.conversation.context import CallContext
from bridge.conversation.continuation import Taken
from bridge.conversation.floor import Floor
from bridge.conversation.latency import Latency
from bridge.engines.base import Decision
from bridge.events.schema import IntentDetected, TranscriptFinal, TranscriptPartial
from flows import interpreter as fi
from flows.interpreter import MASK
from flows.nlu import Matcher
from flows.nlu.unfinished import sounds_unfinished

log = logs.get_logger(__name__)


class Understanding:
    def __init__(
        self,
        ctx: CallContext,
        floor: Floor,
        bot: BotSide,
        flow: FlowActions,
        matcher: Matcher,
        latency: Latency,
    ) -> None:
        self.ctx, self.floor, self.bot, self.flow = ctx, floor, bot, flow
        self.matcher, self.latency = matcher, latency

    # -- while the caller speaks ----------------------------------------------------------

    async def partial(self) -> None:
        """Words so far: a partial transcript, and the endpointer's early-end hook."""
        floor = self.floor
        listen = floor.listen
        if listen is None or not floor.open:
            return
        words = await self.ctx.session.partial()
        if not words or words == floor.last_partial:
            return
        floor.last_partial = words
        self.ctx.emit(
            TranscriptPartial,
            speaker="caller",
            text=MASK if listen.sensitive else words,
            start_ms=floor.speech_start_ms,
            end_ms=self.ctx.audio_ms,
        )
        if self.ctx.bridged or listen.slot is None or listen.slot_type not in ("digits", "yes_no"):
            return
        # A slot whose answer is whole by its form (all the digits; a yes or a no) may end
        # the turn early; an intent never does (see turns.ENDPOINT).
        if self.matcher.slot_value(words, listen) is not None:
            floor.endpointer.set_complete(0)

    async def hold_if_unfinished(self) -> None:
        """Hold the turn open when what the caller said up to this pause (Whisper's
        words, heard from the pause on) stops mid-sentence, or answers nothing the
        state asked ("My son needs…", "Is there any chance…"): a caller gathering
        their thoughts is not done. A whole answer ends the turn on the usual hangover.
        """
        floor = self.floor
        listen = floor.listen
        if listen is None or self.ctx.bridged:
            return
        words = await self.ctx.session.words_at_pause()
        if not words:
            return
        unfinished = sounds_unfinished(words) or not await asyncio.to_thread(
            self.matcher.understands, words, listen
        )
        still = floor.paused and floor.open and listen is floor.listen
        if still and unfinished:
            floor.endpointer.hold(0)

    # -- a turn ended -----------------------------------------------------------------------

    async def understand(self, listen: fi.Listen, start_ms: int, end_ms: int) -> None:
        ctx, floor = self.ctx, self.floor
        heard = await ctx.session.finish()
        self.latency.recognised(heard.decode_ms)
        if ctx.session.converses and not ctx.bridged:
            self.latency.asked()
            return  # the model answers through its events (ModelTurns)
        whole, continues = floor.continuation.joined(heard.text)
        text = MASK if listen.sensitive and heard.text else heard.text

        def write_down() -> None:
            if heard.text:
                said = dict(text=text, start_ms=start_ms, end_ms=end_ms, continues=continues)
                ctx.emit(TranscriptFinal, speaker="caller", **said)

        if ctx.hung_up:  # the caller's last words: written down, nobody left to answer
            write_down()
            return
        if ctx.bridged:
            self._transcribe_bridged(heard.text, start_ms, end_ms)
            return
        # Off the loop: the sentence embedding is milliseconds of CPU (the engine's own
        # look at the words has usually cached it already).
        u = await asyncio.to_thread(self.matcher.match, whole, listen)
        write_down()
        floor.handling = False
        taken = Taken.of(
            ctx.interp.snap, len(ctx.result.path), listen, whole, ctx.now_ms(), self.bot.sent_frames
        )
        if floor.in_speech and self.step_back(taken, onset=True):
            return  # already going on: nothing said back, nothing to undo
        if u.intent:
            slots = {k: MASK for k in u.slots} if listen.sensitive else u.slots
            ctx.emit(IntentDetected, intent=u.intent, confidence=u.confidence, slots=slots)
        if not any(isinstance(a, fi.Lookup) for a in self.flow.handle(u)):
            floor.continuation.taken = taken  # a request already sent is not taken back

    def step_back(self, taken: Taken, onset: bool) -> bool:
        """The caller goes on with the turn just ended before its reply reached them:
        the reply is dropped, the flow returns to where it stood, and the turn is heard
        again from here (its words joined to these). Flows a model converses in, and a
        call handed to a person, take the words as they come."""
        ctx = self.ctx
        if ctx.bridged or ctx.session.converses or ctx.session.server_turns:
            return False
        if ctx.ended.is_set() or ctx.hung_up:
            return False
        self.bot.cut()  # and whatever waited on the reply: a transfer, a hang-up
        self.flow.restore(taken)
        log.info("caller went on after a pause", call_id=ctx.call_id, state=ctx.interp.state)
        self.floor.open_turn(taken.listen, onset=onset)
        return True

    def _transcribe_bridged(self, text: str, start_ms: int, end_ms: int) -> None:
        if text:
            self.ctx.emit(
                TranscriptFinal, speaker="caller", text=text, start_ms=start_ms, end_ms=end_ms
            )
        self.floor.handling = False
        self.floor.open_turn(fi.Listen("_bridged", slot_type="text"))

    # -- what a conversing model reports of the caller --------------------------------------

    def server_turn(self, started: bool) -> None:
        """The model's own voice activity (server-side turn detection)."""
        floor = self.floor
        if started:
            floor.handling = False
            if self.bot.busy:
                self.bot.barge_in(time.perf_counter())
        elif floor.listen is not None:
            floor.handling = True  # the model answers next; no-input waits for it
            self.latency.asked()

    def model_words(self, text: str, final: bool) -> None:
        """The model's transcript of the caller."""
        listen = self.floor.listen
        shown = MASK if listen is not None and listen.sensitive else text
        kind = TranscriptFinal if final else TranscriptPartial
        self.ctx.emit(
            kind,
            speaker="caller",
            text=shown,
            start_ms=self.floor.speech_start_ms,
            end_ms=self.ctx.audio_ms,
        )

    def decided(self, d: Decision) -> None:
        """The model understood the caller's turn: the flow takes it from here."""
        floor, ctx = self.floor, self.ctx
        if floor.listen is None or ctx.bridged:
            return  # the turn closed meanwhile (DTMF, no-input): the flow has moved on
        floor.handling = False
        if d.intent or d.slots:
            slots = {k: MASK for k in d.slots} if floor.listen.sensitive else d.slots
            ctx.emit(IntentDetected, intent=d.intent or "", confidence=1.0, slots=slots)
        self.flow.handle(fi.Utterance(d.text, d.intent, dict(d.slots), 1.0))

    def replied(self) -> None:
        """The model answered the caller itself: same state, the caller's turn again."""
        floor, ctx = self.floor, self.ctx
        floor.handling = False
        if floor.listen is None or ctx.ended.is_set():
            return
        moved = ctx.interp.handle(fi.ConverseTurn())
        if moved:  # max_turns reached: the flow moves on
            floor.listen = None
            self.flow.execute(moved)
        elif not floor.open:
            floor.open_turn(floor.listen)
