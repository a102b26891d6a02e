"""Which way the caller's current turn goes: to the local engine (a sensitive state:
nothing of it reaches the model), transcription only (a person has the call), or a
turn with the model."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.engines.openai.turns import Turn
from flows.interpreter import Listen

BRIDGED = "_bridged"  # the runtime's listen while a person talks to the caller


@dataclass
class Route:
    has_local: bool  # a local engine is there to hear and speak sensitive states
    listen: Listen | None = None
    turn: Turn | None = None  # the model's settings for the turn (not for a private one)

    @property
    def private(self) -> bool:
        """A sensitive state: the local engine hears and speaks it, not the model."""
        return self.listen is not None and self.listen.sensitive and self.has_local

    @property
    def bridged(self) -> bool:
        return self.listen is not None and self.listen.state == BRIDGED

    @property
    def converses(self) -> bool:
        return not self.private and not self.bridged

    @property
    def server_turns(self) -> bool:
        """The model's server ends the caller's turns (not our endpointer)."""
        return self.converses and self.turn is not None and self.turn.turn_detection != "endpointer"
