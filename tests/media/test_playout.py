from __future__ import annotations

import numpy as np

from media.playout import Playout


def test_paced_frames_then_idle_and_marks_in_order() -> None:
    p = Playout(frame_samples=4)
    p.enqueue("u1", np.arange(10, dtype=np.int16))  # 2.5 frames: padded to 3
    p.mark("after-u1")
    frames, marks = [], []
    for _ in range(4):
        f, m = p.next_frame()
        frames.append(None if f is None else f.tolist())
        marks.append(m)
    assert frames == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 0], None]
    assert marks == [[], [], ["after-u1"], []]
    assert p.played("u1").played_ms == 60 and p.played("u1").done  # type: ignore[union-attr]


def test_clear_stops_at_once_and_reports_what_was_played() -> None:
    p = Playout(frame_samples=4)
    p.enqueue("greeting", np.ones(40, np.int16))  # 10 frames, 200 ms
    p.mark("greeting-done")
    for _ in range(3):
        p.next_frame()
    played, dropped = p.clear()
    assert [(x.utterance, x.played_ms, x.total_ms, x.done) for x in played] == [
        ("greeting", 60, 200, False)
    ]
    assert dropped == ["greeting-done"]
    assert p.next_frame() == (None, []) and not p.busy and p.queued_ms == 0


def test_utterance_across_chunks_accumulates() -> None:
    p = Playout(frame_samples=4)
    p.enqueue("a", np.ones(8, np.int16))
    p.enqueue("a", np.ones(8, np.int16))
    assert p.queued_ms == 80
    p.next_frame()
    p.next_frame()
    assert not p.played("a").done  # type: ignore[union-attr]
    played, _ = p.clear()
    assert played[0].played_ms == 40 and played[0].total_ms == 80
