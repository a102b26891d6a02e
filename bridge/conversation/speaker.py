"""The bot's voice on one call: what it is to say, said one utterance at a time, and cut.

A flow prompt is queued (:meth:`Speaker.say`), synthesised by the call's engine in a
task of its own and handed to the paced playout chunk by chunk, so the first words
leave while the rest is still being made. A conversing model's speech arrives ready
(:meth:`Speaker.stream`). When the caller barges in, :meth:`Speaker.cut` stops the
synthesis and has its :class:`~bridge.conversation.heard.Earshot` empty the playout and
the carrier's buffer and say how much of each utterance the caller actually heard:
the transcript and the model are cut to that. What any of it means for the call
(events, turns, the flow) is the bot's side's (:mod:`bridge.conversation.bot`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from bridge.conversation.heard import Earshot, words_heard
from bridge.engines.base import I16, EngineError, Spoken
from media.playout import Playout

Speak = Callable[[str, bool], AsyncIterator[Spoken]]  # text, sensitive → its audio


@dataclass
class Utterance:
    id: str
    text: str
    sensitive: bool
    started_ms: int | None = None  # on the audio timeline, once its first frame played


@dataclass(frozen=True)
class Interrupted:
    """What a barge-in left of one utterance: ``item`` is the engine's name for it."""

    item: str
    played_ms: int  # heard by the caller (the carrier's unheard buffer taken off)
    total_ms: int
    utterance: Utterance | None  # None: it had finished, or was never ours to report

    @property
    def heard_text(self) -> str:
        """The words of the utterance the caller heard."""
        if self.utterance is None:
            return ""
        return words_heard(self.utterance.text, self.played_ms, self.total_ms)


class Speaker:
    def __init__(
        self,
        playout: Playout,
        speak: Speak,
        *,
        name: str,
        audio_ready: asyncio.Event,
        on_synthesised: Callable[[float], None],
        on_failed: Callable[[str], None],
    ) -> None:
        self.playout, self._speak, self._name = playout, speak, name
        self._audio_ready, self._on_synthesised = audio_ready, on_synthesised
        self._on_failed = on_failed
        self._queue: asyncio.Queue[Utterance] = asyncio.Queue()
        self._speaking: Utterance | None = None  # being synthesised now
        self._utterances: dict[str, Utterance] = {}  # queued or playing, by id
        self._item_of: dict[str, str] = {}  # utterance → the engine's item that said it
        self._task: asyncio.Task[None] | None = None
        self.heard = Earshot(playout)  # what of all this reached the caller

    @property
    def busy(self) -> bool:
        """Something is being said, or is still to be said."""
        return self.playout.busy or not self.quiet

    @property
    def quiet(self) -> bool:
        """Nothing queued or being synthesised (what is in playout may still play)."""
        return self._speaking is None and self._queue.empty()

    @property
    def playing(self) -> Utterance | None:
        return self._utterances.get(self.playout.playing or "")

    def start(self) -> None:
        """Synthesise queued prompts from now on (again, after :meth:`stop`)."""
        self._task = asyncio.create_task(self._run(), name=f"speaker-{self._name}")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    # -- what is said -----------------------------------------------------------------

    def say(self, text: str, sensitive: bool) -> None:
        """A flow prompt, synthesised in turn."""
        self._queue.put_nowait(self._add(uuid.uuid4().hex[:12], text, sensitive))

    def play(self, id_: str, text: str, audio: I16) -> None:
        """Audio made already (the fallback prompt), as an utterance of its own."""
        self._add(id_, text, False)
        self.playout.enqueue(id_, audio)
        self.playout.mark(id_)

    def stream(self, item: str, audio: I16) -> bool:
        """A model's speech as it arrives; True for the first audio of ``item``."""
        new = item not in self._utterances
        if new:
            self._add(item, "", False)
        self.playout.enqueue(item, audio)
        return new

    def finish(self, item: str, text: str) -> None:
        """A model's utterance is complete; ``text`` is what it said."""
        utt = self._utterances.get(item)
        if utt is not None:
            utt.text = text
            self.playout.mark(item)

    def next_frame(self, audio_ms: int) -> tuple[I16 | None, list[Utterance]]:
        """The next 20 ms for the line, and the utterances that have just been played to
        the end; ``audio_ms`` is where the call is, for when each one started."""
        playing = self.playout.playing
        frame, marks = self.playout.next_frame()
        if frame is not None:
            self.heard.sent()
            utt = self._utterances.get(playing or "")
            if utt is not None and utt.started_ms is None:
                utt.started_ms = audio_ms
                self.heard.began(utt.id)
        done = [u for m in marks if (u := self._utterances.pop(m, None)) is not None]
        return frame, done

    # -- stopping -----------------------------------------------------------------------

    def cut(self, carrier_clear: Callable[[], int]) -> list[Interrupted]:
        """Barge-in: silent within this call, and what was heard of each utterance.
        ``carrier_clear`` drops what the carrier still buffers and returns its
        milliseconds, which the caller had not heard yet: taken off the newest."""
        self.stop()  # stop synthesising what will not be heard
        played = self.heard.cut(carrier_clear)
        self._drop_queued()
        self.start()
        heard = [
            Interrupted(
                self._item_of.get(p.utterance, p.utterance),
                p.played_ms,
                p.total_ms,
                self._utterances.get(p.utterance),
            )
            for p in played
        ]
        self._utterances.clear()
        return heard

    def silence(self) -> None:
        """Stop everything, for good until :meth:`start` (the fallback speaks next)."""
        self.stop()
        self._drop_queued()
        self.heard.drop()

    def _drop_queued(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()
        self._speaking = None

    def _add(self, id_: str, text: str, sensitive: bool) -> Utterance:
        utt = Utterance(id_, text, sensitive)
        self._utterances[id_] = utt
        return utt

    async def _run(self) -> None:
        while True:
            utt = await self._queue.get()
            self._speaking = utt
            try:
                async for chunk in self._speak(utt.text, utt.sensitive):
                    self._on_synthesised(chunk.synth_ms)
                    if chunk.item is not None:
                        self._item_of[utt.id] = chunk.item
                    if not self.playout.busy:
                        self._audio_ready.set()
                    self.playout.enqueue(utt.id, chunk.audio)
                self.playout.mark(utt.id)
            except EngineError as exc:
                self._speaking = None
                self._on_failed(str(exc))
                return
            self._speaking = None
