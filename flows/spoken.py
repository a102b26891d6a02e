"""Values as a prompt speaks them, in the flow's locale.

A date slot holds an ISO date ("2026-12-01"), which a voice would read as digits or in
whatever order its own text normaliser prefers ("December first, twenty twenty-six"
on a UK clinic's line). A read-back says it the way callers there say dates:
"Tuesday the first of December" (en-GB) or "Tuesday, December first" (en-US), with the
weekday when the date is near and the year when it is not this year.
"""

from __future__ import annotations

from datetime import date

LOCALES = ("en-GB", "en-US")
NEAR_DAYS = 14  # a date this close is named with its weekday, as people do
_ORDINALS = (
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
    "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth",
    "seventeenth", "eighteenth", "nineteenth", "twentieth",
)  # fmt: skip


def ordinal(n: int) -> str:
    if n <= 20:
        return _ORDINALS[n - 1]
    tens = {2: "twenty", 3: "thirty"}[n // 10]
    return tens if n % 10 == 0 else f"{tens}-{_ORDINALS[n % 10 - 1]}"


def spoken_date(iso: str, locale: str, today: date) -> str:
    """``iso`` in words for ``locale``; anything that is not an ISO date unchanged."""
    try:
        d = date.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso
    weekday = d.strftime("%A") if abs((d - today).days) <= NEAR_DAYS else ""
    month = d.strftime("%B")
    if locale == "en-US":
        text = f"{month} {ordinal(d.day)}"
        text = f"{weekday}, {text}" if weekday else text
        return text if d.year == today.year else f"{text}, {d.year}"
    text = f"the {ordinal(d.day)} of {month}"
    text = f"{weekday} {text}" if weekday else text
    return text if d.year == today.year else f"{text} {d.year}"
