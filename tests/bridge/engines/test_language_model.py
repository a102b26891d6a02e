from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.engines.local.asr import Recognizer, known
from bridge.engines.local.engine import WARM_UP
from bridge.engines.local.grammar import build
from bridge.engines.local.language_model import arpa, expand
from flows.interpreter import Interpreter, Listen
from flows.nlu import Matcher
from harness.audio import VOICES, Voice, synthesize
from media.line import phone_line
from tests.bridge.conversation.calls import CARDS


def parse(text: str) -> tuple[dict[str, tuple[float, float]], dict[tuple[str, str], float]]:
    """Unigrams (log10 p, log10 back-off) and bigrams (log10 p) of an ARPA model."""
    uni: dict[str, tuple[float, float]] = {}
    bi: dict[tuple[str, str], float] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("\\"):
            section = line
            continue
        parts = line.split()
        if section == "\\1-grams:" and parts:
            uni[parts[1]] = (float(parts[0]), float(parts[2]) if len(parts) > 2 else 0.0)
        elif section == "\\2-grams:" and parts:
            bi[(parts[1], parts[2])] = float(parts[0])
    return uni, bi


words = st.lists(
    st.sampled_from(["my", "card", "was", "stolen", "lost", "balance", "a", "person", "please"])
)


@given(st.lists(words, min_size=1, max_size=8))
def test_every_history_is_a_distribution(sentences: list[list[str]]) -> None:
    uni, bi = parse(arpa(sentences))
    if not bi:
        return
    for h, (_, backoff) in uni.items():
        if h == "</s>":
            continue
        total = 0.0
        for w, (logp, _) in uni.items():
            if w == "<s>":
                continue
            total += 10 ** bi[(h, w)] if (h, w) in bi else 10 ** (backoff + logp)
        assert math.isclose(total, 1.0, abs_tol=1e-3), h


def test_synonyms_expand_one_word_at_a_time() -> None:
    got = expand(["my", "card", "was", "stolen"], {"stolen": ["stolen", "nicked", "taken"]})
    assert got == [
        ["my", "card", "was", "stolen"],
        ["my", "card", "was", "nicked"],
        ["my", "card", "was", "taken"],
    ]


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    rec = Recognizer()
    rec.warm_up([(t, phone_line(synthesize(t, VOICES[1]))) for t in WARM_UP])
    return rec


@pytest.mark.parametrize(
    ("said", "want"),
    [
        ("my card has been robbed", "lost_card"),  # "robbed": the lexicon's, not an example's
        ("how much money is left", "balance"),
        ("I want to speak to a human", "agent"),
    ],
)
@pytest.mark.parametrize("voice", VOICES[:3], ids=lambda v: f"speed{v.speed}")
def test_the_decoder_hears_paraphrases_through_the_menu_model(
    recognizer: Recognizer, said: str, want: str, voice: Voice
) -> None:
    menu = Interpreter(CARDS).start()[-1]
    assert isinstance(menu, Listen)
    constraint = build(CARDS, menu, known)
    assert constraint is not None and constraint.kind == "ngram"
    recognizer.begin(constraint)
    recognizer.feed(phone_line(synthesize(said, voice)))
    heard = recognizer.finish()
    assert heard.grammar and Matcher(CARDS).match(heard.text, menu).intent == want, heard.text
