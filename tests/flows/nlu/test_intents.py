"""Intents learned from a flow's examples recognise paraphrases they never saw."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.interpreter import Listen
from flows.listening import listen_for
from flows.loader import load
from flows.model import AskState
from flows.nlu import Matcher

EXAMPLES = Path(__file__).resolve().parents[3] / "flows" / "examples"
CARDS = Matcher(load(EXAMPLES / "card_services.yaml"))
APPTS = Matcher(load(EXAMPLES / "appointments.yaml"))

# None of these is an example in the flow files.
PARAPHRASES = [
    (CARDS, "what's my current balance", "balance"),
    (CARDS, "how much is left in my account", "balance"),
    (CARDS, "I'd like to know my available funds", "balance"),
    (CARDS, "balance please", "balance"),
    (CARDS, "someone stole my card", "lost_card"),
    (CARDS, "I think I've lost my debit card", "lost_card"),
    (CARDS, "I misplaced my card", "lost_card"),
    (CARDS, "my credit card is missing", "lost_card"),
    (CARDS, "my card got stolen yesterday", "lost_card"),
    (CARDS, "can I talk to a human", "agent"),
    (CARDS, "put me through to an operator", "agent"),
    (CARDS, "I want to speak with somebody", "agent"),
    (CARDS, "give me a real person", "agent"),
    (CARDS, "could you repeat that please", "repeat"),
    (CARDS, "sorry what was that", "repeat"),
    (CARDS, "say it again", "repeat"),
    (APPTS, "I'd like to make an appointment", "book"),
    (APPTS, "can I book in to see the doctor", "book"),
    (APPTS, "I need to schedule a visit", "book"),
    (APPTS, "is there a slot this week", "book"),
    (APPTS, "put me through to the receptionist", "agent"),
    (APPTS, "can I speak to someone at the front desk", "agent"),
]
OUT_OF_SCOPE = [
    (CARDS, "what's the weather like in Leeds"),
    (CARDS, "my dog is called Rex"),
    (APPTS, "the football was great last night"),
    (APPTS, "purple elephants"),
]


def test_paraphrases_not_in_the_examples() -> None:
    wrong = [
        (text, want, got.intent)
        for m, text, want in PARAPHRASES
        if (got := m.match(text)).intent != want
    ]
    accuracy = 1 - len(wrong) / len(PARAPHRASES)
    assert accuracy >= 0.9, wrong
    assert len(wrong) <= 2, wrong


@pytest.mark.parametrize(("m", "text"), OUT_OF_SCOPE)
def test_out_of_scope_is_no_match(m: Matcher, text: str) -> None:
    assert m.match(text).intent is None


def test_exact_examples_score_highest() -> None:
    exact = CARDS.match("I lost my card")
    near = CARDS.match("my card has gone missing somewhere")
    assert exact.intent == near.intent == "lost_card"
    assert exact.confidence > near.confidence


def test_only_the_intents_the_state_expects() -> None:
    it = CARDS.flow
    from flows.interpreter import Interpreter, Listen

    listen = Interpreter(it).start()[-1]
    assert isinstance(listen, Listen)
    assert CARDS.match("book an appointment", listen).intent is None
    narrowed = Listen("menu", intents=("agent",))
    assert CARDS.match("what is my balance", narrowed).intent is None


def test_meaning_without_shared_words() -> None:
    """No example shares a content word with these: only the embedding can tell."""
    menu = Listen("menu", intents=("balance", "lost_card", "agent", "repeat"))
    assert CARDS.match("a thief had my Visa at the petrol station", menu).intent == "lost_card"
    assert CARDS.match("am I overdrawn right now", menu).intent == "balance"
    lexical = Matcher(CARDS.flow, semantic=False)
    assert lexical.match("a thief had my Visa at the petrol station", menu).intent is None


@pytest.mark.parametrize(
    "text",
    [
        "I need to activate my new card",
        "I want to pay my credit card bill",
        "my card keeps getting declined",
    ],
)
def test_a_near_request_the_state_does_not_handle_is_none(text: str) -> None:
    """Same topic as an intent (a card), another request: none of these."""
    menu = Listen("menu", intents=("balance", "lost_card", "agent", "repeat"))
    assert CARDS.match(text, menu).intent is None


BILLS = """
flow: bills
start: menu
intents:
  pay_bill: { examples: ["pay a bill", "make a payment", "pay what I owe"] }
  agent: { examples: ["talk to a person"] }
defaults: { no_match: { then: bye }, no_input: { then: bye } }
states:
  menu:
    ask: "Pay a bill or talk to someone?"
    intents: [pay_bill, agent]
    on: { pay_bill: bye, agent: bye }
  bye: { hangup: "Bye." }
"""


def test_a_flow_that_handles_a_request_keeps_its_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The requests elsewhere that mean one of the flow's own intents are left out."""
    from flows.loader import loads
    from flows.nlu import elsewhere

    flow = loads(BILLS, "bills.yaml")
    assert Matcher(flow).match("I need to pay my bill").intent == "pay_bill"
    monkeypatch.setattr(elsewhere, "OVERLAP", 1.01)  # keep every request elsewhere
    elsewhere.elsewhere_for.cache_clear()
    try:
        assert Matcher(flow).match("I need to pay my bill").intent is None
    finally:
        elsewhere.elsewhere_for.cache_clear()


def test_a_yes_to_a_question_that_offers_one_thing_is_that_thing() -> None:
    greet = Listen("greet", intents=("book", "agent"))
    for said in ["Yeah, go on.", "Yes please.", "Sure."]:
        assert APPTS.match(said, greet).intent == "book", said
    assert APPTS.match("the football was great last night", greet).intent is None


def test_a_request_brings_its_own_slots() -> None:
    greet = Listen("greet", intents=("book", "agent"))
    u = APPTS.match("can I come in on Friday morning to see the nurse", greet)
    assert u.intent == "book"
    assert u.slots["time_of_day"] == "morning" and u.slots["day"] is not None
    plain = APPTS.match("I'd like to make an appointment", greet)
    assert plain.intent == "book" and plain.slots == {}


def test_a_global_intent_at_a_slot_state_must_be_clear() -> None:
    """At a yes/no question, "no, don't do that" is the answer, not a weak "repeat"."""
    confirm = Listen(
        "block_card", intents=("agent", "repeat"), slot="confirmed", slot_type="yes_no"
    )
    u = CARDS.match("no, don't do that", confirm)
    assert u.intent is None and u.slots == {"confirmed": False}
    assert CARDS.match("can I talk to a person", confirm).intent == "agent"


def test_a_menu_key_said_aloud_is_the_intent_the_key_leads_to() -> None:
    state = CARDS.flow.states["menu"]
    assert isinstance(state, AskState)
    menu = listen_for(CARDS.flow, "menu", state)
    assert CARDS.match("Option 1, please.", menu).intent == "balance"
    assert CARDS.match("two", menu).intent == "lost_card"
    assert CARDS.match("Zero.", menu).intent == "agent"
    assert CARDS.match("I've got one question about fees", menu).intent != "balance"
    # where no key is offered, a number is only a number
    assert CARDS.match("one", Listen("menu", intents=("balance", "agent"))).intent != "balance"


def test_nothing_more_is_no_request() -> None:
    more = Listen("anything_else", intents=("balance", "lost_card", "agent", "repeat"))
    for said in ["That's it, ta.", "No, that's everything, thanks.", "Nothing else, bye."]:
        assert CARDS.match(said, more).intent is None, said
