"""How much of the bot's speech the caller heard: the playout's count, net of the carrier's."""

from __future__ import annotations

import numpy as np

from bridge.conversation.heard import Earshot, words_heard
from media.format import HOUSE_FRAME
from media.playout import Playout


def send(heard: Earshot, frames: int, started: set[str]) -> None:
    """What the speaker does as the leg takes frames: each one counted, each first one told."""
    for _ in range(frames):
        playing = heard.playout.playing
        frame, _ = heard.playout.next_frame()
        assert frame is not None and playing is not None
        heard.sent()
        if playing not in started:
            started.add(playing)
            heard.began(playing)


def test_the_carriers_unheard_audio_comes_off_the_newest_utterance_first() -> None:
    heard = Earshot(Playout(HOUSE_FRAME))
    heard.playout.enqueue("older", np.ones(10 * HOUSE_FRAME, np.int16))  # 200 ms
    heard.playout.enqueue("newer", np.ones(10 * HOUSE_FRAME, np.int16))
    heard.playout.enqueue("older", np.ones(5 * HOUSE_FRAME, np.int16))  # its second chunk
    send(heard, 13, set())  # all of "older"'s first chunk, 3 frames of "newer"
    cut = heard.cut(lambda: 100)  # the carrier still held 5 frames
    assert {p.utterance: (p.played_ms, p.total_ms) for p in cut} == {
        "newer": (0, 200),  # its 60 ms were all in the carrier's buffer ...
        "older": (160, 300),  # ... and the other 40 ms were the end of "older"'s
    }
    assert heard.frames == 13 and not heard.playout.busy


def test_the_words_heard_are_the_share_of_the_time_heard() -> None:
    assert words_heard("one two three four", 200, 400) == "one two"
    assert words_heard("one two three four", 500, 400) == "one two three four"
    assert words_heard("one two", 0, 0) == "one two"
