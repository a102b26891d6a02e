"""The speech-engine interface the conversation runtime drives.

The runtime owns turn-taking (voice activity, end of turn, barge-in) because it
owns the audio timeline; an engine turns a caller turn's audio into words and
the bot's words into audio. One :class:`EngineSession` per call:

- :meth:`EngineSession.listen` opens a caller turn with what the flow expects
  (intents, slot type) so the engine can constrain recognition (never blocks);
- :meth:`EngineSession.push` hands it house-format frames (never blocks);
- :meth:`EngineSession.partial` / :meth:`EngineSession.finish` give the words so
  far and the final words when the runtime's endpointer ends the turn;
- :meth:`EngineSession.speak` yields the bot's audio a chunk (sentence) at a time.

Any failure is raised as :class:`EngineError`; the runtime falls back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from flows.interpreter import Listen
from flows.model import Flow

I16 = npt.NDArray[np.int16]


class EngineError(Exception):
    """The engine cannot go on with this call."""


@dataclass(frozen=True)
class Heard:
    text: str
    in_grammar: bool
    decode_ms: float  # wall time the final pass took after the turn ended


@dataclass(frozen=True)
class Spoken:
    audio: I16  # house format
    synth_ms: float  # wall time to produce this chunk (0 when cached)


class EngineSession(ABC):
    @abstractmethod
    def listen(self, listen: Listen) -> None:
        """Open a caller turn; frames pushed after this call belong to it (never blocks)."""

    @abstractmethod
    def push(self, frame: I16) -> None: ...

    @abstractmethod
    async def partial(self) -> str: ...

    @abstractmethod
    async def finish(self) -> Heard: ...

    @abstractmethod
    def speak(self, text: str) -> AsyncIterator[Spoken]: ...

    @abstractmethod
    async def close(self) -> None: ...


class SpeechEngine(ABC):
    name: str

    @abstractmethod
    async def open(self, call_id: str, flow: Flow) -> EngineSession: ...
