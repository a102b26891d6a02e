from __future__ import annotations

import numpy as np
import pytest

from media.jitter import JitterBuffer, seq_diff


def frame(v: int) -> np.ndarray:
    return np.full(4, v, np.int16)


def drain(jb: JitterBuffer, n: int) -> list[int | None]:
    out = []
    for _ in range(n):
        f = jb.pop()
        out.append(None if f is None else int(f[0]))
    return out


def test_reorders_and_drops_duplicates() -> None:
    jb = JitterBuffer(4, target_frames=3)
    for s in (10, 12, 11, 11, 13):
        jb.push(s, frame(s * 100))
    assert drain(jb, 4) == [1000, 1100, 1200, 1300]
    assert jb.stats.duplicates == 1


def test_waits_for_the_target_depth_first() -> None:
    jb = JitterBuffer(4, target_frames=2)
    jb.push(1, frame(1000))
    assert jb.pop() is None
    jb.push(2, frame(2000))
    assert drain(jb, 2) == [1000, 2000]


def test_conceals_loss_by_fading_the_last_frame() -> None:
    jb = JitterBuffer(4, target_frames=1)
    jb.push(1, frame(1600))
    jb.push(6, frame(6000))
    assert drain(jb, 6) == [1600, 800, 400, 200, 0, 6000]
    assert jb.stats.concealed == 4


def test_late_packets_are_dropped() -> None:
    jb = JitterBuffer(4, target_frames=1)
    jb.push(5, frame(5))
    jb.pop()
    jb.push(4, frame(4))
    assert jb.stats.late == 1 and jb.depth == 0


def test_sequence_numbers_wrap() -> None:
    assert seq_diff(2, 65534) == 4 and seq_diff(65534, 2) == -4
    jb = JitterBuffer(4, target_frames=2)
    for s in (65534, 65535, 0, 1):
        jb.push(s, frame(s % 7))
    assert drain(jb, 4) == [65534 % 7, 65535 % 7, 0, 1]


def test_delay_is_bounded() -> None:
    jb = JitterBuffer(4, target_frames=2, max_frames=5)
    for s in range(20):  # a burst: twenty frames at once
        jb.push(s, frame(s))
    assert jb.depth <= 5 and jb.stats.skipped > 0
    first = drain(jb, 1)[0]
    assert first is not None and first >= 15


def test_rejects_wrong_frame_sizes() -> None:
    with pytest.raises(ValueError, match="expected 4"):
        JitterBuffer(4).push(1, np.zeros(5, np.int16))
