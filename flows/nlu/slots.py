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
from flows.nlu.dates import CLOCK_WORDS, read_date

DIGIT_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "nil": "0",
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
REPEATS = {"double": 2, "triple": 3, "treble": 3}
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
        if repeat > 1 and digit[:1].isdigit():  # "double 562": Whisper joins the rest on
            digit = digit[0] * repeat + digit[1:]
        out.append(digit)
        repeat = 1
    return " ".join(out)


# "the last four are ...": a count of digits, not one of them.
DIGIT_COUNT = re.compile(
    r"\b(?:last|final|first)\s+(?:\w+\s+)?(?:digits?|numbers?)\b|\b(?:last|final|first)\s+\w+\b"
    r"|\b\w+\s+(?:digits|numbers)\b",
    re.IGNORECASE,
)


# Words Whisper writes for a digit it heard among other digits ("for 729" for 4729).
# ("to" only when the digits are one short: "go to 4111" has no 2 in it.)
HOMOPHONES = {"for": "4", "fore": "4", "won": "1", "ate": "8"}
_HOMOPHONE = r"\b(for|fore|won|ate)\b"


# "the Visa one ends in…": "one" for a thing, not a digit
PRONOUN_ONE = re.compile(
    r"\b(?:the|this|that|other|my|visa|mastercard|amex|debit|credit|new|old|gold|blue|black)"
    r"\s+(?:one|1)\b(?!\W*(?:\d|zero|oh|one|two|three|four|five|six|seven|eight|nine)\b)",
    re.IGNORECASE,
)


def parse_digits(text: str, length: int | None = None) -> str | None:
    text = PRONOUN_ONE.sub(lambda m: m.group().rsplit(" ", 1)[0], text)
    spoken = spoken_numbers(DIGIT_COUNT.sub(" ", text))
    if re.search(r"\d", spoken):
        spoken = re.sub(
            rf"{_HOMOPHONE}(?=\W*\d)|(?<=\d\W){_HOMOPHONE}",
            lambda m: HOMOPHONES[(m.group(1) or m.group(2)).lower()],
            spoken,
            flags=re.IGNORECASE,
        )
    spoken = re.sub(r"(?<=\d)o\b", "0", spoken, flags=re.IGNORECASE)  # "Triple 9o"
    digits = "".join(re.findall(r"\d", spoken))
    if length is not None and len(digits) > length:
        digits = unrepeated(digits, length)
    # "get it out to 774": one short, and "to" right before the digits was the first
    if length is not None and len(digits) == length - 1:
        m = re.search(r"\b(?:to|too)\W+(?=\d)", spoken, flags=re.IGNORECASE)
        if m is not None and not re.search(r"\d", spoken[: m.start()]):
            digits = "2" + digits
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


# Words without which a sentence names no day: a month and a year ("SIST may 2001",
# "sometime in December") are not a day, and dateparser would put today's in.
DAY_CUE = re.compile(
    r"\b(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?\b"
    r"|\b(?:today|tomorrow|tonight|weeks?|fortnight|days?)\b|(?<!\d)\d{1,2}(?!\d)"
    r"|\b(?:first|second|third|\w+th)\b",
    re.IGNORECASE,
)


def parse_date(text: str, today: date, day_first: bool = True) -> str | None:
    """An ISO date: "the fourth of July 1982", "next Tuesday", "12 March 1990"."""
    t = spoken_numbers(text)
    found = read_date(t, today, day_first)
    if found is not None:
        return found.isoformat()
    t = CLOCK_WORDS.sub(" ", t)
    if not DAY_CUE.search(t):
        return None
    base = datetime(today.year, today.month, today.day)
    settings: Any = {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": "future",
        "DATE_ORDER": "DMY" if day_first else "MDY",
    }
    parsed = dateparser.parse(t, languages=["en"], settings=settings)
    if parsed is None:
        from dateparser.search import search_dates

        hits = search_dates(t, languages=["en"], settings=settings)
        parsed = hits[0][1] if hits else None
    return parsed.date().isoformat() if parsed else None


