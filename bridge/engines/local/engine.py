"""The local engine: pocketsphinx streaming recognition constrained by the flow, Whisper
for the words of each finished turn, hibari-tts speech.

Nothing leaves the machine and no model is downloaded: all three ship inside their
PyPI wheels. Each call's streaming recogniser runs in a process of its own
(:class:`RecognitionProcess`), because pocketsphinx keeps the GIL while it decodes
and would stall every other call's audio; it is forked from a warmed template
(:class:`Template`) in milliseconds. Both hear every turn and Whisper has the last
word where it heard words (:func:`last_word`).
Synthesis and Whisper run in shared thread pools (onnxruntime and CTranslate2 let the
GIL go). The event loop only hands frames over.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from bridge import logs
from bridge.engines.base import I16, EngineError, EngineSession, Heard, SpeechEngine, Spoken
from bridge.engines.local.asr import Recognition, Recognizer, known
from bridge.engines.local.grammar import build
from bridge.engines.local.recognition_process import (
    RecognitionFailed,
    RecognitionProcess,
    Template,
)
from bridge.engines.local.transcriber import MAX_S, MIN_AVG_LOGPROB, Transcriber, Transcript
from bridge.engines.local.tts import Synthesizer, sentences
from flows.interpreter import Listen
from flows.model import Flow
from flows.nlu import Matcher
from flows.nlu.slots import spoken_numbers
from media.format import FRAME_MS
from media.line import phone_line

log = logs.get_logger(__name__)

# A fresh decoder's acoustic normalisation is tuned to wideband speech and gets a
# telephone caller's first words badly wrong (9 of 30 intents right, against 24 of
# 30 once it has heard a few phone-line sentences): new decoders first hear these.
WARM_UP = (
    "Thank you for calling.",
    "I would like to check my account balance please.",
    "My date of birth is the fourth of July nineteen eighty two.",
)
START_TIMEOUT_S = 120.0  # the template: an interpreter, two decoders, the warm-up
ANSWER_TIMEOUT_S = 20.0  # a partial or final transcript; longer means the process hangs
MAX_TURN_FRAMES = MAX_S * 1000 // FRAME_MS  # a turn's speech kept for Whisper


def last_word(grammar: str, whisper: Transcript | None, understood: Callable[[str], bool]) -> str:
    """Whose words a caller turn's are: pocketsphinx's within the turn's grammar or
    model (``grammar``), or Whisper's.

    Whisper's wherever it heard words. A slot's grammar fits whatever is said ("what
    time do you close" at a yes/no question comes out "right thank you", a yes), and a
    menu's model puts other intents' words in a paraphrasing caller's mouth. Only a
    Whisper transcript that means nothing to the state gives way, where pocketsphinx
    heard something and Whisper is unsure of its words (below its own average
    log-probability for a failed decode) or wrote the same number with a digit short
    or over."""
    if whisper is None or not whisper.text:
        return grammar
    if whisper.looped and grammar:  # a decoding loop: the streaming words are surer
        return grammar
    if not grammar or understood(whisper.text):
        return whisper.text
    if whisper.avg_logprob < MIN_AVG_LOGPROB or same_digits(whisper.text, grammar):
        return grammar
    return whisper.text


def same_digits(whisper: str, grammar: str) -> bool:
    """Whether the two wrote the same number the two ways Whisper gets one wrong:
    leading zeros dropped ("oh oh seven three" as "73") or a run of one digit the
    wrong length ("six two double eight" as "62888"). A digit grammar hears each
    digit said."""
    a, b = (re.sub(r"\D", "", spoken_numbers(t)) for t in (whisper, grammar))
    if not a or not b or a == b:
        return False
    runs = lambda digits: [d for d, _ in itertools.groupby(digits)]  # noqa: E731
    return a.lstrip("0") == b.lstrip("0") or runs(a) == runs(b)


class LocalEngine(SpeechEngine):
    name = "local"

    def __init__(
        self,
        synth_workers: int = 2,
        speed: float = 1.0,
        prepare: bool = True,
        transcriber: Transcriber | None = None,
        transcribe_workers: int = 2,
    ) -> None:
        self.synthesizer = Synthesizer(speed=speed)
        self.pool = ThreadPoolExecutor(synth_workers, thread_name_prefix="tts")
        self.transcriber = transcriber or Transcriber(workers=transcribe_workers)
        self.transcribe_pool = ThreadPoolExecutor(transcribe_workers, thread_name_prefix="whisper")
        self._template: Template | None = None
        self._forker = ThreadPoolExecutor(1, thread_name_prefix="asr-fork")
        self._lock = threading.Lock()
        self._warm_audio: list[tuple[str, I16]] | None = None
        self.ready = threading.Event()  # the voice is loaded and the template warm
        if prepare:
            # Seconds of model loading, paid now in the background instead of by the
            # first caller, or as silence when a call falls back to this engine.
            threading.Thread(target=self._prepare, name="local-engine-prepare", daemon=True).start()
        else:
            self.ready.set()

    def _prepare(self) -> None:
        try:
            self.synthesizer.warm_up()
            known("a")  # the pronunciation dictionary, which grammars are built from
            self.template().warmed.result(START_TIMEOUT_S)
        except Exception as exc:  # the first call will try again, and report it
            log.warning("local engine could not prepare", error=str(exc))
        try:  # apart: without Whisper, calls go on with pocketsphinx's words alone
            self.transcriber.warm_up()
        except Exception as exc:
            log.warning("whisper could not load", error=str(exc))
        finally:
            self.ready.set()

    def warm_audio(self) -> list[tuple[str, I16]]:
        """The warm-up sentences as they sound on a phone line (synthesised once)."""
        with self._lock:
            if self._warm_audio is None:
                voice = Synthesizer(speed=0.95)
                self._warm_audio = [(t, phone_line(voice.say(t))) for t in WARM_UP]
            return self._warm_audio

    def recognizer(self) -> Recognizer:
        """A warmed decoder in this process, for tools and tests that recognise audio
        themselves (blocking: call it from a worker thread). Calls get a process."""
        recognizer = Recognizer()
        recognizer.warm_up(self.warm_audio())
        return recognizer

    def template(self) -> Template:
        """The process calls' recognisers are forked from (started again if it died);
        blocking the first time, while the warm-up audio is synthesised."""
        with self._lock:
            template = self._template
        if template is not None and template.alive:
            return template
        warm = [(t, pcm.tobytes()) for t, pcm in self.warm_audio()]
        with self._lock:
            if self._template is None or not self._template.alive:
                if self._template is not None:
                    log.warning("recognition template ended; starting another")
                self._template = Template(warm)
            return self._template

    async def open(self, call_id: str, flow: Flow, line: str | None = None) -> EngineSession:
        return LocalSession(self, flow)

    def recognition(self) -> RecognitionProcess:
        """A call's recogniser, at once: its commands queue until the process is forked
        (seconds only while the template warms up, else milliseconds)."""
        process = RecognitionProcess()
        self._forker.submit(self._fork, process)
        return process

    def _fork(self, process: RecognitionProcess) -> None:
        try:
            self.template().fork(process)
        except Exception as exc:  # the call hears the fallback when it next asks
            log.warning("speech recognition did not start", error=str(exc))
            process.abandon(f"speech recognition did not start: {exc}")


class LocalSession(EngineSession):
    """The call's recogniser is forked when the caller's first turn opens: a call that
    ends during the greeting (many do) costs no process."""

    def __init__(self, engine: LocalEngine, flow: Flow) -> None:
        self.engine, self.flow = engine, flow
        self.process: RecognitionProcess | None = None
        self._loop = asyncio.get_running_loop()
        self.matcher = Matcher(flow)
        self._listen: Listen | None = None  # the open turn's
        self._audio: list[I16] = []  # the open turn's speech, for Whisper
        self._early: asyncio.Future[Transcript | None] | None = None  # heard at a pause

    async def _ask(self, process: RecognitionProcess, *command: Any) -> Any:
        # A call that began while the template warmed up waits for it too.
        limit = ANSWER_TIMEOUT_S + (0 if process.forked.done() else START_TIMEOUT_S)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(process.ask(*command)), limit)
        except TimeoutError:
            process.kill(f"no answer to {command[0]!r} in {limit:g} s")
            raise EngineError("speech recognition stopped answering") from None
        except RecognitionFailed as exc:
            raise EngineError(f"speech recognition failed: {exc}") from exc

    def listen(self, listen: Listen) -> None:
        if self.process is None:
            self.process = self.engine.recognition()
        self._listen, self._audio, self._early = listen, [], None
        self.process.post("begin", build(self.flow, listen, known))

    def push(self, frame: I16, line: bytes | None = None) -> None:
        if self.process is not None and self.process.failed is None:
            self.process.post("feed", frame.tobytes())
        if len(self._audio) < MAX_TURN_FRAMES:
            self._audio.append(frame)

    def caller_paused(self, paused: bool) -> None:
        """Whisper starts on the turn when the caller pauses, and is told again if they go
        on: by the end of the hangover its transcript is mostly ready. What comes while
        paused is silence, which it does not need."""
        self._early = None
        if paused and self._audio:
            self._early = asyncio.ensure_future(self._whisper(list(self._audio)))

    async def words_at_pause(self) -> str | None:
        early = self._early
        if early is None:
            return None
        heard = await asyncio.shield(early)  # finish() may still want it
        return heard.text if heard is not None else None

    async def partial(self) -> str:
        return "" if self.process is None else str(await self._ask(self.process, "partial"))

    async def finish(self) -> Heard:
        if (process := self.process) is None:
            return Heard("", False, 0.0)
        started = time.perf_counter()
        audio, self._audio, whisper, self._early = self._audio, [], self._early, None
        if whisper is None and audio:  # the turn ended without a pause: hear it now
            whisper = asyncio.ensure_future(self._whisper(audio))
        result: Recognition = await self._ask(process, "finish")
        if process.failed is not None:
            raise EngineError(f"speech recognition failed: {process.failed}")
        heard = await whisper if whisper else None
        # Off the loop: understanding Whisper's words costs milliseconds of CPU.
        text = await asyncio.to_thread(last_word, result.text, heard, self._understood)
        in_grammar = result.grammar and text == result.text
        return Heard(text, in_grammar, (time.perf_counter() - started) * 1000)

    def _understood(self, text: str) -> bool:
        return self.matcher.understands(text, self._listen)

    async def _whisper(self, audio: list[I16]) -> Transcript | None:
        """Whisper's transcript of the turn; None if it fails (the caller is then
        understood from pocketsphinx's words alone)."""
        engine = self.engine
        try:
            return await self._loop.run_in_executor(
                engine.transcribe_pool, engine.transcriber.transcribe, np.concatenate(audio)
            )
        except Exception as exc:
            log.warning("whisper could not transcribe the turn", error=str(exc))
            return None

    async def speak(self, text: str, sensitive: bool = False) -> AsyncIterator[Spoken]:
        for sentence in sentences(text):
            started = time.perf_counter()
            try:
                audio = await self._loop.run_in_executor(
                    self.engine.pool, self.engine.synthesizer.sentence, sentence
                )
            except Exception as exc:
                raise EngineError(f"speech synthesis failed: {exc}") from exc
            yield Spoken(audio, (time.perf_counter() - started) * 1000)

    async def close(self) -> None:
        if self.process is not None:
            self.process.stop()  # after the commands in flight; the process then exits
