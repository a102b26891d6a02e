"""The local engine: pocketsphinx recognition constrained by the flow, hibari-tts speech.

Nothing leaves the machine and no model is downloaded: both ship inside their
PyPI wheels. Recognition runs in one worker thread per call (a pocketsphinx
decoder is single-threaded); synthesis in a shared pool. The event loop only
hands frames over.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bridge import logs
from bridge.engines.base import I16, EngineError, EngineSession, Heard, SpeechEngine, Spoken
from bridge.engines.local.asr import Recognizer
from bridge.engines.local.grammar import build
from bridge.engines.local.tts import Synthesizer, sentences
from flows.interpreter import Listen
from flows.model import Flow
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


class LocalEngine(SpeechEngine):
    name = "local"

    def __init__(self, synth_workers: int = 2, speed: float = 1.0, prepare: bool = True) -> None:
        self.synthesizer = Synthesizer(speed=speed)
        self.pool = ThreadPoolExecutor(synth_workers, thread_name_prefix="tts")
        self._idle: list[Recognizer] = []  # warmed decoders, reused call after call
        self._lock = threading.Lock()
        self._warm_audio: list[tuple[str, I16]] | None = None
        self.ready = threading.Event()  # the voice is loaded and one decoder is warm
        if prepare:
            # Seconds of model loading, paid now in the background instead of by the
            # first caller, or as silence when a call falls back to this engine.
            threading.Thread(target=self._prepare, name="local-engine-prepare", daemon=True).start()
        else:
            self.ready.set()

    def _prepare(self) -> None:
        try:
            self.synthesizer.warm_up()
            self.release(self.recognizer())
        except Exception as exc:  # the first call will try again, and report it
            log.warning("local engine could not prepare", error=str(exc))
        finally:
            self.ready.set()

    def recognizer(self) -> Recognizer:
        """A decoder that has heard the line (from the pool, else made and warmed now);
        blocking: call it from a worker thread. :meth:`release` gives it back."""
        with self._lock:
            reused = self._idle.pop() if self._idle else None
            if reused is None and self._warm_audio is None:
                voice = Synthesizer(speed=0.95)
                self._warm_audio = [(t, phone_line(voice.say(t))) for t in WARM_UP]
        if reused is not None:
            reused.new_caller()
            return reused
        assert self._warm_audio is not None
        recognizer = Recognizer()
        recognizer.warm_up(self._warm_audio)
        return recognizer

    def release(self, recognizer: Recognizer) -> None:
        with self._lock:
            self._idle.append(recognizer)

    async def open(self, call_id: str, flow: Flow, line: str | None = None) -> EngineSession:
        worker = ThreadPoolExecutor(1, thread_name_prefix=f"asr-{call_id[:8]}")
        loop = asyncio.get_running_loop()
        try:
            recognizer = await loop.run_in_executor(worker, self.recognizer)
        except Exception as exc:
            worker.shutdown(wait=False)
            raise EngineError(f"speech recognition did not start: {exc}") from exc
        return LocalSession(self, flow, recognizer, worker)


class LocalSession(EngineSession):
    def __init__(
        self, engine: LocalEngine, flow: Flow, recognizer: Recognizer, worker: ThreadPoolExecutor
    ) -> None:
        self.engine, self.flow, self.recognizer, self.worker = engine, flow, recognizer, worker
        self._loop = asyncio.get_running_loop()
        self._failed: BaseException | None = None

    async def _run(self, fn: Any, *args: Any) -> Any:
        try:
            return await self._loop.run_in_executor(self.worker, fn, *args)
        except Exception as exc:
            raise EngineError(f"speech recognition failed: {exc}") from exc

    def listen(self, listen: Listen) -> None:
        grammar = build(self.flow, listen, self.recognizer.known)
        self.worker.submit(self.recognizer.begin, grammar).add_done_callback(self._check)

    def push(self, frame: I16, line: bytes | None = None) -> None:
        if self._failed is not None:
            return
        future = self.worker.submit(self.recognizer.feed, frame.copy())
        future.add_done_callback(self._check)

    def _check(self, future: Any) -> None:
        if future.exception() is not None and self._failed is None:
            self._failed = future.exception()

    async def partial(self) -> str:
        return str(await self._run(self.recognizer.partial))

    async def finish(self) -> Heard:
        result = await self._run(self.recognizer.finish)
        if self._failed is not None:
            raise EngineError(f"speech recognition failed: {self._failed}")
        return Heard(result.text, result.grammar, result.decode_ms)

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
        if self._failed is None:  # after the turn in flight, the decoder serves another call
            self.worker.submit(self.engine.release, self.recognizer)
        self.worker.shutdown(wait=False)
