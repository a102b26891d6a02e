"""Dates as callers say them and as Whisper writes them down.

dateparser reads a clean date well and a sentence around one badly: in "first thing
on Monday" it finds the first of the month, in "Thursday the 3rd" this month's 3rd
even when that is past, in "eighty-seven" the year 2087. The forms callers use are
few, so they are read here first, on the text with its number words as digits
(:func:`flows.nlu.slots.spoken_numbers`):

- a day and a month, with or without a year: "the 4th of July 1982", "July 4th",
  "the 21st of the 6th, 93", "it's 12/11/89";
- a weekday with a day of the month ("Thursday the 3rd", "Wednesday 2nd"), or a day
  alone ("the 30th"): the next such date from today;
- "today", "tomorrow", "the day after tomorrow", "a week today", "a week on Friday"
  or "Friday week" (UK: Friday of next week), "Wednesday of next week" (the
  Wednesday of the coming Monday-to-Sunday week);
- two-digit years: the century that puts the year no more than ten years ahead.

Anything else goes to dateparser, relative to the call's own today, with days before
months (en-GB) or months before days (en-US).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")  # fmt: skip
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s*(?:in\s+)?'?(\d{4}|\d{2})(?:st|nd|rd|th)?\b)?"
# Times of day that dateparser would read as a day of the month.
CLOCK_WORDS = re.compile(
    r"\b(?:(?:first|1st) thing|(?:after|before|around|about|at|by|from)\s+\d{1,2}(?:[:.]\d\d)?"
    r"(?:\s*[ap]\.?\s?m\.?)?|\d{1,2}(?:[:.]\d\d)?\s*(?:[ap]\.?\s?m\b\.?|o.?clock)|"
    r"(?:half|quarter)\s+(?:past|to)\s+\d{1,2})",
    re.IGNORECASE,
)


def full_year(digits: str, today: date) -> int:
    year = int(digits)
    if len(digits) == 4:
        return year
    year += 2000
    return year - 100 if year > today.year + 10 else year


def _month(name: str) -> int:
    return next(i for i, m in enumerate(MONTHS, 1) if m.startswith(name[:3].lower()))


def _next_day_of_month(day: int, today: date, weekday: int | None = None) -> date | None:
    """The first date from today with this day of the month (and weekday, if named)."""
    fallback = None
    for months in range(13):
        y, mo = divmod(today.month - 1 + months, 12)
        try:
            d = date(today.year + y, mo + 1, day)
        except ValueError:
            continue
        if d < today:
            continue
        if weekday is None or d.weekday() == weekday:
            return d
        fallback = fallback or d
    return fallback


def _dated(year: int | None, month: int, day: int, today: date) -> date | None:
    try:
        if year is not None:
            return date(year, month, day)
        d = date(today.year, month, day)
        return d if d >= today else date(today.year + 1, month, day)
    except ValueError:
        return None


def _relative(t: str, today: date, weekday: int | None) -> date | None:
    """ "tomorrow", "a week today", "Friday week", "Wednesday of next week"."""
    if re.search(r"\bday after tomorrow\b", t):
        return today + timedelta(days=2)
    if re.search(r"\ba week (?:on |from )?tomorrow\b", t):
        return today + timedelta(days=8)
    if re.search(r"\btomorrow\b", t):
        return today + timedelta(days=1)
    if re.search(r"\ba week (?:on |from )?today\b|\btoday week\b", t):
        return today + timedelta(days=7)
    if re.search(r"\btoday\b", t):
        return today
    if weekday is None:
        return None
    day = WEEKDAYS[weekday]
    if re.search(rf"\ba week (?:on|from) (?:this )?{day}\b|\b{day} week\b", t):
        return today + timedelta(days=((weekday - today.weekday()) % 7 or 7) + 7)
    if re.search(rf"\b{day},? (?:of |in )?next week\b|\bnext week,? (?:on )?{day}\b", t):
        return today + timedelta(days=7 - today.weekday() + weekday)
    return None


def read_date(text: str, today: date, day_first: bool = True) -> date | None:
    """The date in ``text`` (number words already digits), or None if it names none
    of the forms above."""
    t = CLOCK_WORDS.sub(" ", text.lower().replace("\u2019", "'"))
    t = re.sub(r"\bace\b", "8th", t)  # "the eighth" over a phone line, as Whisper writes it
    t = re.sub(r"\b(19|20) (\d\d)\b", r"\1\2", t)  # "19 82" spoken as a year
    weekday = next((i for i, w in enumerate(WEEKDAYS) if re.search(rf"\b{w[:3]}\w*day\b", t)), None)
    if (relative := _relative(t, today, weekday)) is not None:
        return relative
    # "the 21st of the 6th, 93": a month by its number, day first as UK callers say it
    m = re.search(rf"\b{_DAY}\s+of\s+the\s+(\d{{1,2}})(?:st|nd|rd|th)?{_YEAR}", t)
    if m and 1 <= int(m.group(2)) <= 12:
        year = full_year(m.group(3), today) if m.group(3) else None
        return _dated(year, int(m.group(2)), int(m.group(1)), today)
    # "twelve oh five seventy-eight", "01/10/65", "120578": day, month and year as numbers
    numeric = re.sub(r"\b0 (\d)\b", r"0\1", t)
    numeric = re.sub(r"^\W*(\d\d)(\d\d)[\s,/.-]*(\d\d(?:\d\d)?)\W*$", r"\1 \2 \3", numeric)
    m = re.fullmatch(r"\W*(\d{1,2})[\s,/.-]+(\d{1,2})[\s,/.-]+(\d{4}|\d{2})\W*", numeric)
    m = m or re.search(r"(?<![\d/.-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\d/.-])", numeric)
    if m and m.lastindex == 4:  # written with slashes inside a sentence: "it's 12/11/89"
        m = re.fullmatch(r"(\d+)\D(\d+)\D(\d+)", m.group())
    if m:
        first, second = int(m.group(1)), int(m.group(2))
        day, month = (first, second) if day_first else (second, first)
        return _dated(full_year(m.group(3), today), month, day, today) if month <= 12 else None
    if found := _digit_run(t, today, day_first):
        return found
    day_month = re.search(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}{_YEAR}", t)
    month_day = re.search(rf"\b{_MONTH}\s+(?:the\s+)?{_DAY}(?!\d){_YEAR}", t)
    if day_month and (day_first or not month_day):
        day, month, year_digits = day_month.group(1), day_month.group(2), day_month.group(3)
    elif month_day:
        month, day, year_digits = month_day.group(1), month_day.group(2), month_day.group(3)
    else:
        # "the 30th", "Wednesday 2nd"
        m = re.search(rf"\bthe\s+{_DAY}\b|day\s+(\d{{1,2}})(?:st|nd|rd|th)\b", t)
        if m and not re.search(_MONTH, t.replace("may i", "")):
            return _next_day_of_month(int(m.group(1) or m.group(2)), today, weekday)
        if weekday is not None and not re.search(r"\b(?:next|last|week|weeks)\b", t):
            # "Friday", "this Friday", "on Friday": the next one to come (today is "today")
            return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)
        return None
    year = full_year(year_digits, today) if year_digits else None
    return _dated(year, _month(month), int(day), today)


# Words around a date said as numbers alone ("it's", "my birthday is").
_AROUND_NUMBERS = re.compile(
    r"\b(?:it|is|its|a|my|birthday|birthdays|date|of|birth|the|um|er|erm|uh)\b"
)


def _digit_run(t: str, today: date, day_first: bool) -> date | None:
    """Day, month and year said as numbers and written down split anywhere ("060 9 1990",
    "25-1267", "18-471", "to 958" for "two nine fifty-eight"): no other words, and one
    way to read the digits as a date, or one that splits them where they were split."""
    t = re.sub(r"^\W*(?:its\s+)?(?:to|too)\b(?=\W*\d)", "2 ", t.replace("'", ""))
    if re.search(r"[a-z]", _AROUND_NUMBERS.sub(" ", t)):
        return None
    groups = re.findall(r"\d+", t)
    run = "".join(groups)
    cuts = {sum(map(len, groups[:i])) for i in range(1, len(groups))}
    found: list[tuple[date, bool]] = []
    for a, b in ((1, 1), (1, 2), (2, 1), (2, 2)):
        if len(run) - a - b not in (2, 4):
            continue
        first, second, year = int(run[:a]), int(run[a : a + b]), run[a + b :]
        day, month = (first, second) if day_first else (second, first)
        if not 1 <= month <= 12 or (len(year) == 4 and not 1900 <= int(year) <= today.year):
            continue
        if (d := _dated(full_year(year, today), month, day, today)) is not None:
            found.append((d, {a, a + b} <= cuts))
    aligned = [d for d, fits in found if fits]
    if len(found) == 1:
        return found[0][0]
    return aligned[0] if len(aligned) == 1 else None
