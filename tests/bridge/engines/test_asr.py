"""The recogniser's two decoders: the turns' grammars on a dictionary of their own
words, open vocabulary on the whole dictionary."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.engines.local.asr import Recognizer, known, words_in
from bridge.engines.local.engine import LocalEngine
from bridge.engines.local.grammar import Constraint, build
from flows.interpreter import Interpreter, Listen
from harness.audio import VOICES, synthesize
from media.line import phone_line
from tests.bridge.conversation.calls import CARDS


def test_the_words_of_a_grammar_and_of_a_model() -> None:
    jsgf = Constraint.jsgf(
        "#JSGF V1.0;\ngrammar turn;\npublic <turn> = [um] ( yes please | <digit>+ | no /0.5/ {x} );"
        "\n<digit> = one | two;\n"
    )
    assert words_in(jsgf) == {"um", "yes", "please", "no", "one", "two"}
    arpa = "\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0 <s> -0.3\n-0.5 card\n-0.5 </s>\n\n\\2-grams:\n"
    assert words_in(Constraint("ngram", arpa + "-0.1 <s> card\n\n\\end\\\n")) == {"card"}


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return LocalEngine(prepare=False).recognizer()


def test_a_menu_turn_hears_only_the_menus_words(recognizer: Recognizer) -> None:
    """pocketsphinx hands a language model every word of its decoder's dictionary:
    on the full one a 50-word menu model would take seconds to add and could come out
    as any English word."""
    menu = Interpreter(CARDS).start()[-1]
    assert isinstance(menu, Listen)
    constraint = build(CARDS, menu, known)
    assert constraint is not None and constraint.kind == "ngram"
    recognizer.begin(constraint)
    recognizer.feed(phone_line(synthesize("I lost my card", VOICES[1])))
    heard = recognizer.finish()
    assert heard.grammar and set(heard.text.split()) <= words_in(constraint), heard.text
    assert recognizer.constrained.lookup_word("card") is not None
    assert recognizer.constrained.lookup_word("targeted") is None  # not a word of any turn
    assert recognizer.open.lookup_word("targeted") is not None


def test_free_text_is_heard_with_the_whole_dictionary(recognizer: Recognizer) -> None:
    recognizer.begin(None)
    recognizer.feed(
        np.concatenate(
            [
                np.zeros(3200, np.int16),
                phone_line(
                    synthesize("I would like to check my account balance please.", VOICES[1])
                ),
            ]
        )
    )
    heard = recognizer.finish()
    # (Open vocabulary hears telephone speech poorly: "balance please" may not survive.)
    assert not heard.grammar and {"like", "check", "account"} <= set(heard.text.split()), heard.text
