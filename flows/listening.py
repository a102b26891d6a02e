"""A waiting state's side of a caller turn: what it listens for, and the value the
caller's words or keys give its slot."""

from __future__ import annotations

from typing import Any

from flows.actions import Listen
from flows.events import Dtmf, Utterance
from flows.model import AskState, ConverseState, Flow

CONFIRM_SLOT = "_confirm"  # the yes/no answer to a read-back, in Utterance.slots


def listen_for(
    flow: Flow, state: str, s: AskState | ConverseState, confirming: bool = False
) -> Listen:
    """What the caller may say or key in ``state``; ``confirming``: a yes or no to a
    read-back of the value just collected."""
    no_input = s.no_input or flow.defaults.no_input
    timeout = no_input.timeout_ms if no_input else None
    if isinstance(s, ConverseState):
        return Listen(state, tuple(s.on), timeout_ms=timeout)
    if confirming:
        handlers = tuple(h.intent for h in flow.global_)
        return Listen(state, handlers, CONFIRM_SLOT, "yes_no", 1, timeout, s.sensitive)
    slot_type = flow.slots[s.collect].type if s.collect else None
    intents = tuple(dict.fromkeys([*s.intents, *(h.intent for h in flow.global_)]))
    dtmf_max = s.dtmf.max_digits if s.dtmf else (1 if any(k.isdigit() for k in s.on) else 0)
    spoken = tuple(
        (key, intent)
        for key, target in s.on.items()
        if key.isdigit()
        for intent in [next((i for i in intents if s.on.get(i) == target), None)]
        if intent is not None
    )
    return Listen(state, intents, s.collect, slot_type, dtmf_max, timeout, s.sensitive, spoken)


def slot_value(flow: Flow, s: AskState, event: Utterance | Dtmf) -> Any:
    """The value for ``s``'s slot, or None: keys fit only digits and numbers."""
    assert s.collect is not None
    if isinstance(event, Dtmf):
        digits = event.digits.rstrip("#*")
        spec = flow.slots[s.collect]
        if spec.type not in ("digits", "number") or not digits.isdigit():
            return None  # a date or a name cannot be keyed in
        if spec.length is not None and len(digits) != spec.length:
            return None
        return digits if spec.type == "digits" else int(digits)
    return event.slots.get(s.collect)


def confirmed(event: Utterance | Dtmf) -> bool | None:
    """The caller's yes (True) or no (False) to a read-back (1 or 2 on the keypad)."""
    if isinstance(event, Dtmf):
        return {"1": True, "2": False}.get(event.digits.rstrip("#*"))
    return event.slots.get(CONFIRM_SLOT)
