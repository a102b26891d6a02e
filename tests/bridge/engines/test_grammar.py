from __future__ import annotations

from bridge.engines.local.grammar import build
from flows.interpreter import CONFIRM_SLOT, Interpreter, Listen
from tests.bridge.conversation.calls import APPTS, CARDS


def known(word: str) -> bool:
    return word != "zzyzx"


def test_intent_states_hear_examples_and_a_word_loop_for_paraphrases() -> None:
    menu = Interpreter(CARDS).start()[-1]
    assert isinstance(menu, Listen)
    g = build(CARDS, menu, known)
    assert g is not None and "what is my balance" in g and "talk to a person" in g
    assert "<word>+" in g and "stole" in g.split("<word> =")[1]  # synonyms can be heard


def test_slot_states_get_the_slot_grammar_and_the_global_handlers() -> None:
    card = Listen("ask_card", ("agent", "repeat"), "card_last4", "digits", 4)
    g = build(CARDS, card, known)
    assert g is not None and "<digit> <digit> <digit> <digit>" in g and "agent" in g
    assert "<word>+" not in g
    date = build(CARDS, Listen("ask_dob", (), "dob", "date"), known)
    assert date is not None and "<ordinal>" in date and "<month> =" in date
    yes = build(APPTS, Listen("ask_day", (), CONFIRM_SLOT, "yes_no"), known)
    assert yes is not None and "that's right" in yes and "<yes_no>" in yes


def test_unknown_words_are_dropped_and_free_text_is_open_vocabulary() -> None:
    flow = CARDS.model_copy(deep=True)
    flow.intents["agent"].examples.append("zzyzx please")
    g = build(flow, Listen("menu", ("agent",)), known)
    assert g is not None and "zzyzx" not in g
    assert build(CARDS, Listen("x", (), None, "text"), known) is None
