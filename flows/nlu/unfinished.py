"""Whether a caller's words so far stop in the middle of a sentence: "how much money
is…", "I'd like to…", "could you tell me what's…", "my card, um".

Whisper punctuates what it hears, but a sentence cut at a pause still gets a full
stop or a question mark ("How much money is?"), so the last word decides: one that
needs another after it (an article, a preposition, a conjunction, an auxiliary, a
filler) or a trailing ellipsis, comma or dash.
"""

from __future__ import annotations

import re

CONTINUERS = frozenset({
    "a", "an", "the", "my", "your", "our", "their", "his", "her", "its", "this", "that",
    "these", "those", "some", "any", "to", "of", "for", "at", "in", "on", "with", "from",
    "by", "about", "into", "than", "as", "and", "or", "but", "so", "because", "if", "when",
    "while", "then", "um", "uh", "er", "erm", "like", "i", "i'm", "i've", "i'd", "it's",
    "is", "was", "are", "were", "be", "been", "can", "could", "would", "will", "should",
    "just", "really", "very", "want", "need", "what", "what's", "how", "where", "which",
    "whether", "there", "there's", "me", "you", "we", "they", "it", "got", "have", "has",
    "had", "do", "does", "did", "am", "not", "no",
})  # fmt: skip


def sounds_unfinished(text: str) -> bool:
    t = text.strip()
    if t.endswith(("...", "…", ",", "-", "—")):
        return True
    words = re.findall(r"[a-z']+", t.lower())
    return bool(words) and words[-1] in CONTINUERS
