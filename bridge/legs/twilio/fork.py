"""The listen-only fork Twilio opens after a transfer (`<Start><Stream>`, both tracks).

The caller now talks to a person; the bridge keeps transcribing the caller's track
into the same call, so the agent's live view and the stored transcript go on.
"""

from __future__ import annotations

from fastapi import WebSocket

from bridge import logs
from bridge.legs.twilio import protocol as tp
from bridge.legs.twilio.leg import TwilioDeps
from bridge.legs.websocket import WebSocketLeg

log = logs.get_logger(__name__)


class ForkLeg(WebSocketLeg):
    """Held to the main stream's rules (:mod:`bridge.legs.guard`): a bad frame is
    skipped, too many close the fork, and the call's transcription goes on until then."""

    def __init__(self, ws: WebSocket, deps: TwilioDeps) -> None:
        super().__init__(ws, "twilio fork")
        self.deps = deps

    @property
    def frame_bytes(self) -> int:
        return tp.FRAME

    def _ids(self) -> dict[str, str]:
        return {"call_id": self.runtime.call_id if self.runtime else ""}

    async def _text(self, text: str) -> bool:
        match tp.parse(text):
            case tp.Start() if self.runtime is not None:
                self._reject("a second start on a fork that carries a call")
            case tp.Start() as msg:
                return self._start(msg)
            case tp.Media() as msg if self.runtime is not None and msg.media.track == "inbound":
                await self._feed(msg.audio())  # the agent's side is not transcribed yet
            case tp.Stop():
                return False
        return True

    def _start(self, msg: tp.Start) -> bool:
        pending = self.deps.tokens.redeem(msg.start.customParameters.get("token", ""))
        runtime = self.deps.calls.runtimes.get(pending.fork_of or "") if pending else None
        if runtime is None:
            log.warning("twilio fork refused: no such call in progress")
            return False
        self.runtime = runtime
        self.guard.started = True
        self.deps.forks.add(runtime.call_id)
        return True

    async def _closed(self, reason: str) -> None:
        if self.runtime is not None:
            self.deps.forks.discard(self.runtime.call_id)
            self.runtime.caller_hung_up(reason)
