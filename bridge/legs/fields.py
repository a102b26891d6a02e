"""Carrier webhook values checked at the edge, before they become events: a value the
database cannot hold is a 400 to the carrier, never an event the store refuses."""

from __future__ import annotations

from collections.abc import Mapping

CALL_ID_MAX = 64  # calls.id
NUMBER_MAX = 128  # calls.from_number, calls.to_number
SEQUENCE_MAX = 10**9  # a carrier's callback number: Twilio's count up from 0, far below this


def too_long(values: Mapping[str, str], limits: Mapping[str, int]) -> str | None:
    """Why the first value over its limit is refused, or None."""
    for name, limit in limits.items():
        if len(values.get(name, "")) > limit:
            return f"{name} is longer than {limit} characters"
    return None


def sequence_number(raw: str) -> int | None:
    """A carrier's callback sequence number, or None if it is not one."""
    raw = raw or "0"
    return int(raw) if raw.isdigit() and int(raw) < SEQUENCE_MAX else None
