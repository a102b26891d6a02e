"""When a caller's next words still belong to the turn just acted on."""

from __future__ import annotations

from bridge.conversation.continuation import UNHEARD_MS, WITHIN_MS, Continuation, Taken
from flows import interpreter as fi
from media.format import FRAME_MS


def taken(snap: fi.Snapshot | None = None) -> Taken:
    snap = snap or fi.Snapshot(state="menu")
    listen = fi.Listen(state="menu", intents=("balance",))
    return Taken.of(snap, 2, listen, "I lost my card", 10_000, 100)


def test_going_on_before_the_reply_is_heard_steps_back_to_the_flow_as_it_was() -> None:
    live = fi.Snapshot(state="menu", values={"tries": 1})
    c = Continuation()
    c.taken = t = taken(live)
    live.state, live.values["tries"] = "ask_dob", 2  # the flow moved on
    heard = (UNHEARD_MS // FRAME_MS) - 2  # frames of the reply played, under the limit
    assert c.resumable(10_400, 100 + heard, since_ms=0) is t
    back = c.step_back(t)
    assert (back.state, back.values["tries"], c.taken) == ("menu", 1, None)
    assert c.joined("on the bus") == ("I lost my card on the bus", True)
    assert c.joined("yes") == ("yes", False)  # once


def test_a_reply_heard_or_a_late_start_is_a_new_turn() -> None:
    c = Continuation()
    c.taken = taken()
    heard = UNHEARD_MS // FRAME_MS + 5
    assert c.resumable(10_400, 100 + heard, since_ms=0) is None
    # the same frames, but the caller started 200 ms before the VAD was sure: in time
    assert c.resumable(10_400, 100 + heard, since_ms=200) is not None
    assert c.resumable(10_000 + WITHIN_MS + 100, 100, since_ms=0) is None
    c.forget()
    assert c.resumable(10_100, 100, since_ms=0) is None
