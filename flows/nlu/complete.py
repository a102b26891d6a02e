"""Whether a caller's words so far sound like a whole sentence, or like one they are
still in the middle of ("I'd like to...", "my card is, um").

Whisper punctuates what it hears: a sentence that stops is written with a full stop or
a question mark; one that trails off, with an ellipsis or a comma, or ends on a word
that needs another after it (an article, a preposition, a conjunction, a filler).
"""

from __future__ import annotations

import re

CONTINUERS = frozenset({
    "a", "an", "the", "my", "your", "our", "their", "his", "her", "its", "this", "that",
    "these", "those", "some", "any", "to", "of", "for", "at", "in", "on", "with", "from",
    "by", "about", "into", "than", "as", "and", "or", "but", "so", "because", "if", "when",
    "while", "then", "um", "uh", "er", "erm", "like", "i", "i'm", "it's", "is", "was",
    "are", "were", "be", "can", "could", "would", "will", "should", "just", "really",
    "very", "want", "need",
})  # fmt: skip


MIN_WORDS = 3  # "I lost." may be the start of "I lost | my card on the bus"


def sounds_complete(text: str) -> bool:
    t = text.strip()
    if not t or t.endswith(("...", "…", ",", "-", "—")) or not t.endswith((".", "?", "!")):
        return False
    words = re.findall(r"[a-z']+", t.lower())
    return len(words) >= MIN_WORDS and words[-1] not in CONTINUERS
