"""The listen-only fork Twilio opens after a transfer (`<Start><Stream>`, both tracks).

The caller now talks to a person; the bridge keeps transcribing the caller's track
into the same call, so the agent's live view and the stored transcript go on.
"""

from __future__ import annotations

from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from bridge import logs
from bridge.conversation.runtime import CallRuntime
from bridge.legs.twilio import protocol as tp

log = logs.get_logger(__name__)


class ForkLeg:
    def __init__(self, ws: WebSocket, app_state: Any) -> None:
        self.ws, self.state = ws, app_state
        self.runtime: CallRuntime | None = None
        self._buf = b""

    async def run(self) -> None:
        try:
            while True:
                try:
                    msg = tp.parse(await self.ws.receive_text())
                except tp.ProtocolError as exc:
                    log.warning("twilio fork message rejected", reason=str(exc))
                    continue
                except (WebSocketDisconnect, KeyError):
                    break
                if isinstance(msg, tp.Start):
                    pending = self.state.twilio_tokens.redeem(
                        msg.start.customParameters.get("token", "")
                    )
                    runtime = self.state.call_service.runtimes.get(
                        pending.fork_of if pending else ""
                    )
                    if runtime is None:
                        log.warning("twilio fork refused: no such call in progress")
                        break
                    self.runtime = runtime
                    self.state.twilio_forks.add(runtime.call_id)
                elif isinstance(msg, tp.Media) and self.runtime is not None:
                    if msg.media.track != "inbound":
                        continue  # the agent's side: not transcribed yet
                    self._buf += msg.audio()
                    while len(self._buf) >= 160:
                        chunk, self._buf = self._buf[:160], self._buf[160:]
                        self.runtime.caller_line(chunk)
                elif isinstance(msg, tp.Stop):
                    break
        finally:
            if self.runtime is not None:
                self.state.twilio_forks.discard(self.runtime.call_id)
                self.runtime.caller_hung_up()
