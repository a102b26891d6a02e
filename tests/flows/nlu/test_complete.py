"""A pause ends an intent turn early only after a whole sentence."""

from __future__ import annotations

import pytest

from flows.nlu.complete import sounds_complete


@pytest.mark.parametrize(
    "text", ["I lost my card.", "What is my balance?", "Put me through to someone, please."]
)
def test_whole_sentences(text: str) -> None:
    assert sounds_complete(text)


@pytest.mark.parametrize(
    "text",
    [
        "I'd like to...",  # Whisper's ellipsis: trailing off
        "I'd like to.",  # ends on a word that needs another
        "My card is, um.",
        "I lost my card and",  # no full stop
        "I lost.",  # two words can be the start of anything
        "Agent,",
        "",
    ],
)
def test_sentences_still_going(text: str) -> None:
    assert not sounds_complete(text)
