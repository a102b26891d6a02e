"""Recognition grammars built from what a flow state listens for.

pocketsphinx recognises telephone speech well when it only has to choose among
the phrases a state expects (the intents' examples, the global handlers, and
the words a typed slot is said with: digits, yes/no, dates, amounts) and poorly
with open vocabulary, so each caller turn gets its own JSGF grammar. Words the
pronunciation dictionary lacks are dropped, since one unknown word would make
the whole grammar unusable. ``None`` means "no constraint": open vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from flows.interpreter import CONFIRM_SLOT, Listen
from flows.model import Flow
from flows.nlu.intents import SYNONYMS

UNITS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEENS = [
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORDINALS = [
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    "thirtieth",
]
MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
YES = [
    "yes",
    "yeah",
    "yep",
    "yes please",
    "correct",
    "that's right",
    "that is right",
    "that's correct",
    "right",
    "okay",
    "sure",
    "go ahead",
    "please do",
    "absolutely",
]
NO = [
    "no",
    "nope",
    "no thanks",
    "no thank you",
    "that's wrong",
    "that is wrong",
    "not right",
    "don't",
    "no don't",
]
LOOP_WEIGHT = 0.05
FUNCTION_WORDS = [
    "i",
    "my",
    "me",
    "a",
    "the",
    "to",
    "it",
    "is",
    "can",
    "you",
    "please",
    "want",
    "need",
    "have",
    "do",
    "of",
    "in",
]
FILLERS_BEFORE = ["um", "uh", "well", "so", "oh"]
FILLERS_AFTER = ["please", "thanks", "thank you"]

RULES = {
    "unit": UNITS,
    "digit": ["zero", "oh", *UNITS],
    "teen": TEENS,
    "tens": TENS,
    "ordinal_unit": ORDINALS[:9],
    "month": MONTHS,
    "weekday": DAYS,
}
COMPOSITE = {
    "n99": "<unit> | <teen> | <tens> [<unit>]",
    "number": "<n99> | [a | <unit>] hundred [[and] <n99>] | <n99> thousand [[and] <n99>]",
    "ordinal": "<ordinal_unit> | " + " | ".join(ORDINALS[9:]) + " | twenty <ordinal_unit>",
    "year": "nineteen <n99> | two thousand [and] [<n99>] | twenty <n99>",
    "date": "[the] <ordinal> [of] <month> [<year>] | <month> [the] <ordinal> [<year>]"
    " | [next | this] <weekday> | today | tomorrow | [the] day after tomorrow"
    " | next week | [on] the <ordinal>",
    "amount": "<number> [pounds | dollars | euros] [[and] <number> [pence | cents]]",
    "yes_no": " | ".join(YES + NO),
}
USES = {  # which helper rules each composite needs, so unused ones are left out
    "n99": ["unit", "teen", "tens"],
    "number": ["n99", "unit"],
    "ordinal": ["ordinal_unit"],
    "year": ["n99"],
    "date": ["ordinal", "month", "year", "weekday"],
    "amount": ["number"],
}


def words_of(text: str) -> list[str]:
    t = text.lower().replace("\u2019", "'")
    t = re.sub(r"[^a-z0-9' ]+", " ", t)
    return [w.strip("'") for w in t.split() if w.strip("'")]


def _phrase(text: str, known: Callable[[str], bool]) -> str | None:
    ws = words_of(text)
    return " ".join(ws) if ws and all(known(w) for w in ws) else None


def build(flow: Flow, listen: Listen, known: Callable[[str], bool]) -> str | None:
    """A JSGF grammar for one caller turn, or None for open vocabulary."""
    alternatives: list[str] = []
    needed: set[str] = set()
    for intent in listen.intents:
        spec = flow.intents.get(intent)
        for example in spec.examples if spec else []:
            phrase = _phrase(example, known)
            if phrase:
                alternatives.append(phrase)
    slot_type = listen.slot_type
    if listen.slot == CONFIRM_SLOT:
        slot_type = "yes_no"
    if slot_type == "text":
        return None  # free text: only open vocabulary can hear it
    if slot_type == "digits":
        assert listen.slot is not None
        length = flow.slots[listen.slot].length
        alternatives.append(" ".join(["<digit>"] * length) if length else "<digit>+")
        needed.add("digit")
    elif slot_type == "enum":
        assert listen.slot is not None
        values = [p for v in flow.slots[listen.slot].values if (p := _phrase(v, known))]
        alternatives += values
    elif slot_type in ("number", "date", "amount", "yes_no"):
        alternatives.append(f"<{slot_type}>")
        needed.add(slot_type)
    if not alternatives:
        return None
    if listen.intents and listen.slot is None:
        # Callers paraphrase: a loop over the words of the examples and of the
        # matcher's synonym lexicon lets the grammar hear "someone stole my card"
        # as words, for the matcher to judge, rather than forcing the nearest example.
        vocab = {w for a in alternatives if "<" not in a for w in a.split()}
        vocab |= {w for w in (*SYNONYMS, *FUNCTION_WORDS) if known(w)}
        rules_extra = {"word": sorted(vocab)}
        loop = True
    else:
        loop = False
        rules_extra = {}
    rules = _closure(needed)
    lines = ["#JSGF V1.0;", "grammar turn;"]
    before = " | ".join(w for w in FILLERS_BEFORE if known(w))
    after = " | ".join(p for p in FILLERS_AFTER if all(known(w) for w in p.split()))
    body = " | ".join(dict.fromkeys(alternatives))
    if loop:  # the loop only wins when no example fits: weighted well below them
        body = f"/{LOOP_WEIGHT}/ <word>+ | /1/ ( {body} )"
    head = f"[{before}] " if before else ""
    tail = f" [{after}]" if after else ""
    lines.append(f"public <turn> = {head}( {body} ){tail};")
    for name, ws in rules_extra.items():
        lines.append(f"<{name}> = {' | '.join(ws)};")
    for name in sorted(rules):
        if name in RULES:
            lines.append(f"<{name}> = {' | '.join(RULES[name])};")
        else:
            lines.append(f"<{name}> = {COMPOSITE[name]};")
    return "\n".join(lines) + "\n"


def _closure(names: Iterable[str]) -> set[str]:
    out: set[str] = set()
    todo = list(names)
    while todo:
        n = todo.pop()
        if n not in out:
            out.add(n)
            todo += USES.get(n, [])
    return out
