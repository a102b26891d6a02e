from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from flows.interpreter import (
    Dtmf,
    Hangup,
    HungUp,
    Interpreter,
    Listen,
    Lookup,
    LookupResult,
    NoInput,
    Say,
    Snapshot,
    StateEntered,
    Transfer,
    TransferResult,
    Utterance,
)
from flows.loader import load

EXAMPLES = Path(__file__).resolve().parents[2] / "flows" / "examples"
CARDS = load(EXAMPLES / "card_services.yaml")
APPTS = load(EXAMPLES / "appointments.yaml")
TUESDAY_NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SUNDAY = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def path(actions: list) -> list[str]:  # type: ignore[type-arg]
    return [a.state for a in actions if isinstance(a, StateEntered)]


def test_lost_card_path_with_sensitive_digits() -> None:
    it = Interpreter(CARDS)
    first = it.start()
    assert path(first) == ["greet", "menu"]
    assert isinstance(first[-1], Listen) and "lost_card" in first[-1].intents
    it.handle(Utterance("my card was stolen", intent="lost_card"))
    acts = it.handle(Utterance("fourth of July 1982", slots={"dob": "1982-07-04"}))
    assert path(acts) == ["ask_card"]
    listen = acts[-1]
    assert isinstance(listen, Listen) and listen.sensitive and listen.dtmf_max == 4
    assert all(a.sensitive for a in acts if isinstance(a, Say))
    acts = it.handle(Dtmf("4111#"))
    assert isinstance(acts[-1], Lookup) and acts[-1].body == {"last4": "4111", "dob": "1982-07-04"}
    acts = it.handle(LookupResult(True, {"verified": True, "status": "active", "balance": 12}))
    assert path(acts) == ["route", "report_or_balance", "balance", "anything_else"]
    assert Say("Your available balance is 12 pounds.") in acts


def test_failed_lookup_and_transfer_paths() -> None:
    it = Interpreter(CARDS)
    it.start()
    it.handle(Dtmf("1"))
    it.handle(Utterance("x", slots={"dob": "2000-01-01"}))
    it.handle(Dtmf("1234"))
    acts = it.handle(LookupResult(False))
    assert path(acts) == ["to_agent"] and isinstance(acts[-1], Transfer)
    assert acts[-1].queue == "cards"
    acts = it.handle(TransferResult(False))
    assert path(acts) == ["sorry"] and isinstance(acts[-1], Hangup) and it.ended


def test_escalating_reprompts_then_the_way_out() -> None:
    it = Interpreter(CARDS)
    it.start()
    a1 = it.handle(NoInput())
    assert a1[0] == Say("Sorry, I didn't hear anything.") and isinstance(a1[-1], Listen)
    a2 = it.handle(Utterance("blah"))  # no match counts apart from no input
    assert a2[0] == Say("Sorry, I didn't catch that.")
    a3 = it.handle(NoInput())
    assert a3[0] == Say("Are you still there?")
    a4 = it.handle(NoInput())
    assert path(a4) == ["to_agent"]


def test_global_agent_and_repeat() -> None:
    it = Interpreter(CARDS)
    it.start()
    it.handle(Dtmf("1"))
    again = it.handle(Utterance("say that again", intent="repeat"))
    assert again[0] == Say("To check it's you, what is your date of birth?")
    assert path(it.handle(Utterance("agent please", intent="agent"))) == ["to_agent"]


def test_business_hours() -> None:
    assert path(Interpreter(APPTS, clock=lambda: TUESDAY_NOON).start()) == ["hours", "greet"]
    closed = Interpreter(APPTS, clock=lambda: SUNDAY).start()
    assert path(closed) == ["hours", "closed"] and isinstance(closed[-1], Hangup)


def test_resume_from_a_snapshot() -> None:
    it = Interpreter(CARDS)
    it.start()
    it.handle(Dtmf("1"))
    snap = Snapshot(**it.snap.to_dict())
    resumed = Interpreter(CARDS, snapshot=snap)
    a = resumed.handle(Utterance("x", slots={"dob": "1990-03-12"}))
    b = it.handle(Utterance("x", slots={"dob": "1990-03-12"}))
    assert a == b


def test_hang_up_ends_everything() -> None:
    it = Interpreter(CARDS)
    it.start()
    assert it.handle(HungUp()) == [] and it.ended
    assert it.handle(Dtmf("1")) == []


INTENTS = st.sampled_from([None, "balance", "lost_card", "agent", "repeat", "book", "x"])
SLOTS = st.dictionaries(
    st.sampled_from(["dob", "confirmed", "day", "time_of_day"]),
    st.one_of(st.booleans(), st.text(max_size=5)),
    max_size=2,
)
LOOKUP_DATA = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["verified", "status", "reason"]),
        st.one_of(st.booleans(), st.text(max_size=6)),
    ),
)
EVENTS = st.one_of(
    st.builds(Utterance, st.text(max_size=10), INTENTS, SLOTS),
    st.builds(Dtmf, st.text("0123456789#*", min_size=1, max_size=6)),
    st.just(NoInput()),
    st.builds(LookupResult, st.booleans(), LOOKUP_DATA),
    st.builds(TransferResult, st.booleans()),
    st.just(HungUp()),
)


@settings(max_examples=300, deadline=None)
@given(flow=st.sampled_from([CARDS, APPTS]), events=st.lists(EVENTS, max_size=40))
def test_random_events_never_raise_or_leave_the_flow(flow, events) -> None:  # type: ignore[no-untyped-def]
    it = Interpreter(flow, clock=lambda: TUESDAY_NOON)
    it.start()
    for ev in events:
        for action in it.handle(ev):
            if isinstance(action, StateEntered):
                assert action.state in flow.states
        assert it.state in flow.states
