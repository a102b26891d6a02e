"""The words of a call both ways, as the model's transcription and replies report them.

A session rebuilt after a reconnect is told the call so far (:meth:`Transcript.recap`).
The caller's turn replayed after a reconnect is transcribed a second time: that
echo is not the caller speaking again.
"""

from __future__ import annotations

import asyncio

RECAP_LINES = 40  # the last lines of the call a rebuilt session is told


class Transcript:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []  # (speaker, words)
        self.partial = ""  # the caller's words so far in this turn
        self._heard_turn = False  # the caller's current turn has been transcribed
        self._replayed = False  # ... and was sent again after a reconnect: not twice
        self._finals: asyncio.Queue[str] = asyncio.Queue()

    def new_turn(self) -> None:
        self.partial = ""
        self._heard_turn = False

    def replaying(self) -> None:
        """The turn's audio goes to the model again (after a reconnect)."""
        self._replayed = self._heard_turn

    def add(self, speaker: str, words: str) -> None:
        self.lines.append((speaker, words))

    def grow(self, delta: str) -> str:
        """More of the caller's words; all of them so far."""
        self.partial += delta
        return self.partial

    def caller_said(self, text: str) -> bool:
        """The caller's turn, transcribed; False when it is a replay's echo."""
        self.partial = ""
        if self._replayed:
            self._replayed = False
            return False
        self._heard_turn = True
        self._finals.put_nowait(text)
        if text:
            self.add("caller", text)
        return True

    def forget_finals(self) -> None:
        while not self._finals.empty():
            self._finals.get_nowait()

    async def next_final(self, timeout_s: float) -> str:
        """The next transcribed turn of the caller's, or "" if none comes in time."""
        try:
            return await asyncio.wait_for(self._finals.get(), timeout_s)
        except TimeoutError:
            return ""

    def last_caller(self) -> str:
        for who, words in reversed(self.lines):
            if who == "caller":
                return words
        return ""

    def recap(self) -> str:
        return "\n".join(f"{who}: {words}" for who, words in self.lines[-RECAP_LINES:])