# Parts of the day an enum may offer, from what callers say or Whisper writes instead.
DAY_PARTS = {
    # "warnings": "mornings" over a phone line, as Whisper writes it
    "morning": (
        r"\b(?:first thing|early|before (?:lunch|noon|midday|twelve|12)|a\.? ?m\b|warnings?)",
        0,
        12,
    ),
    "afternoon": (
        r"\b(?:after (?:lunch|noon|midday|school|twelve|12)|lunchtime|p\.? ?m\b)",
        12,
        17,
    ),
    "evening": (r"\b(?:after work|tonight|late)\b", 17, 24),
}
CLOCK = re.compile(r"\b(\d{1,2})(?:[:.](\d\d))?\s*(a\.?\s?m|p\.?\s?m)?\b")


# A value ruled out in its own clause: "not the afternoon", "can't do mornings".
NEGATED_BEFORE = re.compile(
    r"\b(?:not|no|never|cannot|can't|won't|isn't|don't)\b(?:\W+\w+){0,2}\W*$"
)


def _ruled_out(t: str, value: str) -> bool:
    m = re.search(rf"\b{re.escape(value.lower())}s?\b", t)
    if m is None:
        return False
    clause = re.split(r"[,.;:!?]", t[: m.start()])[-1]
    return NEGATED_BEFORE.search(clause) is not None


def parse_enum(text: str, values: list[str]) -> str | None:
    t = text.lower().replace("\u2019", "'")
    out = [v for v in values if _ruled_out(t, v)]
    if out:
        rest = [v for v in values if v not in out]
        # "not the afternoon, I'm at work then": of two, the other one
        said = parse_enum(re.sub("|".join(re.escape(v.lower()) for v in out), " ", t), rest)
        return said if said is not None or len(rest) != 1 else rest[0]
    # "afternoon would be best, I work mornings": a value said as such before one
    # said in the plural (the times a caller can't do, as often as the ones they can).
    for plural in ("", "s"):
        named = [v for v in values if re.search(rf"\b{re.escape(v.lower())}{plural}\b", t)]
        if len(named) == 1:
            return named[0]
        if named:
            break
    part = _day_part(t, [v for v in values if v.lower() in DAY_PARTS])
    if part is not None:
        return part
    hit = process.extractOne(t, values, scorer=fuzz.partial_ratio, score_cutoff=85)
    return hit[0] if hit else None


def _day_part(text: str, parts: list[str]) -> str | None:
    """ "after lunch" → afternoon, "10:30 a.m." → morning, where the enum has those."""
    if not parts:
        return None
    t = spoken_numbers(text)
    for m in CLOCK.finditer(t):
        hour, suffix = int(m.group(1)), (m.group(3) or "").replace(".", "").replace(" ", "")
        clock_words = re.match(r"\s*o.?clock", t[m.end() :]) or re.search(
            r"\b(?:past|to|half|after|around|about|at|from)\s*$", t[: m.start()]
        )
        if hour > 23 or (not suffix and not m.group(2) and not clock_words):
            continue
        if suffix == "pm" and hour < 12:
            hour += 12
        elif not suffix and 1 <= hour <= 6:
            hour += 12  # "half two", "at 3 o'clock": a clinic's afternoon, not the night
        for part in parts:
            if DAY_PARTS[part.lower()][1] <= hour < DAY_PARTS[part.lower()][2]:
                return part
    found = [p for p in parts if re.search(DAY_PARTS[p.lower()][0], text)]
    return found[0] if len(found) == 1 else None


# Words without which a sentence names no date (dateparser finds dates in "may", "now").
DATE_CUE = re.compile(
    r"\b(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?s?\b|\b(?:jan|feb|mar|apr|"
    r"jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b|\bmay\s+\d|\d\w*\s+(?:of\s+)?may\b|\btoday\b|\btomorrow\b|\bweek\b|"
    r"\d|\b(?:first|second|third|\w+teenth|\w+tieth|\w+th)\b",
    re.IGNORECASE,
)


def parser_for(
    spec: SlotSpec, today: Callable[[], date], within: bool = False, day_first: bool = True
) -> Callable[[str], Any]:
    """The parser for a slot's type. ``within``: the value may come inside a longer
    request ("book me in for Friday morning"), so only clear values count."""
    match spec.type:
        case "digits":
            return lambda t: parse_digits(t, spec.length)
        case "number":
            return parse_number
        case "amount":
            return parse_amount
        case "yes_no":
            return parse_yes_no
        case "date" if within:
            return lambda t: parse_date(t, today(), day_first) if DATE_CUE.search(t) else None
        case "date":
            return lambda t: parse_date(t, today(), day_first)
        case "enum":
            return lambda t: parse_enum(t, spec.values)
        case _:
            return lambda t: t.strip() or None
