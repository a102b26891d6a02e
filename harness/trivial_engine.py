"""A speech engine with no speech models, for load and robustness runs of the legs.

It hears nothing (every turn is empty) and "speaks" a 440 Hz tone, 300 ms per
sentence, so the cost measured is the bridge's own: legs, media, flow, events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np

from bridge.engines.base import I16, EngineSession, Heard, SpeechEngine, Spoken
from flows.interpreter import Listen
from flows.model import Flow

TONE = (3000 * np.sin(2 * np.pi * 440 * np.arange(4800) / 16000)).astype(np.int16)


class TrivialSession(EngineSession):
    def __init__(self) -> None:
        self.frames = 0

    def listen(self, listen: Listen) -> None:
        pass

    def push(self, frame: I16, line: bytes | None = None) -> None:
        self.frames += 1

    async def partial(self) -> str:
        return ""

    async def finish(self) -> Heard:
        return Heard("", False, 0.0)

    async def speak(self, text: str, sensitive: bool = False) -> AsyncIterator[Spoken]:
        for _ in range(max(1, text.count(".") + text.count("?"))):
            yield Spoken(TONE, 0.0)

    async def close(self) -> None:
        pass


class TrivialEngine(SpeechEngine):
    name = "trivial"

    async def open(self, call_id: str, flow: Flow, line: str | None = None) -> EngineSession:
        return TrivialSession()
