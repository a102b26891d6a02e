"""What the recogniser may hear in a caller turn, built from what the flow state listens for.

pocketsphinx recognises telephone speech well when it only has to choose among
the phrases a state expects (the intents' examples, the global handlers, and
the words a typed slot is said with: digits, yes/no, dates, amounts) and poorly
with open vocabulary, so each caller turn gets its own constraint: a JSGF
grammar where a slot is expected, and a bigram language model of the state's
phrases where the caller picks among intents and may paraphrase them
(:mod:`bridge.engines.local.language_model`). Words the pronunciation dictionary
lacks are dropped, since one unknown word would make the whole grammar unusable.
``None`` means "no constraint": open vocabulary.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from bridge.engines.local.language_model import arpa, expand
from flows.interpreter import CONFIRM_SLOT, Listen
from flows.model import Flow
from flows.nlu.intents import SYNONYMS


@dataclass(frozen=True)
class Constraint:
    kind: Literal["jsgf", "ngram"]
    text: str  # the JSGF grammar, or the ARPA model

    @property
    def name(self) -> str:
        """A search name for the decoder, the same for the same text."""
        return self.kind[0] + hashlib.sha1(self.text.encode()).hexdigest()[:12]

    @classmethod
    def jsgf(cls, text: str) -> Constraint:
        return cls("jsgf", text)

    @classmethod
    def one_of(cls, phrases: Iterable[str]) -> Constraint:
        """Exactly one of ``phrases`` (lowercase words the dictionary knows)."""
        return cls.jsgf("#JSGF V1.0;\ngrammar one;\npublic <p> = " + " | ".join(phrases) + ";\n")


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


def build(flow: Flow, listen: Listen, known: Callable[[str], bool]) -> Constraint | None:
    """What the recogniser may hear in one caller turn; None for open vocabulary."""
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
        return Constraint("ngram", arpa(_menu_sentences(alternatives, known)))
    rules = _closure(needed)
    lines = ["#JSGF V1.0;", "grammar turn;"]
    before = " | ".join(w for w in FILLERS_BEFORE if known(w))
    after = " | ".join(p for p in FILLERS_AFTER if all(known(w) for w in p.split()))
    body = " | ".join(dict.fromkeys(alternatives))
    head = f"[{before}] " if before else ""
    tail = f" [{after}]" if after else ""
    lines.append(f"public <turn> = {head}( {body} ){tail};")
    for name in sorted(rules):
        if name in RULES:
            lines.append(f"<{name}> = {' | '.join(RULES[name])};")
        else:
            lines.append(f"<{name}> = {COMPOSITE[name]};")
    return Constraint.jsgf("\n".join(lines) + "\n")


def _menu_sentences(examples: list[str], known: Callable[[str], bool]) -> list[list[str]]:
    """The language model's corpus: the examples with their synonyms, then single words.

    Only the lexicon's concepts the examples use join in (a card menu does not need
    "appointment"), so the decoder has fewer wrong words to reach for.
    """
    by_concept: dict[str, list[str]] = {}
    for word, concept in SYNONYMS.items():
        if known(word):
            by_concept.setdefault(concept, []).append(word)
    synonyms = {w: by_concept[c] for w, c in SYNONYMS.items() if c in by_concept}
    sentences = [s for e in examples for s in expand(e.split(), synonyms)]
    used = {SYNONYMS[w] for s in sentences for w in s if w in SYNONYMS}
    singles = [*FUNCTION_WORDS, *FILLERS_BEFORE, *FILLERS_AFTER]
    singles += [w for w, c in SYNONYMS.items() if c in used]
    sentences += [p.split() for p in singles]
    return [[w for w in s if known(w)] for s in sentences]


def _closure(names: Iterable[str]) -> set[str]:
    out: set[str] = set()
    todo = list(names)
    while todo:
        n = todo.pop()
        if n not in out:
            out.add(n)
            todo += USES.get(n, [])
    return out
