"""The listen-only fork Twilio opens after a transfer (`<Start><Stream>`, both tracks).

The caller now talks to a person; the bridge keeps transcribing the caller's track
into the same call, so the agent's live view and the stored transcript go on.
"""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from bridge import logs
from bridge.conversation.runtime import CallRuntime
from bridge.legs.guard import POLICY_VIOLATION, PROTOCOL_ERROR, Broken, StreamGuard
from bridge.legs.twilio import protocol as tp

log = logs.get_logger(__name__)


class ForkLeg:
    """Held to the main stream's rules (:mod:`bridge.legs.guard`): a bad frame is
    skipped, too many close the fork, and the call's transcription goes on until then."""

    def __init__(self, ws: WebSocket, app_state: Any) -> None:
        self.ws, self.state = ws, app_state
        self.runtime: CallRuntime | None = None
        self._buf = b""
        self.guard = StreamGuard("twilio fork")

    async def run(self) -> None:
        reason = "caller_hangup"
        try:
            while True:
                try:
                    raw = await self.guard.receive(self.ws.receive_text())
                except WebSocketDisconnect:
                    break
                except KeyError:  # a binary frame: Twilio never sends one
                    self.guard.reject("binary frame")
                    continue
                try:
                    msg = tp.parse(raw)
                except tp.ProtocolError as exc:
                    self.guard.reject(str(exc))
                    continue
                if isinstance(msg, tp.Start) and self.runtime is not None:
                    self.guard.reject("a second start on a fork that carries a call")
                elif isinstance(msg, tp.Start):
                    if not self._start(msg):
                        break
                elif isinstance(msg, tp.Media) and self.runtime is not None:
                    if msg.media.track != "inbound":
                        continue  # the agent's side: not transcribed yet
                    try:
                        self._buf += msg.audio()
                    except tp.ProtocolError as exc:
                        self.guard.reject(str(exc))
                        continue
                    while len(self._buf) >= 160:
                        chunk, self._buf = self._buf[:160], self._buf[160:]
                        self.runtime.caller_line(chunk)
                elif isinstance(msg, tp.Stop):
                    break
        except Broken as broken:
            self.guard.closing(broken, call_id=self.runtime.call_id if self.runtime else "")
            reason = PROTOCOL_ERROR
            with contextlib.suppress(RuntimeError):
                await self.ws.close(code=POLICY_VIOLATION)
        finally:
            if self.runtime is not None:
                self.state.twilio_forks.discard(self.runtime.call_id)
                self.runtime.caller_hung_up(reason)

    def _start(self, msg: tp.Start) -> bool:
        pending = self.state.twilio_tokens.redeem(msg.start.customParameters.get("token", ""))
        runtime = self.state.call_service.runtimes.get(pending.fork_of if pending else "")
        if runtime is None:
            log.warning("twilio fork refused: no such call in progress")
            return False
        self.runtime = runtime
        self.guard.started = True
        self.state.twilio_forks.add(runtime.call_id)
        return True
