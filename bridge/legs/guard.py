"""The rules every carrier media socket lives by (Twilio's stream and its fork,
Vonage's socket), so one misbehaving peer costs one socket and says why:

- the handshake has a deadline: a signed socket that never says which call it
  carries (Twilio's ``start``, Vonage's ``websocket:connected``) is closed after
  :data:`HANDSHAKE_S`, not held for ever;
- bad messages (not JSON, bad base64, a binary frame where none belongs, a second
  start) are skipped and counted; past :data:`MAX_BAD` the socket is closed;
- either way: one log line with the reason, close code 1008 (policy violation),
  and the call, if one started, ends as :data:`PROTOCOL_ERROR`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from bridge import logs

log = logs.get_logger(__name__)

HANDSHAKE_S = 10.0
MAX_BAD = 50
PROTOCOL_ERROR = "protocol_error"
POLICY_VIOLATION = 1008  # RFC 6455, 7.4.1

T = TypeVar("T")


class ProtocolError(ValueError):
    """One message that breaks the carrier's protocol: skipped, and counted by
    :meth:`StreamGuard.reject`."""


class Broken(Exception):
    """The peer broke the socket's rules: close it, for the reason given."""


class StreamGuard:
    def __init__(self, carrier: str, handshake_s: float | None = None) -> None:
        self.carrier = carrier
        self.handshake_s = HANDSHAKE_S if handshake_s is None else handshake_s
        self.opened = time.monotonic()
        self.started = False  # the handshake is done: no deadline any more
        self.bad = 0
        self.last = ""

    async def receive(self, message: Awaitable[T]) -> T:
        """The next message, within the handshake's deadline until the call started."""
        if self.started:
            return await message
        left = self.opened + self.handshake_s - time.monotonic()
        try:
            return await asyncio.wait_for(message, max(left, 0.0))
        except TimeoutError:
            raise Broken(f"no call started within {self.handshake_s:g} s") from None

    def reject(self, why: str, **ids: Any) -> None:
        """A bad message, skipped; raises :class:`Broken` once there have been too many."""
        self.bad += 1
        self.last = why
        if self.bad <= 3 or self.bad % 100 == 0:
            log.warning(f"{self.carrier} message rejected", reason=why, rejected=self.bad, **ids)
        if self.bad > MAX_BAD:
            raise Broken(f"{self.bad} bad messages, the last: {why}")

    def closing(self, broken: Broken, **ids: Any) -> None:
        log.warning(f"{self.carrier} socket closed", reason=str(broken), **ids)
