"""Offline understanding for the local engine: intent, slots and confidence.

Learned from the flow itself (intent examples, slot types and values), with no
model to download. :class:`Matcher` turns a caller's words into the
interpreter's :class:`~flows.interpreter.Utterance`, given what the state
listens for.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from flows.interpreter import CONFIRM_SLOT, Listen, Utterance
from flows.model import Flow, SlotSpec
from flows.nlu.intents import IntentIndex, IntentScore
from flows.nlu.slots import parser_for

__all__ = ["IntentIndex", "IntentScore", "Matcher"]


class Matcher:
    def __init__(
        self, flow: Flow, today: Callable[[], date] = lambda: datetime.now(UTC).date()
    ) -> None:
        self.flow = flow
        self.index = IntentIndex({k: v.examples for k, v in flow.intents.items()})
        self.today = today

    def match(self, text: str, listen: Listen | None = None) -> Utterance:
        """What ``text`` means in a state that listens for ``listen`` (all intents if None)."""
        allowed = listen.intents if listen is not None else None
        scored = self.index.score(text, allowed)
        slots: dict[str, Any] = {}
        if listen is not None and listen.slot is not None:
            spec = (
                SlotSpec(type="yes_no")
                if listen.slot == CONFIRM_SLOT
                else self.flow.slots[listen.slot]
            )
            value = parser_for(spec, self.today)(text)
            if value is not None:
                slots[listen.slot] = value
        confidence = scored.confidence if scored.intent else (1.0 if slots else scored.confidence)
        return Utterance(text, scored.intent, slots, confidence)
