from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from flows.interpreter import (
    CONFIRM_SLOT,
    MASK,
    Action,
    ConverseTurn,
    Dtmf,
    Event,
    Hangup,
    HungUp,
    Interpreter,
    Listen,
    Lookup,
    LookupResult,
    NoInput,
    Say,
    SetVariables,
    Snapshot,
    StateEntered,
    Transfer,
    TransferResult,
    Utterance,
)
from flows.loader import load
from flows.model import ConverseState, Flow

EXAMPLES = Path(__file__).resolve().parents[2] / "flows" / "examples"
CARDS = load(EXAMPLES / "card_services.yaml")
APPTS = load(EXAMPLES / "appointments.yaml")
TUESDAY_NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SUNDAY = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def path(actions: list[Action]) -> list[str]:
    return [a.state for a in actions if isinstance(a, StateEntered)]


def test_lost_card_path_through_the_identity_sub_flow() -> None:
    it = Interpreter(CARDS)
    first = it.start()
    assert path(first) == ["greet", "menu"]
    assert isinstance(first[-1], Listen) and "lost_card" in first[-1].intents
    acts = it.handle(Utterance("my card was stolen", intent="lost_card"))
    assert path(acts) == ["for_lost_card", "identify", "ask_dob"]
    assert SetVariables({"purpose": "lost"}) in acts and it.snap.stack == ["verify"]
    acts = it.handle(Utterance("fourth of July 1982", slots={"dob": "1982-07-04"}))
    assert path(acts) == ["ask_card"]
    listen = acts[-1]
    assert isinstance(listen, Listen) and listen.sensitive and listen.dtmf_max == 4
    assert all(a.sensitive for a in acts if isinstance(a, Say))
    acts = it.handle(Dtmf("4111#"))
    assert path(acts) == ["identified", "verify"] and it.snap.stack == []
    assert isinstance(acts[-1], Lookup) and acts[-1].body == {"last4": "4111", "dob": "1982-07-04"}
    acts = it.handle(LookupResult(True, {"verified": True, "status": "active"}))
    assert path(acts) == ["route", "report_or_balance", "block_card"]


def test_balance_path() -> None:
    it = Interpreter(CARDS)
    it.start()
    it.handle(Dtmf("1"))
    it.handle(Utterance("x", slots={"dob": "1990-03-12"}))
    it.handle(Dtmf("1234#"))
    acts = it.handle(LookupResult(True, {"verified": True, "status": "active", "balance": 12}))
    assert path(acts) == ["route", "report_or_balance", "balance", "anything_else"]
    assert Say("Your available balance is 12 pounds.") in acts


def test_sensitive_values_are_masked_in_the_persistable_snapshot() -> None:
    it = Interpreter(CARDS)
    it.start()
    it.handle(Dtmf("1"))
    it.handle(Utterance("x", slots={"dob": "1990-03-12"}))
    it.handle(Dtmf("4111#"))
    assert it.snap.values["card_last4"] == "4111"  # the live call still has it
    stored = it.persistable()
    assert stored["values"]["card_last4"] == MASK and "4111" not in json.dumps(stored)
    assert stored["values"]["dob"] == "1990-03-12"


def test_confirmation_read_back_yes_and_no() -> None:
    it = Interpreter(APPTS, clock=lambda: TUESDAY_NOON)
    it.start()
    it.handle(Utterance("book", intent="book"))
    acts = it.handle(Utterance("next tuesday", slots={"day": "2026-12-01"}))
    assert acts[0] == Say("That's Tuesday the first of December, is that right?")
    listen = acts[-1]
    assert isinstance(listen, Listen) and listen.slot == CONFIRM_SLOT
    assert listen.slot_type == "yes_no" and it.state == "ask_day"
    acts = it.handle(Utterance("no", slots={CONFIRM_SLOT: False}))
    assert acts[0] == Say("Which day would suit you?") and "day" not in it.snap.values
    it.handle(Utterance("friday", slots={"day": "2026-11-27"}))
    unclear = it.handle(Utterance("hmm"))
    assert unclear[1] == Say("That's Friday the twenty-seventh of November, is that right?")
    assert path(it.handle(Dtmf("1"))) == ["ask_time"] and it.snap.values["day"] == "2026-11-27"


def test_a_read_back_says_the_date_as_the_flows_callers_do() -> None:
    american = APPTS.model_copy(update={"locale": "en-US"})
    for flow, said in [
        (APPTS, "Tuesday the first of December"),
        (american, "Tuesday, December first"),
    ]:
        it = Interpreter(flow, clock=lambda: TUESDAY_NOON)
        it.start()
        it.handle(Utterance("book", intent="book"))
        acts = it.handle(Utterance("next tuesday", slots={"day": "2026-12-01"}))
        assert acts[0] == Say(f"That's {said}, is that right?")
    it.handle(Dtmf("1"))
    it.handle(Utterance("morning", slots={"time_of_day": "morning"}))
    booking = it.handle(Utterance("yes", slots={"confirmed": True}))[-1]
    assert isinstance(booking, Lookup) and booking.body["day"] == "2026-12-01"  # ISO for lookups


def test_a_request_that_names_its_slots_is_not_asked_for_them_again() -> None:
    it = Interpreter(APPTS, clock=lambda: TUESDAY_NOON)
    it.start()
    acts = it.handle(
        Utterance(
            "friday morning please",
            intent="book",
            slots={"day": "2026-11-27", "time_of_day": "morning"},
        )
    )
    # The day is read back (the state confirms it); the time of day is not asked at all.
    assert Say("That's Friday the twenty-seventh of November, is that right?") in acts
    assert path(it.handle(Utterance("yes", slots={CONFIRM_SLOT: True}))) == ["ask_time", "confirm"]
    assert it.snap.values["time_of_day"] == "morning" and not it.snap.offered


def test_a_slot_the_intent_does_not_list_is_not_taken_from_its_request() -> None:
    it = Interpreter(CARDS)
    it.start()
    acts = it.handle(
        Utterance("I lost my card yesterday", intent="lost_card", slots={"dob": "2026-11-23"})
    )
    assert Say("To check it's you, what is your date of birth?") in acts
    assert "dob" not in it.snap.values


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
    st.sampled_from(["dob", "confirmed", "day", "time_of_day", CONFIRM_SLOT]),
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
    st.just(ConverseTurn()),
)


@settings(max_examples=300, deadline=None)
@given(flow=st.sampled_from([CARDS, APPTS]), events=st.lists(EVENTS, max_size=40))
def test_random_events_never_raise_or_leave_the_flow(flow: Flow, events: list[Event]) -> None:
    it = Interpreter(flow, clock=lambda: TUESDAY_NOON)
    it.start()
    for ev in events:
        for action in it.handle(ev):
            if isinstance(action, StateEntered):
                assert action.state in flow.states
        assert it.state in flow.states


def test_a_conversation_moves_on_after_max_turns() -> None:
    from tests.bridge.engines.openai.conftest import HELP_DESK

    flow = HELP_DESK.model_copy(deep=True)
    orders = flow.states["orders"]
    assert isinstance(orders, ConverseState)
    orders.converse.max_turns, orders.next = 2, "to_agent"
    it = Interpreter(flow)
    it.start()
    it.handle(Utterance("my parcel", "orders"))
    it.handle(Dtmf("1234"))
    assert it.state == "orders"
    assert it.handle(ConverseTurn()) == []  # the model answered once: go on
    moved = it.handle(ConverseTurn())
    assert StateEntered("to_agent") in moved and it.state == "to_agent"
