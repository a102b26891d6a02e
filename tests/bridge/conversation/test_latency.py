"""Turn latency as a caller meets it: to the first audible frame, overhead never below 0."""

from __future__ import annotations

import time
from typing import Any, cast

import numpy as np

from bridge.conversation.context import CallContext
from bridge.conversation.latency import AUDIBLE, Latency


class Clock:
    """The parts of a call's context latency reads: a real-time call clock and its events."""

    realtime = True

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.audio_ms = 0
        self.events: list[dict[str, Any]] = []

    def now_ms(self) -> int:
        return int((time.monotonic() - self.t0) * 1000)

    def emit(self, cls: type, **fields: Any) -> None:
        self.events.append(fields)


def frame(level: int) -> np.ndarray:
    return np.full(320, level, np.int16)


def test_the_gap_ends_at_the_first_audible_frame_not_at_a_silent_one() -> None:
    ctx = Clock()
    latency = Latency(cast(CallContext, ctx))
    ctx.audio_ms = 1000
    latency.turn_ended(end_ms=450)  # 550 ms of the endpointer's wait
    latency.bot_audio(frame(0))  # the voice's lead-in: the caller hears nothing yet
    latency.bot_audio(frame(AUDIBLE - 1))
    assert ctx.events == []
    time.sleep(0.05)
    latency.bot_audio(frame(AUDIBLE))
    [reported] = ctx.events
    assert reported["figures_ms"]["turn_gap_ms"] >= 600
    latency.bot_audio(frame(5000))
    assert len(ctx.events) == 1  # once a turn


def test_recognition_during_the_endpointers_wait_is_not_counted_twice() -> None:
    """A streaming recogniser works through the wait: its 900 ms of decoding mostly
    overlap the 550 ms the endpointer waited, and the overhead left is not negative."""
    ctx = Clock()
    latency = Latency(cast(CallContext, ctx))
    ctx.audio_ms = 1000
    latency.turn_ended(end_ms=450)
    time.sleep(0.02)
    latency.recognised(decode_ms=900.0)
    time.sleep(0.02)
    latency.synthesised(synth_ms=400.0)
    time.sleep(0.1)  # the reply waits 100 ms for playout: the bridge's own time
    latency.bot_audio(frame(5000))
    figures = ctx.events[0]["figures_ms"]
    assert figures["asr_final_ms"] == 900.0 and figures["tts_first_chunk_ms"] == 400.0
    assert 80 <= figures["bridge_overhead_ms"] < 200, figures
