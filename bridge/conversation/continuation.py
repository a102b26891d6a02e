"""A caller who speaks again before the reply to their last words reached them was not
done: "Somebody's taken my purse | and my card was in it", "Can you tell me how much |
is on my account". Their turn ended at a pause (a whole-sounding sentence, a falling
voice), but nothing has been said back yet, so nothing needs undoing in their ears:
the flow steps back to where it stood before that turn and the two parts are
understood as one.

This module keeps what a step back needs; the runtime decides when (the caller's
speech starts, the reply has not been heard) and carries it out.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from flows import interpreter as fi
from media.format import FRAME_MS

# How soon after their turn ended a caller's next words may still be its rest: a
# 500 ms pause mid-sentence that outlasted the 550 ms hangover comes back well within it.
WITHIN_MS = 1500
# How much of the reply may have played and still count as unheard: synthesised speech
# starts with ~250 ms of near silence and a fade-in (hibari-tts).
UNHEARD_MS = 300


@dataclass(frozen=True)
class Taken:
    """A caller turn the flow acted on, and the flow as it stood before."""

    snapshot: fi.Snapshot
    path_len: int  # of the call's path of states
    listen: fi.Listen
    text: str  # all the caller's words in the turn (with any it continued)
    ended_at_ms: int  # on the call clock
    bot_frames: int  # of bot audio sent down the line by then (heard.Earshot.frames)

    @classmethod
    def of(
        cls,
        before: fi.Snapshot,
        path_len: int,
        listen: fi.Listen,
        text: str,
        now_ms: int,
        bot_frames: int,
    ) -> Taken:
        """``before``, the live snapshot, is copied: the flow is about to move on."""
        return cls(copy.deepcopy(before), path_len, listen, text, now_ms, bot_frames)


class Continuation:
    def __init__(self) -> None:
        self.taken: Taken | None = None  # the last turn acted on, while it may go on
        self.before = ""  # the words the next turn continues, once stepped back

    def forget(self) -> None:
        """The turn is settled: the flow moved on by other means, or the caller spoke
        to the reply."""
        self.taken = None

    def resumable(self, now_ms: int, bot_frames: int, since_ms: int) -> Taken | None:
        """The turn the caller is going on with, if it is recent and its reply unheard
        when they started again, ``since_ms`` ago (the VAD is sure of speech only
        after its onset)."""
        taken = self.taken
        if taken is None or now_ms - since_ms - taken.ended_at_ms > WITHIN_MS:
            return None
        if (bot_frames - taken.bot_frames) * FRAME_MS - since_ms > UNHEARD_MS:
            return None
        return taken

    def step_back(self, taken: Taken) -> fi.Snapshot:
        """The flow as it stood before ``taken``; the next turn is heard after its words."""
        self.taken = None
        self.before = taken.text
        return copy.deepcopy(taken.snapshot)

    def joined(self, text: str) -> tuple[str, bool]:
        """All the caller's words so far (the turn stepped back from, then these), and
        whether they continue one."""
        before, self.before = self.before, ""
        return f"{before} {text}".strip(), bool(before)
