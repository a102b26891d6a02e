"""Typed slot values from what a caller said: digits, numbers, amounts, dates, yes/no.

Each parser takes the recognised text and returns the value or ``None``. Number
words become digits with text2num; dates are read by dateparser relative to the
call's own "today", so a replayed call parses the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import dateparser
from rapidfuzz import fuzz, process
from text_to_num import alpha2digit

from flows.model import SlotSpec
from flows.nlu import yes_no

DIGIT_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "nil": "0",
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
REPEATS = {"double": 2, "triple": 3}
CURRENCY = r"(?:pounds?|quid|dollars?|bucks|euros?|£|\$|€)"
SUBUNIT = r"(?:p|pence|pennies|cents?)"


def spoken_numbers(text: str) -> str:
    """Number words as digits: "forty one eleven" → "41 11", "oh four" → "0 4"."""
    converted = alpha2digit(text.lower(), "en", threshold=0)
    out: list[str] = []
    repeat = 1
    for w in converted.split():
        bare = w.strip(".,!?")
        if bare in REPEATS:
            repeat = REPEATS[bare]
            continue
        digit = DIGIT_WORDS.get(bare, bare)
        out.append(digit * repeat if digit.isdigit() and len(digit) == 1 else digit)
        repeat = 1
    return " ".join(out)


def parse_digits(text: str, length: int | None = None) -> str | None:
    digits = "".join(re.findall(r"\d", spoken_numbers(text)))
    if length is not None and len(digits) > length:
        digits = unrepeated(digits, length)
    if not digits or (length is not None and len(digits) != length):
        return None
    return digits


def unrepeated(digits: str, length: int) -> str:
    """The digits once where a transcriber looped on them ("4111411141" for "4111":
    Whisper can repeat a short answer until it runs out of tokens); else unchanged."""
    head = digits[:length]
    looped = (head * (len(digits) // length + 1))[: len(digits)]
    return head if len(digits) >= 2 * length - 1 and digits == looped else digits


def parse_number(text: str) -> int | float | None:
    m = re.search(r"-?\d+(?:\.\d+)?", spoken_numbers(text).replace(",", ""))
    if m is None:
        return None
    value = float(m.group())
    return int(value) if value.is_integer() else value


def parse_amount(text: str) -> float | None:
    """ "£12.50", "12 pounds 50", "twelve pounds and fifty pence", "twelve fifty"."""
    t = spoken_numbers(text).replace(",", "")
    t = re.sub(r"\ba (?=\d)", "", t)  # "a 100 pounds"
    m = re.search(
        rf"{CURRENCY}?\s*(\d+(?:\.\d{{1,2}})?)\s*{CURRENCY}?(?:\s*(?:and\s+)?(\d{{1,2}})\s*{SUBUNIT}?)?",
        t,
    )
    if m is None:
        return None
    whole = float(m.group(1))
    if m.group(2) and "." not in m.group(1):
        whole += int(m.group(2)) / 100
    return round(whole, 2)


def parse_yes_no(text: str) -> bool | None:
    return yes_no.answer(text)


def parse_date(text: str, today: date) -> str | None:
    """An ISO date: "the fourth of July 1982", "next Tuesday", "12 March 1990"."""
    t = spoken_numbers(text)
    t = re.sub(r"\b(19|20) (\d\d)\b", r"\1\2", t)  # "19 82" spoken as a year
    base = datetime(today.year, today.month, today.day)
    m = re.fullmatch(r"(?:on )?the (\d{1,2})(?:st|nd|rd|th)?", t.strip())
    if m:  # a bare day of the month: the next one to come
        day = int(m.group(1))
        for months in range(13):
            y, mo = divmod(today.month - 1 + months, 12)
            try:
                d = date(today.year + y, mo + 1, day)
            except ValueError:
                continue
            if d >= today:
                return d.isoformat()
        return None
    settings: Any = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "future", "DATE_ORDER": "DMY"}
    found = dateparser.parse(t, languages=["en"], settings=settings)
    if found is None:
        from dateparser.search import search_dates

        hits = search_dates(t, languages=["en"], settings=settings)
        found = hits[0][1] if hits else None
    return found.date().isoformat() if found else None


def parse_enum(text: str, values: list[str]) -> str | None:
    hit = process.extractOne(text.lower(), values, scorer=fuzz.partial_ratio, score_cutoff=85)
    return hit[0] if hit else None


def parser_for(spec: SlotSpec, today: Callable[[], date]) -> Callable[[str], Any]:
    match spec.type:
        case "digits":
            return lambda t: parse_digits(t, spec.length)
        case "number":
            return parse_number
        case "amount":
            return parse_amount
        case "yes_no":
            return parse_yes_no
        case "date":
            return lambda t: parse_date(t, today())
        case "enum":
            return lambda t: parse_enum(t, spec.values)
        case _:
            return lambda t: t.strip() or None
