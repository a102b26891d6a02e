"""Intents learned from a flow's examples recognise paraphrases they never saw."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.loader import load
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
