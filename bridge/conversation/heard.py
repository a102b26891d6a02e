"""How much of the bot's speech reached the caller: the one place that answers it.

Three things each know a part. The playout (:mod:`media.playout`) counts the
milliseconds of each utterance it handed to the line. A carrier leg that plays from
its own buffer (:mod:`bridge.legs.playback`) knows, when a barge-in clears that
buffer, how many of those milliseconds the caller never heard. And the order in which
utterances began playing says whose audio that unheard tail was: the newest.
:class:`Earshot` is told of every frame sent and does the sums at a cut; the
transcript, the model (told where to truncate its reply) and a caller's pause
judged against the reply all ask it.
"""

from __future__ import annotations

from collections.abc import Callable

from media.playout import Played, Playout


class Earshot:
    def __init__(self, playout: Playout) -> None:
        self.playout = playout
        self.frames = 0  # bot frames sent down the line this call
        self._began: dict[str, int] = {}  # utterance → the frame its first one was sent at

    def sent(self) -> None:
        """One more frame of bot audio went down the line."""
        self.frames += 1

    def began(self, utterance: str) -> None:
        """The frame just sent was the first of ``utterance``."""
        self._began[utterance] = self.frames

    def cut(self, carrier_clear: Callable[[], int]) -> list[Played]:
        """Barge-in: empty the playout, then the carrier's buffer (``carrier_clear``
        returns the milliseconds it still held), and say how much of each interrupted
        utterance the caller heard. The unheard milliseconds are the newest audio sent:
        taken off the utterances that began last."""
        played, _ = self.playout.clear()
        unheard = carrier_clear() or 0
        for p in sorted(played, key=lambda p: self._began.get(p.utterance, -1), reverse=True):
            taken = min(unheard, p.played_ms)
            p.played_ms, unheard = p.played_ms - taken, unheard - taken
        self._began.clear()
        return played

    def drop(self) -> None:
        """Empty the playout with nobody to tell (the bot falls silent for good)."""
        self.playout.clear()
        self._began.clear()


def words_heard(text: str, heard_ms: int, total_ms: int) -> str:
    """The words of ``text`` heard in ``heard_ms`` of its ``total_ms`` (evenly paced speech)."""
    words = text.split()
    if total_ms <= 0 or heard_ms >= total_ms:
        return text
    return " ".join(words[: round(len(words) * heard_ms / total_ms)])
