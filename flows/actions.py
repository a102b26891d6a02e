"""What the interpreter asks the bridge to do (say, listen, converse, look up,
transfer, hang up), and what it reports of itself (a state entered, variables set)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Say:
    text: str
    sensitive: bool = False


@dataclass(frozen=True)
class Listen:
    state: str
    intents: tuple[str, ...] = ()
    slot: str | None = None
    slot_type: str | None = None
    dtmf_max: int = 0
    timeout_ms: int | None = None
    sensitive: bool = False
    # A menu key said aloud ("option one") means the intent that goes where the key does.
    spoken_keys: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Converse:
    state: str
    instructions: str
    tools: tuple[str, ...]


@dataclass(frozen=True)
class Lookup:
    url: str
    method: str
    body: Any
    timeout_ms: int


@dataclass(frozen=True)
class Transfer:
    queue: str | None
    sip: str | None
    number: str | None


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class StateEntered:
    state: str


@dataclass(frozen=True)
class SetVariables:
    values: dict[str, Any]


Action = Say | Listen | Converse | Lookup | Transfer | Hangup | StateEntered | SetVariables
