"""A virtual phone: plays a caller's lines into a call and records what the bot says.

For tests, demos and benchmarks. The caller speaks each line when the bot has
finished talking and waits for an answer (or, for a barge-in, a set time after
the bot starts), keys DTMF, stays silent, or hangs up. Audio goes through a
phone line (8 kHz mu-law both ways) like a real call. On a virtual clock the
call runs as fast as the CPU allows, and every 20 ms tick waits for the bridge's
work to finish, so results do not depend on machine speed; in real time it is
paced like a phone and the bridge's latencies are real.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from bridge.conversation.lookups import LookupFn
from bridge.conversation.runtime import CallRuntime
from bridge.engines.base import I16, SpeechEngine
from bridge.events.schema import Envelope
from bridge.store.wav_files import StereoRecorder
from flows.interpreter import Transfer
from flows.model import Flow
from media.endpoint import EndpointConfig
from media.format import FRAME_MS, HOUSE_FRAME, HOUSE_RATE
from media.line import phone_line

__all__ = ["HangUp", "Keys", "Silence", "Speak", "Step", "VirtualLeg", "phone_line", "run_call"]

GAP_MS = 400  # a caller's pause after the bot stops, before answering


@dataclass
class Speak:
    audio: I16  # house format
    text: str = ""
    barge_in_after_ms: int | None = None  # speak this long after the bot starts talking


@dataclass
class Keys:
    digits: str


@dataclass
class Silence:
    ms: int


@dataclass
class HangUp:
    pass


Step = Speak | Keys | Silence | HangUp


@dataclass
class VirtualLeg:
    script: list[Step]
    realtime: bool = False
    transfer_ok: bool = True
    max_ms: int = 180_000
    record: Path | None = None
    hang_up_when_done: bool = True
    noise_dbfs: float | None = None  # white noise on the caller's line, e.g. -30
    caller_audio: list[I16] = field(default_factory=list)
    bot_audio: list[I16] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    hung_up_by_bridge: bool = False
    cleared: int = 0

    # -- LegControl -------------------------------------------------------------------

    def clear(self) -> int:
        self.cleared += 1
        return 0  # the virtual phone plays each frame as it is handed over

    async def transfer(self, target: Transfer) -> bool:
        self.transfers.append(target)
        return self.transfer_ok

    async def hangup(self) -> None:
        self.hung_up_by_bridge = True

    # -- the call ---------------------------------------------------------------------

    async def run(self, runtime: CallRuntime) -> None:
        recorder = StereoRecorder(self.record) if self.record else None
        caller = _Caller(list(self.script), self.noise_dbfs)
        started = time.monotonic()
        try:
            for tick in range(self.max_ms // FRAME_MS):
                if runtime.ended.is_set():
                    break
                started = await _next_tick(runtime, self.realtime, tick, started)
                frame = caller.frame(runtime)
                if frame is None:  # the script hangs up
                    runtime.caller_hung_up()
                    break
                runtime.caller_frame(frame)
                bot = runtime.bot_frame()
                self.caller_audio.append(frame)
                self.bot_audio.append(bot if bot is not None else caller.silence)
                if recorder is not None:
                    recorder.write(frame, bot)
                if self.hang_up_when_done and caller.done(runtime):
                    runtime.caller_hung_up()
                    break
            else:
                runtime.caller_hung_up()
        finally:
            if recorder is not None:
                recorder.close()

    @property
    def bot_pcm(self) -> I16:
        return np.concatenate(self.bot_audio) if self.bot_audio else np.zeros(0, np.int16)


def _caller_may_speak(runtime: CallRuntime) -> bool:
    """The bot waits for the caller, or (after a transfer) nobody is speaking."""
    return runtime.awaiting_caller or (runtime.bridged and not runtime.in_speech)


class _Caller:
    """The scripted caller, one 20 ms frame at a time."""

    def __init__(self, steps: list[Step], noise_dbfs: float | None) -> None:
        self.steps = steps
        self.silence = np.zeros(HOUSE_FRAME, np.int16)
        self.playing: I16 | None = None
        self.pos = 0
        self.waited = 0  # frames the current step has waited for its moment
        self.bot_since = 0  # frames the bot has been talking
        self.done_for = 0  # frames the bot has waited since the script ran out
        self.noise = np.random.default_rng(7) if noise_dbfs is not None else None
        self.noise_rms = 32768 * 10 ** ((noise_dbfs or 0) / 20)

    def frame(self, runtime: CallRuntime) -> I16 | None:
        """The caller's next frame; None when the script hangs up."""
        self.bot_since = self.bot_since + 1 if runtime.speaking else 0
        frame = self.silence  # a step taken now starts with the next frame
        if self.playing is not None:
            frame = self._played()
        elif self.steps and not self._step(runtime):
            return None
        if self.noise is not None:
            noise = self.noise.standard_normal(HOUSE_FRAME) * self.noise_rms
            frame = np.clip(frame + noise, -32768, 32767).astype(np.int16)
        return frame

    def _played(self) -> I16:
        assert self.playing is not None
        frame = self.playing[self.pos : self.pos + HOUSE_FRAME]
        self.pos += HOUSE_FRAME
        if self.pos >= len(self.playing):
            self.playing = None
        if len(frame) < HOUSE_FRAME:
            frame = np.concatenate([frame, self.silence[len(frame) :]])
        return frame

    def _play(self, audio: I16) -> None:
        self.playing, self.pos = audio, 0

    def _step(self, runtime: CallRuntime) -> bool:
        """Take the next step if its moment has come; False for a hang-up."""
        step = self.steps[0]
        self.waited = self.waited + 1 if _caller_may_speak(runtime) else 0
        if isinstance(step, Speak) and step.barge_in_after_ms is not None:
            if self.bot_since * FRAME_MS >= step.barge_in_after_ms:
                self._play(step.audio)
                self.steps.pop(0)
        elif isinstance(step, HangUp):
            self.steps.pop(0)
            return False
        elif self.waited * FRAME_MS >= GAP_MS:
            self.steps.pop(0)
            self.waited = 0
            if isinstance(step, Speak):
                self._play(step.audio)
            elif isinstance(step, Keys):
                for key in step.digits:
                    runtime.dtmf(key)
            elif isinstance(step, Silence):
                self._play(np.zeros(step.ms * HOUSE_RATE // 1000, np.int16))
        return True

    def done(self, runtime: CallRuntime) -> bool:
        """The script has run out and the bot has waited a caller's pause since."""
        if self.steps or self.playing is not None:
            return False
        self.done_for = self.done_for + 1 if _caller_may_speak(runtime) else 0
        return self.done_for * FRAME_MS >= GAP_MS


async def _next_tick(runtime: CallRuntime, realtime: bool, tick: int, started: float) -> float:
    """Wait for the tick's moment: on a virtual clock, until the bridge's work is done;
    in real time, its 20 ms slot. Returns when the frame clock started."""
    if realtime:
        delay = started + tick * FRAME_MS / 1000 - time.monotonic()
        if delay > 0 and await _ready_within(runtime.audio_ready, delay):
            # Like a carrier's WebSocket leg, the line takes the bot's first frame the
            # moment it is ready; its frame clock moves to it.
            started = time.monotonic() - tick * FRAME_MS / 1000
    else:
        await runtime.settle()
    runtime.audio_ready.clear()
    return started


async def _ready_within(event: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def run_call(
    flow: Flow,
    engine: SpeechEngine,
    leg: VirtualLeg,
    *,
    emit: Callable[[Envelope], None],
    lookup: LookupFn,
    call_id: str | None = None,
    caller_number: str = "+15550100",
    dialled_number: str = "+15550199",
    flow_version: int | None = None,
    endpoint: EndpointConfig | None = None,
    clock: Callable[[], datetime] | None = None,
    fallback_engine: SpeechEngine | None = None,
    record: Path | None = None,
    recording_failed: Callable[[str], None] | None = None,
) -> CallRuntime:
    """Run one call of ``flow`` on ``engine`` with the virtual caller ``leg``, to its end."""
    call_id = call_id or uuid.uuid4().hex
    session = await engine.open(call_id, flow)
    runtime = CallRuntime(
        call_id=call_id,
        flow=flow,
        session=session,
        engine_name=engine.name,
        control=leg,
        emit=emit,
        lookup=lookup,
        caller_number=caller_number,
        dialled_number=dialled_number,
        realtime=leg.realtime,
        endpoint=endpoint,
        clock=clock,
        fallback_engine=fallback_engine,
        record=record,
        recording_failed=recording_failed,
    )
    await runtime.start(flow_version)
    await leg.run(runtime)
    await runtime.settle()
    return runtime
