"""Event traffic for tests: many calls, interleaved, each numbered from zero."""

from __future__ import annotations

import random
from collections.abc import Iterator

from bridge.events.schema import CallEnded, CallEvents, CallStarted, Envelope, TranscriptFinal


def call_traffic(calls: int, per_call: int, seed: int = 7) -> Iterator[Envelope]:
    """``calls * per_call`` events: a start, transcript lines, an end, per call,
    interleaved across calls at random but in order within each call."""
    rng = random.Random(seed)
    makers = {f"call-{i:03d}": CallEvents(f"call-{i:03d}") for i in range(calls)}
    left = dict.fromkeys(makers, per_call)
    while left:
        cid = rng.choice(list(left))
        n = per_call - left[cid]
        ev = makers[cid]
        if n == 0:
            yield ev.make(
                CallStarted, carrier="test", from_number="+15550100", to_number="+15550199"
            )
        elif n == per_call - 1:
            yield ev.make(CallEnded, reason="hangup", duration_ms=1000 * n)
        else:
            speaker = "caller" if n % 2 else "bot"
            yield ev.make(TranscriptFinal, speaker=speaker, text=f"line {n} of {cid}", start_ms=n)
        left[cid] -= 1
        if not left[cid]:
            del left[cid]
