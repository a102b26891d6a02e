"""Whether a caller's words so far stop in the middle of a sentence: "how much money
is…", "I'd like to…", "could you tell me what's…", "my card, um".

Whisper punctuates what it hears, but a sentence cut at a pause still gets a full
stop or a question mark ("How much money is?"), so the last word decides: one that
needs another after it (an article, a preposition, a conjunction, an auxiliary, a
filler) or a trailing ellipsis, comma or dash.
"""

from __future__ import annotations

import re

# Words a sentence does not end on. Not pronouns or objects: "check the funds for me",
# "repeat it", "how much is in there" are whole.
CONTINUERS = frozenset({
    "a", "an", "the", "my", "your", "our", "their", "his", "her", "its",
    "to", "of", "for", "at", "with", "from", "by", "about", "into", "than",
    "and", "or", "but", "because", "if", "when", "while", "whether",
    "um", "uh", "er", "erm", "i", "i'm", "i've", "i'd", "it's", "there's", "what's",
    "is", "was", "are", "were", "be", "been", "can", "could", "would", "will", "should",
    "just", "really", "very", "want", "need", "like",
})  # fmt: skip


def sounds_unfinished(text: str) -> bool:
    t = text.strip()
    if t.endswith(("...", "…", ",", "-", "—")):
        return True
    words = re.findall(r"[a-z']+", t.lower())
    return bool(words) and words[-1] in CONTINUERS
