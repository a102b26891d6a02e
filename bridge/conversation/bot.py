"""The bot's side of one call: what it says, the frames the leg takes, and barge-in.

The leg pulls the bot's audio frame by frame (:meth:`BotSide.next_frame`); a prompt
played to its end becomes the bot's transcript. Caller speech over the bot cuts it
(:meth:`BotSide.barge_in`): the line falls silent at once, the transcript and the
engine are cut to what the caller heard (asked of the speaker's
:class:`~bridge.conversation.heard.Earshot`), and whatever waited for the bot to
finish (a transfer, a hang-up) is dropped: the caller has more to say.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from bridge.conversation.context import CallContext
from bridge.conversation.floor import Floor
from bridge.conversation.latency import Latency
from bridge.conversation.speaker import Interrupted, Speaker
from bridge.engines.base import I16, Spoken
from bridge.events.schema import BargeIn, TranscriptFinal
from flows.interpreter import MASK
from media.format import HOUSE_FRAME
from media.line_codec import LineCodec
from media.playout import Playout


class BotSide:
    def __init__(
        self,
        ctx: CallContext,
        floor: Floor,
        latency: Latency,
        carrier_clear: Callable[[], int],
        line: LineCodec | None,
        keep_line_pcm: bool,
    ) -> None:
        """``carrier_clear``: the leg's :meth:`~bridge.conversation.context.LegControl.clear`;
        ``keep_line_pcm``: keep each frame as the line will sound (for the recording)."""
        self.ctx, self.floor, self.latency = ctx, floor, latency
        self._carrier_clear = carrier_clear
        self.playout = Playout(HOUSE_FRAME, line, keep_line_pcm=keep_line_pcm)
        # Set when bot audio arrives with nothing playing: a leg that can send at any
        # moment (a WebSocket carrier) starts it at once, not at the next caller frame.
        self.audio_ready = asyncio.Event()
        self.voice = Speaker(
            self.playout,
            self._speak,
            name=ctx.call_id,
            audio_ready=self.audio_ready,
            on_synthesised=latency.synthesised,
            on_failed=ctx.fail,
        )
        self.after_speech: list[Callable[[], None]] = []  # run once the bot has finished
        self.cut_items: set[str] = set()  # model items a barge-in ended: late audio is dropped
        self.barge_ins: list[dict[str, float]] = []  # per barge-in, for benchmarks

    def _speak(self, text: str, sensitive: bool) -> AsyncIterator[Spoken]:
        return self.ctx.session.speak(text, sensitive=sensitive)  # the current session's voice

    @property
    def busy(self) -> bool:
        """The bot is talking, or has words still to say."""
        return self.voice.busy

    @property
    def quiet(self) -> bool:
        """Nothing queued or being synthesised (what is in playout may still play)."""
        return self.voice.quiet

    @property
    def private(self) -> bool:
        """A sensitive prompt is playing."""
        utt = self.voice.playing
        return bool(utt and utt.sensitive)

    @property
    def sent_frames(self) -> int:
        """Bot frames sent down the line so far: what a caller may have heard of a reply."""
        return self.voice.heard.frames

    # -- frames for the leg -------------------------------------------------------------

    def next_frame(self) -> I16 | None:
        """The next 20 ms of bot audio, or None for silence."""
        frame, done = self.voice.next_frame(self.ctx.audio_ms)
        if frame is not None:
            self.latency.bot_audio(frame)
        for utt in done:
            self.ctx.emit(
                TranscriptFinal,
                speaker="bot",
                text=MASK if utt.sensitive else utt.text,
                start_ms=utt.started_ms,
                end_ms=self.ctx.now_ms(),
            )
        if not self.voice.busy and self.after_speech:
            then, self.after_speech = self.after_speech, []
            for fn in then:
                fn()
        return frame

    # -- what is said ---------------------------------------------------------------------

    def say(self, text: str, sensitive: bool) -> None:
        self.voice.say(text, sensitive)

    def play(self, id_: str, text: str, audio: I16) -> None:
        """Queue ``audio`` as a bot utterance of its own (the fallback prompt)."""
        self.voice.play(id_, text, audio)

    def stream(self, item: str, audio: I16) -> bool:
        """A model's speech; True for the first audio of ``item``. The rest of an item a
        barge-in cut, or anything once the call has ended, is dropped."""
        if item in self.cut_items or self.ctx.ended.is_set():
            return False
        return self.voice.stream(item, audio)

    def finish(self, item: str, text: str) -> None:
        """A model's utterance is complete; ``text`` is what it said."""
        self.voice.finish(item, text)

    # -- stopping -------------------------------------------------------------------------

    def cut(self) -> list[Interrupted]:
        """Silent at once, on this side and the carrier's; what was waiting for the bot
        to finish is dropped. Returns what the caller heard of each utterance."""
        heard = self.voice.cut(self._carrier_clear)
        self.after_speech.clear()
        return heard

    def barge_in(self, fired_at: float) -> None:
        """The caller spoke over the bot (``fired_at``: when the VAD or key said so)."""
        cut = self.cut()
        silent_us = (time.perf_counter() - fired_at) * 1e6
        heard = {h.item: h.played_ms for h in cut}
        self.cut_items.update(heard)
        self.ctx.session.interrupted(heard)
        for h in cut:
            utt = h.utterance
            if utt is None or h.played_ms == 0:
                continue  # queued but never heard: as if never said
            shown = MASK if utt.sensitive else h.heard_text
            at_ms = self.floor.speech_start_ms
            self.ctx.emit(BargeIn, played_ms=h.played_ms, utterance=shown, at_ms=at_ms)
            self.ctx.emit(
                TranscriptFinal,
                speaker="bot",
                text=shown,
                start_ms=utt.started_ms,
                end_ms=self.ctx.now_ms(),
                interrupted=True,
            )
        onset_to_silent = self.ctx.now_ms() - self.floor.speech_start_clock
        self.barge_ins.append(
            {"onset_to_silent_ms": onset_to_silent, "vad_to_silent_us": silent_us}
        )

    def silence(self, carrier: bool) -> None:
        """Stop all bot speech for good (until :meth:`start`); with ``carrier`` the
        carrier's buffer is dropped too, and whatever waited for the bot to finish."""
        self.voice.silence()
        if carrier:
            self._carrier_clear()
            self.after_speech = []

    def start(self) -> None:
        """Synthesise prompts from now on (again, when a new engine session speaks)."""
        self.voice.start()

    def stop(self) -> None:
        self.voice.stop()
