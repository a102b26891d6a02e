"""All of a call's flow state, so a call can be resumed from it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MASK = "[sensitive]"  # what a stored or shown snapshot holds for a sensitive value


@dataclass
class Snapshot:
    state: str
    values: dict[str, Any] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)  # "state:no_input" -> count
    last_prompt: str = ""
    ended: bool = False
    waiting_for: str = ""  # "", "caller", "lookup", "transfer"
    confirming: bool = False  # the collected value was read back; yes/no expected
    offered: dict[str, Any] = field(default_factory=dict)  # slot values given with a request
    stack: list[str] = field(default_factory=list)  # sub-flow return states

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        return cls(**data)
