from __future__ import annotations

from bridge.conversation.digits import INTER_DIGIT_MS, TERMINATOR_GRACE, Digits
from media.format import FRAME_MS


def test_complete_at_max_digits_or_hash() -> None:
    d = Digits()
    assert [d.add(k, 4) for k in "123"] == [False, False, False]
    assert d.add("4", 4) and d.take(10) == "1234"
    assert not d.add("5", 4) and d.add("#", 4) and d.take(20) == "5#"
    assert d.add("0", 1) and d.take(30) == "0"  # a menu key


def test_a_hash_right_after_a_complete_answer_is_swallowed_once() -> None:
    d = Digits()
    for k in "1234":
        d.add(k, 4)
    d.take(100)
    assert d.swallowed("#", 100 + TERMINATOR_GRACE)
    assert not d.swallowed("#", 101)  # only the first
    d.add("1", 4)
    d.take(500)
    assert not d.swallowed("#", 501 + TERMINATOR_GRACE)  # too late: a key of its own


def test_keys_become_an_answer_after_the_inter_digit_wait() -> None:
    d = Digits()
    assert not d.timed_out()  # nothing keyed: no timer
    d.add("7", 4)
    waits = [d.timed_out() for _ in range(INTER_DIGIT_MS // FRAME_MS)]
    assert waits[-1] and not any(waits[:-1])
    assert d.take(0) == "7"
