from __future__ import annotations

from bridge.legs.playback import PlaybackTracker


def send(t: PlaybackTracker, n: int) -> list[str]:
    marks = []
    for _ in range(n):
        mark = t.sent()
        if mark:
            marks.append(mark)
    return marks


def test_stays_lead_frames_ahead_of_the_callers_clock() -> None:
    t = PlaybackTracker(lead_frames=3, mark_every=10)
    assert t.room() == 3
    send(t, 3)
    assert t.room() == 0 and t.queued_frames == 3
    t.tick()
    assert t.played_frames == 1 and t.room() == 1


def test_marks_are_named_by_generation_and_frame_count() -> None:
    t = PlaybackTracker(lead_frames=3, mark_every=4)
    assert send(t, 9) == ["g0.4", "g0.8"]


def test_once_playing_frames_go_in_pairs_and_marks_name_the_message_end() -> None:
    t = PlaybackTracker(lead_frames=4, mark_every=5)
    assert t.room(2) == 4  # nothing queued: fill the lead at once
    assert t.sent(4) is None
    t.tick()
    assert t.room(2) == 0  # one frame fits, but the carrier still has three
    t.tick()
    assert t.room(2) == 2
    assert t.sent(2) == "g0.6"  # frame 5 was in this message: the mark follows its end
    t.echoed("g0.6")
    assert t.played_frames == 6 and t.queued_frames == 0


def test_an_echo_corrects_an_estimate_that_ran_ahead() -> None:
    t = PlaybackTracker(lead_frames=3, mark_every=4)
    send(t, 8)
    for _ in range(6):
        t.tick()
    assert t.played_frames == 6  # by the clock alone
    t.echoed("g0.4")  # the carrier started late: it has only just reached frame 4
    assert t.played_frames == 4 and t.queued_frames == 4
    t.tick()
    assert t.played_frames == 5


def test_clear_reports_what_was_sent_but_not_heard_and_ignores_flushed_echoes() -> None:
    t = PlaybackTracker(lead_frames=3, mark_every=2)
    send(t, 6)
    t.tick()
    t.tick()
    assert t.clear() == 4 * 20
    t.echoed("g0.4")  # echoed by the flush, never played: an older generation
    t.echoed("nonsense")
    t.echoed("g1.x")
    assert t.sent_frames == 0 and t.queued_frames == 0 and t.room() == 3
    assert send(t, 2) == ["g1.2"]


def test_after_the_carrier_ran_dry_playback_restarts_with_the_next_frame() -> None:
    t = PlaybackTracker(lead_frames=2, mark_every=100)
    send(t, 2)
    for _ in range(50):  # a long silence: everything played long ago
        t.tick()
    assert t.queued_frames == 0
    send(t, 2)
    assert t.queued_frames == 2  # not swallowed by the silence before
    t.tick()
    assert t.queued_frames == 1
