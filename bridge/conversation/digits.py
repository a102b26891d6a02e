"""The caller's keys within one turn, and when they make an answer.

An answer is complete at the state's ``max_digits``, at "#", or after
:data:`INTER_DIGIT_MS` with no further key. A caller who keys the last expected
digit and then "#" out of habit means one answer: a terminator that soon after
an answer completed by length is swallowed, not taken as a new entry.
"""

from __future__ import annotations

from media.format import FRAME_MS

INTER_DIGIT_MS = 3000
TERMINATOR_GRACE = 50  # frames: a "#" this soon after the last expected digit ends that entry


class Digits:
    def __init__(self) -> None:
        self.pending = ""
        self._age = 0  # frames since the last key
        self._submitted_at = -1_000_000  # frame of the last answer completed by length

    def swallowed(self, key: str, frame: int) -> bool:
        """``key`` only terminates the answer just given: drop it."""
        if key in "#*" and frame - self._submitted_at <= TERMINATOR_GRACE:
            self._submitted_at = -TERMINATOR_GRACE
            return True
        return False

    def add(self, key: str, max_digits: int) -> bool:
        """One key; True when the answer is complete."""
        self.pending += key
        self._age = 0
        return max_digits <= 1 or len(self.pending.rstrip("#*")) >= max_digits or key == "#"

    def take(self, frame: int) -> str:
        """The answer so far, and forget it."""
        digits, self.pending = self.pending, ""
        if not digits.endswith(("#", "*")):
            self._submitted_at = frame  # a terminator may still follow
        return digits

    def clear(self) -> None:
        """A new turn: keys of the last one are forgotten."""
        self.pending = ""

    def timed_out(self) -> bool:
        """One frame went by: True when the keys so far are an answer by waiting."""
        if not self.pending:
            return False
        self._age += 1
        return self._age * FRAME_MS >= INTER_DIGIT_MS
