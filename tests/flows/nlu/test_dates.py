"""Dates in the forms UK and US callers say them, and as Whisper writes them."""

from __future__ import annotations

from datetime import date

import pytest

from flows.nlu.slots import parse_date

TODAY = date(2026, 11, 24)  # a Tuesday


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("um, second of February, eighty-seven", "1987-02-02"),  # a two-digit year
        ("it's the 21st of the 6th, 93", "1993-06-21"),
        ("seventh of May, forty-nine", "1949-05-07"),
        ("4th of July, 1982.", "1982-07-04"),
        ("Thursday the 3rd", "2026-12-03"),  # this month's 3rd is past
        ("Monday the 7th", "2026-12-07"),
        ("Could we do the 30th?", "2026-11-30"),
        ("the 22nd of December, before Christmas", "2026-12-22"),
        ("a week on Friday", "2026-12-04"),
        ("Monday week, please", "2026-12-07"),
        ("a week tomorrow", "2026-12-02"),
        ("the day after tomorrow", "2026-11-26"),
        ("Could I get an appointment first thing on Monday?", "2026-11-30"),
        ("sometime after two on Thursday", "2026-11-26"),
        ("120578.", "1978-05-12"),  # as Whisper writes "twelve oh five seventy-eight"
        ("0110 65.", "1965-10-01"),
        ("6th of the 6th 96th.", "1996-06-06"),
        ("Um, can we do Tuesday the ACE?", "2026-12-08"),  # "the eighth" over the line
        ("Could I book in four? Friday afternoon.", "2026-11-27"),
        ("Tuesday", "2026-12-01"),  # today is "today": a weekday named is the next one
        ("Wednesday 2nd.", "2026-12-02"),
        ("It's 12/11/89", "1989-11-12"),  # slashes inside a sentence; a year gone by
        ("born on 3-4-1977 I think", "1977-04-03"),
        ("a week today", "2026-12-01"),
        ("Thursday of next week", "2026-12-03"),  # the coming Monday-to-Sunday week
        ("next week, Monday", "2026-11-30"),
        ("070 3 1984", "1984-03-07"),  # day, month and year said as numbers, split anywhere
        ("It's a 14-0288.", "1988-02-14"),
        ("It's 21-365.", "1965-03-21"),  # one way to read it that splits where it was split
        ("to 754.", "1954-07-02"),  # "two seven fifty-four": "two" heard as "to"
        ("1 2 3 4 5 6", None),  # no date in it
    ],
)
def test_uk_forms(text: str, want: str | None) -> None:
    assert parse_date(text, TODAY) == want


def test_the_order_of_numbers_follows_the_locale() -> None:
    assert parse_date("3/4/2027", TODAY) == "2027-04-03"
    assert parse_date("3/4/2027", TODAY, day_first=False) == "2027-03-04"
    assert parse_date("July 4th, 1982", TODAY, day_first=False) == "1982-07-04"


def test_a_month_and_a_year_without_a_day_are_no_date() -> None:
    """ "the fifth of May 2001" misheard as "SIST may 2001": asked again, never the
    call's own day of the month put in."""
    assert parse_date("SIST may 2001.", TODAY) is None
