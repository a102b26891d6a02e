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

A speech-to-speech engine (a realtime model) also answers on its own: its session
says so with :attr:`EngineSession.converses`, :meth:`EngineSession.finish` then only
hands the turn over, and what the model does comes from :meth:`EngineSession.events`
— its own speech, the caller's words, its decision (which the flow acts on), calls of
the flow's tools, usage. :meth:`EngineSession.converse` gives it a converse state's
instructions, :meth:`EngineSession.interrupted` how much of its speech was heard.

Any failure is raised as :class:`EngineError`; the runtime falls back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from flows.interpreter import Converse, Listen
from flows.model import Flow
from media.format import I16


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
    item: str | None = None  # the engine's id for this speech (a model's output item)


# -- what a conversing engine reports (EngineSession.events) ----------------------------


@dataclass(frozen=True)
class ModelSpeech:
    """A chunk of the model's own reply (not a prompt the flow gave it to say)."""

    item: str
    audio: I16  # house format


@dataclass(frozen=True)
class ModelSpeechDone:
    item: str
    text: str  # what the model said, by its own transcript


@dataclass(frozen=True)
class CallerSpeech:
    """The engine's own voice activity (server-side turn detection)."""

    started: bool


@dataclass(frozen=True)
class CallerWords:
    text: str
    final: bool


@dataclass(frozen=True)
class Decision:
    """The model's reading of the caller's turn: an intent and/or the slot's value."""

    intent: str | None
    slots: dict[str, Any]
    text: str = ""


@dataclass(frozen=True)
class ToolCall:
    call_id: str
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Replied:
    """The model answered the caller itself and made no decision: the turn stays open."""


@dataclass(frozen=True)
class Usage:
    figures: dict[str, Any]  # tokens, cost, time to first audio, rate limits


EngineEvent = (
    ModelSpeech | ModelSpeechDone | CallerSpeech | CallerWords | Decision | ToolCall | Replied
    | Usage
)  # fmt: skip


class EngineSession(ABC):
    converses = False  # a speech-to-speech model: see the module's docstring
    server_turns = False  # the engine ends caller turns itself: it wants every frame

    @abstractmethod
    def listen(self, listen: Listen) -> None:
        """Open a caller turn; frames pushed after this call belong to it (never blocks)."""

    @abstractmethod
    def push(self, frame: I16, line: bytes | None = None) -> None:
        """One house-format frame; ``line`` is the same 20 ms as the carrier sent it."""

    @abstractmethod
    async def partial(self) -> str: ...

    @abstractmethod
    async def finish(self) -> Heard: ...

    @abstractmethod
    def speak(self, text: str, sensitive: bool = False) -> AsyncIterator[Spoken]:
        """The bot's audio for ``text``, a chunk at a time; ``sensitive`` text must not
        leave the machine."""

    @abstractmethod
    async def close(self) -> None: ...

    def fallback_speech(self, text: str) -> AsyncIterator[Spoken]:
        """The words to say when this engine fails: made now, by whatever will still work."""
        return self.speak(text)

    def caller_paused(self, paused: bool) -> None:  # noqa: B027 - optional: a no-op by default
        """The caller has gone quiet within their turn (True), or spoke again (False). The
        turn may be about to end: an engine may start hearing it out, ahead of
        :meth:`finish`. Audio pushed while paused is the pause's silence."""

    async def words_at_pause(self) -> str | None:
        """What the caller said up to their current pause, once the engine has heard it
        out (after :meth:`caller_paused`); None if it does not hear turns ahead of
        :meth:`finish`."""
        return None

    def converse(self, action: Converse) -> None:  # noqa: B027 - optional: a no-op by default
        """A converse state's instructions and tools (the next :meth:`listen` is its turn)."""

    def interrupted(self, heard_ms: dict[str, int]) -> None:  # noqa: B027
        """The caller barged in: per :attr:`Spoken.item`, the milliseconds that were heard."""

    def tool_result(self, call_id: str, output: str) -> None:  # noqa: B027
        """The answer to a :class:`ToolCall`; the model goes on with it."""

    async def events(self) -> AsyncIterator[EngineEvent]:
        """What a conversing engine reports, until the call ends (nothing by default)."""
        return
        yield  # an async generator that yields nothing


class SpeechEngine(ABC):
    name: str

    @abstractmethod
    async def open(self, call_id: str, flow: Flow, line: str | None = None) -> EngineSession:
        """A session for one call; ``line`` is the carrier's codec (``pcmu``, ``pcma``,
        ``l16``) when the leg can hand over its frames as they came."""
