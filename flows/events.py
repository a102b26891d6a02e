"""What the interpreter consumes: what the caller said or keyed, silence, a lookup's or
a transfer's result, a hang-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Utterance:
    text: str
    intent: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    confidence: float = 1.0


@dataclass(frozen=True)
class Dtmf:
    digits: str


@dataclass(frozen=True)
class NoInput:
    pass


@dataclass(frozen=True)
class LookupResult:
    ok: bool
    data: Any = None


@dataclass(frozen=True)
class TransferResult:
    ok: bool


@dataclass(frozen=True)
class HungUp:
    pass


@dataclass(frozen=True)
class ConverseTurn:
    """A model answered the caller itself in a converse state (its turns are counted)."""


Event = Utterance | Dtmf | NoInput | LookupResult | TransferResult | HungUp | ConverseTurn
