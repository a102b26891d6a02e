"""Twilio's signed requests: ``X-Twilio-Signature``, an HMAC-SHA1 with the account's auth
token of the URL Twilio called and, for a webhook, its form fields.

The URL is ours (CALLBRIDGE_PUBLIC_URL), never one rebuilt from request headers a
proxy may rewrite. A request that does not hold is refused before its route runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import Request
from starlette.requests import HTTPConnection
from twilio.request_validator import RequestValidator

from bridge import logs
from bridge.legs.signed import client, refused

log = logs.get_logger(__name__)

Endpoint = Literal["voice", "status", "stream", "fork"]


async def form(request: Request) -> dict[str, str]:
    """A webhook's form fields (read once: Starlette keeps the parsed form)."""
    return {k: str(v) for k, v in (await request.form()).items()}


def twilio_signed(endpoint: Endpoint) -> Callable[[HTTPConnection], Awaitable[None]]:
    """A FastAPI dependency: the request to ``endpoint`` carries Twilio's signature."""

    async def check(conn: HTTPConnection) -> None:
        state = conn.app.state
        token = state.services.settings.twilio.auth_token
        if token is None:
            log.error("twilio request refused: CALLBRIDGE_TWILIO_AUTH_TOKEN is not set")
            raise refused(conn)
        url = getattr(state.twilio_urls, endpoint)
        params = await form(conn) if isinstance(conn, Request) else {}
        signature = conn.headers.get("x-twilio-signature", "")
        validator = RequestValidator(token.get_secret_value())
        if not signature or not validator.validate(url, params, signature):
            log.warning("twilio request refused: bad signature", url=url, client=client(conn))
            raise refused(conn)

    return check
