"""A pause after words that stop mid-sentence holds the turn open."""

from __future__ import annotations

import pytest

from flows.nlu.unfinished import sounds_unfinished


@pytest.mark.parametrize(
    "text",
    [
        "How much money is?",
        "Could you tell me what's?",
        "I'd like to...",
        "I'd like to.",
        "My card is, um.",
        "I lost my card and",
        "Can I speak to",
        "Could I have the",
    ],
)
def test_words_that_need_more(text: str) -> None:
    assert sounds_unfinished(text)


@pytest.mark.parametrize(
    "text",
    [
        "I lost my card.",
        "What is my balance?",
        "Agent.",
        "Yes please.",
        "",
        "Check the funds for me.",
        "Sorry, repeat it.",
        "How much is in there?",
        "Can I speak to you?",
    ],
)
def test_whole_answers(text: str) -> None:
    assert not sounds_unfinished(text)
