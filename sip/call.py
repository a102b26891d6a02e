"""One SIP call as the asyncio side sees it: :class:`SipCall`.

A handle, not the pjsua2 object: it queues the bot's audio, carries the callbacks the
leg sets, and passes every request to the agent that holds the call
(:class:`CallControl`), which carries it out on its own thread.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Callable
from typing import Protocol

OUT_QUEUE_FRAMES = 25  # 500 ms of bot audio handed over at most; barge-in drops it at once


class CallControl(Protocol):
    """What a :class:`SipCall` asks of its agent. Each request is queued for the agent
    thread; one for a call that has ended meanwhile is dropped."""

    def answer(self, call: SipCall) -> None: ...

    def hangup(self, call: SipCall) -> None: ...

    def refer(self, call: SipCall, target: str) -> None: ...

    def bridge_to(self, call: SipCall, target: str, on_result: Callable[[str], None]) -> None: ...

    def cancel_bridge(self, call: SipCall) -> None: ...


class SipCall:
    """One call as the asyncio side sees it. Thread-safe; no pjsua2 objects leak out."""

    def __init__(
        self, agent: CallControl, call_id: int, caller: str, dialled: str, source: str
    ) -> None:
        self.agent, self.id = agent, call_id
        self.caller, self.dialled, self.source = caller, dialled, source
        self.outbound: queue.Queue[bytes] = queue.Queue(OUT_QUEUE_FRAMES)
        # Set by the leg before the call is answered; called on pjmedia's clock thread.
        self.on_frame: Callable[[bytes], None] = lambda _: None
        self.on_dtmf: Callable[[str], None] = lambda _: None
        self.on_ended: Callable[[str], None] = lambda _: None
        self.on_transfer: Callable[[int, bool], None] = lambda _code, _final: None
        self.on_answered: Callable[[], None] = lambda: None  # outbound: the callee answered

    def play(self, pcm: bytes) -> bool:
        """Queue one 20 ms bot frame; False when the queue is full (the leg paces itself)."""
        try:
            self.outbound.put_nowait(pcm)
            return True
        except queue.Full:
            return False

    def clear(self) -> int:
        """Drop queued bot audio; returns how many milliseconds were dropped."""
        dropped = 0
        with contextlib.suppress(queue.Empty):
            while True:
                self.outbound.get_nowait()
                dropped += 1
        return dropped * 20

    def answer(self) -> None:
        """200 OK to a call that ``on_call`` left ringing (``RINGING``)."""
        self.agent.answer(self)

    def hangup(self) -> None:
        self.agent.hangup(self)

    def refer(self, target: str) -> None:
        """Blind transfer (REFER); progress arrives through ``on_transfer``."""
        self.agent.refer(self, target)

    def bridge_to(self, target: str, on_result: Callable[[str], None]) -> None:
        """Bridged transfer: dial ``target`` and join it to this call once it answers.
        ``on_result`` (agent thread) gets "connected", "failed", or "no_slot" when
        pjsua2 has no call left to dial with."""
        self.agent.bridge_to(self, target, on_result)

    def cancel_bridge(self) -> None:
        """Give up dialling the agent (it did not answer in time)."""
        self.agent.cancel_bridge(self)
