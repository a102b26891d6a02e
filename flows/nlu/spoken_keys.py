"""A menu option said instead of keyed: "option one", "two please", "press zero".

A caller told "press 1, 2 or 0" often says the number. Only an answer that is
nothing but one key, with the words callers wrap it in, counts: "one" is key 1,
"I've got one question" is not.
"""

from __future__ import annotations

import re

KEY_WORDS = {
    "zero": "0", "nought": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
WRAPPING = frozenset([
    "option", "options", "number", "press", "pressing", "key", "button", "choice", "i",
    "i'll", "ill", "will", "would", "go", "with", "take", "have", "the", "for", "um", "uh",
    "er", "erm", "ah", "please", "thanks", "thank", "you", "ta", "cheers", "ok", "okay",
    "yeah", "yes", "let's", "lets", "just", "it's", "its", "that's", "that", "is", "like",
    "to",
])  # fmt: skip


def spoken_key(text: str) -> str | None:
    """The one key ``text`` names, or None."""
    words = re.findall(r"[a-z0-9']+", text.lower().replace("\u2019", "'"))
    keys = [KEY_WORDS.get(w, w) for w in words if w in KEY_WORDS or (len(w) == 1 and w.isdigit())]
    rest = [w for w in words if w not in KEY_WORDS and not w.isdigit() and w not in WRAPPING]
    return keys[0] if len(keys) == 1 and not rest else None
