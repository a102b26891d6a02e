from __future__ import annotations

from bridge.engines.local.grammar import build
from flows.interpreter import CONFIRM_SLOT, Interpreter, Listen
from tests.bridge.conversation.calls import APPTS, CARDS


def known(word: str) -> bool:
    return word != "zzyzx"


def test_intent_states_get_a_language_model_of_their_phrases_and_synonyms() -> None:
    menu = Interpreter(CARDS).start()[-1]
    assert isinstance(menu, Listen)
    c = build(CARDS, menu, known)
    assert c is not None and c.kind == "ngram"
    bigrams = {tuple(line.split()[1:]) for line in c.text.split("\\2-grams:")[1].splitlines()}
    assert ("my", "balance") in bigrams and ("a", "person") in bigrams  # the examples' order
    assert ("card", "was") in bigrams and ("was", "nicked") in bigrams  # "stolen" → "nicked"
    assert " appointment" not in c.text  # a concept no example of this menu uses


def test_slot_states_get_the_slot_grammar_and_the_global_handlers() -> None:
    card = Listen("ask_card", ("agent", "repeat"), "card_last4", "digits", 4)
    g = build(CARDS, card, known)
    assert g is not None and g.kind == "jsgf"
    assert "<digit> <digit> <digit> <digit>" in g.text and "agent" in g.text
    date = build(CARDS, Listen("ask_dob", (), "dob", "date"), known)
    assert date is not None and "<ordinal>" in date.text and "<month> =" in date.text
    yes = build(APPTS, Listen("ask_day", (), CONFIRM_SLOT, "yes_no"), known)
    assert yes is not None and "that's right" in yes.text and "<yes_no>" in yes.text


def test_unknown_words_are_dropped_and_free_text_is_open_vocabulary() -> None:
    flow = CARDS.model_copy(deep=True)
    flow.intents["agent"].examples.append("zzyzx please")
    g = build(flow, Listen("menu", ("agent",)), known)
    assert g is not None and "zzyzx" not in g.text
    assert build(CARDS, Listen("x", (), None, "text"), known) is None
