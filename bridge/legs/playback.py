"""Where the carrier's playback of our audio is, from its mark echoes.

Twilio (and Vonage) play the bot's audio from their own buffer. Sending a few
frames ahead keeps that buffer from running dry when our process is briefly busy;
the price is that "handed to the carrier" is no longer "heard by the caller". A
mark sent after a frame is echoed when playback reaches it, so the echoes, plus
the caller's own stream as the clock in between, say how much was heard; on a
barge-in :meth:`PlaybackTracker.clear` answers the carrier's part of the question,
the milliseconds sent but never heard, and ``bridge.conversation.heard`` takes them
off the bot's words. After a `clear` the carrier echoes every pending mark although
nothing more was played, so marks carry a generation and echoes of an older one are
ignored.

Pure bookkeeping, no I/O: the leg asks :meth:`room` how many frames to send on
each caller frame, tells :meth:`sent` about each message, and sends the mark it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from media.format import FRAME_MS

LEAD_FRAMES = 4  # up to 80 ms ahead: rides out a busy event loop; `clear` empties it at once
MARK_EVERY = 25  # frames between marks (500 ms); between echoes the caller's clock fills in
# Frames per message once playing: Twilio takes any multiple of 160 bytes, and every
# message costs a JSON envelope and a socket write, the largest share of a call's CPU.
BATCH = 2


class PlaybackTracker:
    def __init__(self, lead_frames: int = LEAD_FRAMES, mark_every: int = MARK_EVERY) -> None:
        self.lead, self.mark_every = lead_frames, mark_every
        self.generation = 0
        self.sent_frames = 0  # this generation
        self._echoed = 0  # frames known played at the last echo (or start)
        self._echo_clock = 0  # caller frames seen at that moment
        self._clock = 0  # caller frames seen

    def tick(self) -> None:
        """20 ms of the caller's stream went by."""
        self._clock += 1

    @property
    def played_frames(self) -> int:
        """Frames the caller has heard: the last echo, advanced by the time since."""
        return min(self.sent_frames, self._echoed + self._clock - self._echo_clock)

    @property
    def queued_frames(self) -> int:
        return self.sent_frames - self.played_frames

    def room(self, batch: int = 1) -> int:
        """Frames to send now to keep the carrier ``lead`` frames ahead; while it still
        has audio queued, none until ``batch`` of them fit in one message."""
        room = max(0, self.lead - self.queued_frames)
        return room if room >= batch or self.queued_frames == 0 else 0

    def sent(self, frames: int = 1) -> str | None:
        """``frames`` went out in one message; returns the name of a mark to send after
        it if one fell due (named by the frames sent up to the message's end)."""
        if self.queued_frames == 0:  # playback had caught up: it restarts from here
            self._echoed, self._echo_clock = self.sent_frames, self._clock
        before, self.sent_frames = self.sent_frames, self.sent_frames + frames
        if self.sent_frames // self.mark_every > before // self.mark_every:
            return f"g{self.generation}.{self.sent_frames}"
        return None

    def echoed(self, name: str) -> None:
        """The carrier echoed a mark; unknown names and older generations are ignored."""
        gen, _, frames = name[1:].partition(".")
        if not name.startswith("g") or gen != str(self.generation) or not frames.isdigit():
            return
        # Playback is at that mark now: the estimate runs from the truth again (it ran
        # ahead by the network's delay, or behind when the carrier played faster).
        self._echoed, self._echo_clock = min(int(frames), self.sent_frames), self._clock

    def clear(self) -> int:
        """The carrier's buffer is being cleared: returns the milliseconds sent but never
        heard, and starts a new generation."""
        unheard = self.queued_frames * FRAME_MS
        self.generation += 1
        self.sent_frames = self._echoed = 0
        self._echo_clock = self._clock
        return unheard


async def start_when_ready(ready: asyncio.Event, send: Callable[[], Awaitable[None]]) -> None:
    """Call ``send`` whenever the bot's audio is ready with nothing playing.

    A carrier leg otherwise sends bot audio as each caller frame arrives, so a reply
    would wait up to a frame (10 ms on average) for the next one. Runs until cancelled.
    """
    while True:
        await ready.wait()
        ready.clear()
        await send()
