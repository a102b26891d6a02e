"""Yes/no in the forms callers use, with or without Whisper's punctuation."""

from __future__ import annotations

import pytest

from flows.nlu.yes_no import answer

YES = [
    "yes",
    "Yes.",
    "Yeah.",
    "Yep!",
    "Sure.",
    "Correct.",
    "Please.",
    "Yes, please.",
    "Yeah, go ahead.",
    "that's right",
    "Please do.",
    "Go on then.",
    "Absolutely.",
    "That'd be great, thanks.",
    "Why not?",
    "No problem, go ahead.",
    "I think so.",
    "Uh-huh.",
    "Of course.",
    "OK.",
    "No, wait, yes.",
    "No, no, please do.",
    "I, that's grand.",
    "Yes, cancel it, I don't want anybody spending on it.",  # a reason, not a no
    "Go and then.",  # "go on then" over the line, as Whisper writes it
    "Go in then.",
    "I'm happy with that.",
    "I suppose that'll do.",
    "What? Yes.",  # a word of surprise, then the answer
    "Could you just go ahead and block it, please?",  # asking for what was offered
]
NO = [
    "no",
    "No.",
    "Nope.",
    "No thanks.",
    "No, thank you.",
    "that's not right",
    "don't do that",
    "Please don't.",
    "I don't think so.",
    "Not yet.",
    "I'd rather not.",
    "Hold off for now.",
    "That is not correct.",
    "Yeah, no.",
    "Leave it for now.",
    "Now.",  # a lone "No." as Whisper may write it
    "Nah, hang on, not that day.",  # the last thing said settles it
    "No, hang on, I think I've found it.",  # asking for a moment keeps a no
    "Wait, no.",
    "Wait now.",
    "Nah, you're all right.",  # British: no thanks
    "Please don't cancel it, it could be at home.",
    "I don't want it cancelled.",
    "Yes, actually, I don't want it cancelled.",  # a correction takes the yes back
]
NEITHER = [
    "maybe later",
    "I'm not sure.",
    "What happens if I do?",
    "Hang on, let me check my bag.",
    "Right?",
    "the fourth of July",
    "",
    "Um.",
    "Yes, hang on, let me check.",
    "Will that stop my direct debits going out?",
    "What happens if I do?",
    "Yes, wait.",  # a moment takes a yes back
    "No, hang on, let me check.",  # a check takes a no back
    "Er, I'm not really sure.",
    "which day was that again",  # a question back without its mark
    "Could you tell me what happens next?",
]


@pytest.mark.parametrize("text", YES)
def test_yes(text: str) -> None:
    assert answer(text) is True


@pytest.mark.parametrize("text", NO)
def test_no(text: str) -> None:
    assert answer(text) is False


@pytest.mark.parametrize("text", NEITHER)
def test_neither(text: str) -> None:
    assert answer(text) is None
