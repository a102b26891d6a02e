"""How long each caller turn waited for the bot's first audio, and where the time went.

The caller's side says when a turn ended and how long recognition took; the bot's
side says when the reply's first chunk was made and when its first audible frame
played (what a caller hears as the reply starting; a voice's lead-in silence is not
it), which reports the turn (once) as a :class:`~bridge.events.schema.TurnLatency`
event. Recognition and synthesis are counted only for the time they took after the
turn ended (a streaming recogniser works through the endpointer's wait), so the
bridge's own overhead, what is left of the gap, is never negative.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from bridge.conversation.context import CallContext
from bridge.events.schema import TurnLatency
from media.format import I16

AUDIBLE = round(32768 * 10 ** (-45 / 20))  # -45 dBFS, as a caller's ear and the wire bench


@dataclass
class _Turn:
    n: int
    speech_end_ms: int  # on the call clock
    endpoint_wait_ms: int
    ended_at: float  # perf_counter when the endpointer ended it
    asr_final_ms: float = 0.0
    asr_after_ms: float = 0.0  # of it, after the turn ended
    recognised_at: float | None = None
    tts_first_ms: float | None = None
    tts_after_ms: float = 0.0  # of it, after recognition
    reported: bool = False


class Latency:
    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        self.figures: list[dict[str, float]] = []  # per turn, for benchmarks
        self._turns = 0
        self._turn: _Turn | None = None
        self._asked_at: float | None = None  # the caller's turn was handed to a model

    def turn_ended(self, end_ms: int) -> None:
        """The endpointer ended a caller turn whose speech stopped at ``end_ms`` (audio)."""
        ctx = self.ctx
        wait = ctx.audio_ms - end_ms
        self._turns += 1
        speech_end_clock = ctx.now_ms() - wait if ctx.realtime else end_ms
        self._turn = _Turn(self._turns, speech_end_clock, wait, time.perf_counter())

    def recognised(self, decode_ms: float) -> None:
        turn = self._turn
        if turn is not None:
            turn.recognised_at = now = time.perf_counter()
            turn.asr_final_ms = decode_ms
            turn.asr_after_ms = min(decode_ms, (now - turn.ended_at) * 1000)

    def synthesised(self, synth_ms: float) -> None:
        """A chunk of a prompt was made: the turn's first one is its TTS time."""
        turn = self._turn
        if turn is not None and turn.tts_first_ms is None:
            turn.tts_first_ms = synth_ms
            since = turn.recognised_at or turn.ended_at
            turn.tts_after_ms = min(synth_ms, (time.perf_counter() - since) * 1000)

    def asked(self) -> None:
        """The caller's turn (or a tool's answer) went to a model that answers in speech."""
        self._asked_at = time.perf_counter()

    def model_spoke(self) -> None:
        """A model's reply began: it hears, decides and speaks in one go, all its time."""
        turn = self._turn
        if turn is not None and turn.tts_first_ms is None and self._asked_at is not None:
            now = time.perf_counter()
            turn.tts_first_ms = (now - self._asked_at) * 1000
            since = max(self._asked_at, turn.recognised_at or turn.ended_at)
            turn.tts_after_ms = (now - since) * 1000

    def bot_audio(self, frame: I16) -> None:
        """A frame of the bot's audio played: the first audible one after a turn reports it."""
        turn = self._turn
        if turn is not None and not turn.reported and _peak(frame) >= AUDIBLE:
            self._report(turn)

    def _report(self, turn: _Turn) -> None:
        turn.reported = True
        gap = self.ctx.now_ms() - turn.speech_end_ms
        tts = turn.tts_first_ms or 0.0
        # In real time the gap holds the compute; on a virtual clock compute takes no
        # audio time, so what is left after the endpointer's wait is the bridge's own.
        compute = turn.asr_after_ms + turn.tts_after_ms if self.ctx.realtime else 0.0
        figures = {
            "turn_gap_ms": float(gap),
            "endpoint_wait_ms": float(turn.endpoint_wait_ms),
            "asr_final_ms": round(turn.asr_final_ms, 2),
            "tts_first_chunk_ms": round(tts, 2),
            # never below 0 but for the two clocks' rounding
            "bridge_overhead_ms": round(max(0.0, gap - turn.endpoint_wait_ms - compute), 2),
        }
        self.figures.append(figures)
        self.ctx.emit(TurnLatency, turn=turn.n, figures_ms=figures)


def _peak(frame: I16) -> int:
    return int(np.abs(frame.astype(np.int32)).max(initial=0))
