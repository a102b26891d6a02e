"""Slot values of every type from the words a caller would say."""

from __future__ import annotations

from datetime import date

import pytest

from flows.nlu.slots import (
    parse_amount,
    parse_date,
    parse_digits,
    parse_enum,
    parse_number,
    parse_yes_no,
)

TODAY = date(2026, 11, 24)  # a Tuesday


@pytest.mark.parametrize(
    ("text", "length", "want"),
    [
        ("four one one one", 4, "4111"),
        ("forty one eleven", 4, "4111"),
        ("oh four oh one", 4, "0401"),
        ("double five two one", 4, "5521"),
        ("it's 1 2 3 4", 4, "1234"),
        ("4-1-1-1.", 4, "4111"),  # as Whisper writes them
        ("4, 1, 1, 1.", 4, "4111"),
        ("4111411141", 4, "4111"),  # Whisper looping on a short answer
        ("Double 562", 4, "5562"),  # "double five, five six two", as Whisper joins it
        ("Triple 3-1", 4, "3331"),
        ("8 treble 2", 4, "8222"),
        ("for 729.", 4, "4729"),  # "four" heard as "for" among digits
        ("The last four digits are 6 4 3 0.", 4, "6430"),  # a count is not a digit
        ("go to 4111", 4, "4111"),
        ("erm, it's to 519", 4, "2519"),  # "two" heard as "to", the digits one short
        ("Triple 7o", 4, "7770"),  # "oh" joined onto a digit
        ("um, the Mastercard one ends in five one nine two", 4, "5192"),  # "one": the card
        ("The debit 1 ends in 7730.", 4, "7730"),
        ("4111. 4111. 41", 4, "4111"),
        ("12345", 4, None),  # not a loop: too many
        ("one two three", 4, None),  # wrong length
        ("nine nine nine", None, "999"),
        ("no idea", None, None),
    ],
)
def test_digits(text: str, length: int | None, want: str | None) -> None:
    assert parse_digits(text, length) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("two thousand and five", 2005),
        ("about 3.5", 3.5),
        ("one hundred and twenty", 120),
        ("none", None),
    ],
)
def test_number(text: str, want: float | None) -> None:
    assert parse_number(text) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("£12.50", 12.5),
        ("twelve pounds fifty", 12.5),
        ("twelve pounds and fifty pence", 12.5),
        ("a hundred pounds", 100),
        ("pay 1,250 dollars", 1250),
        ("nothing", None),
    ],
)
def test_amount(text: str, want: float | None) -> None:
    assert parse_amount(text) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("yes please", True),
        ("yeah go ahead", True),
        ("that's right", True),
        ("no thanks", False),
        ("nope", False),
        ("that's not right", False),
        ("don't do that", False),
        ("maybe later", None),
    ],
)
def test_yes_no(text: str, want: bool | None) -> None:
    assert parse_yes_no(text) is want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("the fourth of July 1982", "1982-07-04"),
        ("12 March 1990", "1990-03-12"),
        ("second of march nineteen ninety", "1990-03-02"),
        ("next Tuesday", "2026-12-01"),
        ("can I come on friday", "2026-11-27"),
        ("tomorrow", "2026-11-25"),
        ("the 3rd", "2026-12-03"),
        ("the 30th", "2026-11-30"),
        ("I don't know", None),
    ],
)
def test_date(text: str, want: str | None) -> None:
    assert parse_date(text, TODAY) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("after lunch if possible", "afternoon"),
        ("first thing", "morning"),
        ("10:30 a.m.", "morning"),
        ("half two", "afternoon"),  # a clinic's afternoon, not the night
        ("at 3 o'clock", "afternoon"),
        ("Sometime after two would be ideal.", "afternoon"),  # a bare hour after a cue
        ("around 10 please", "morning"),
        ("I can do 2", None),  # a bare number is no time
        ("Mornings are better for me, I start work at one.", "morning"),  # named wins
    ],
)
def test_a_part_of_the_day_from_a_time(text: str, want: str | None) -> None:
    assert parse_enum(text, ["morning", "afternoon"]) == want


def test_enum() -> None:
    values = ["morning", "afternoon"]
    assert parse_enum("in the morning please", values) == "morning"
    assert parse_enum("afternoon would be better", values) == "afternoon"
    assert parse_enum("evening", values) is None
    assert parse_enum("Warnings are best.", values) == "morning"  # Whisper's "mornings"


def test_a_part_of_the_day_ruled_out_leaves_the_other() -> None:
    values = ["morning", "afternoon"]
    assert parse_enum("not the morning, I'm on the school run", values) == "afternoon"
    assert parse_enum("I can't do afternoons", values) == "morning"
    assert parse_enum("afternoon, not the morning", values) == "afternoon"
    assert parse_enum("No, afternoon please.", values) == "afternoon"  # another clause
    assert parse_enum("not the evening", ["morning", "afternoon", "evening"]) is None
