"""One-time tokens that tie a carrier's media socket to the webhook that announced it.

The webhook's data (who called which number) stays here; only an unguessable
token travels in the TwiML `<Parameter>` or the NCCO `headers`, and a socket that
cannot present a live, unused one carries no call.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

TOKEN_TTL_S = 120


@dataclass(frozen=True)
class Pending:
    call_sid: str
    caller: str
    dialled: str
    fork_of: str | None
    expires: float


class Tokens:
    def __init__(self) -> None:
        self._pending: dict[str, Pending] = {}

    def issue(
        self, call_sid: str, caller: str = "", dialled: str = "", fork_of: str | None = None
    ) -> str:
        now = time.monotonic()
        self._pending = {k: v for k, v in self._pending.items() if v.expires > now}
        token = secrets.token_urlsafe(18)
        self._pending[token] = Pending(call_sid, caller, dialled, fork_of, now + TOKEN_TTL_S)
        return token

    def redeem(self, token: str) -> Pending | None:
        p = self._pending.pop(token, None)
        return p if p is not None and p.expires > time.monotonic() else None
