"""How long each caller turn waited for the bot's first audio, and where the time went.

The caller's side says when a turn ended and how long recognition took; the bot's
side says when the reply's first chunk was made and when its first frame played,
which reports the turn (once) as a :class:`~bridge.events.schema.TurnLatency` event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bridge.conversation.context import CallContext
from bridge.events.schema import TurnLatency


@dataclass
class _Turn:
    n: int
    speech_end_ms: int  # on the call clock
    endpoint_wait_ms: int
    asr_final_ms: float = 0.0
    tts_first_ms: float | None = None
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
        self._turn = _Turn(self._turns, speech_end_clock, wait)

    def recognised(self, decode_ms: float) -> None:
        if self._turn is not None:
            self._turn.asr_final_ms = decode_ms

    def synthesised(self, synth_ms: float) -> None:
        """A chunk of a prompt was made: the turn's first one is its TTS time."""
        turn = self._turn
        if turn is not None and turn.tts_first_ms is None:
            turn.tts_first_ms = synth_ms

    def asked(self) -> None:
        """The caller's turn (or a tool's answer) went to a model that answers in speech."""
        self._asked_at = time.perf_counter()

    def model_spoke(self) -> None:
        """A model's reply began: it hears, decides and speaks in one go, all its time."""
        turn = self._turn
        if turn is not None and turn.tts_first_ms is None and self._asked_at is not None:
            turn.tts_first_ms = (time.perf_counter() - self._asked_at) * 1000

    def bot_audio(self) -> None:
        """A frame of the bot's audio played: the first after a turn reports it."""
        turn = self._turn
        if turn is not None and not turn.reported:
            self._report(turn)

    def _report(self, turn: _Turn) -> None:
        turn.reported = True
        gap = self.ctx.now_ms() - turn.speech_end_ms
        tts = turn.tts_first_ms or 0.0
        # In real time the gap holds the compute; on a virtual clock compute takes no
        # audio time, so what is left after the endpointer's wait is the bridge's own.
        compute = turn.asr_final_ms + tts if self.ctx.realtime else 0.0
        figures = {
            "turn_gap_ms": float(gap),
            "endpoint_wait_ms": float(turn.endpoint_wait_ms),
            "asr_final_ms": round(turn.asr_final_ms, 2),
            "tts_first_chunk_ms": round(tts, 2),
            "bridge_overhead_ms": round(gap - turn.endpoint_wait_ms - compute, 2),
        }
        self.figures.append(figures)
        self.ctx.emit(TurnLatency, turn=turn.n, figures_ms=figures)
