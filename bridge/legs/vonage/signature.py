"""Vonage's signed requests: an HS256 JWT (the account's signature secret) in
`Authorization: Bearer`, issued by "Vonage", whose `payload_hash` is the SHA-256
of the raw body.

A valid signature is not enough: a signed request captured once could be sent again
for ever. So a token must also be fresh (issued within :data:`MAX_AGE_S`, and not
expired if it says when), used once (its `jti` is remembered in Redis for as long as
it could pass the age check, so every bridge sharing that Redis refuses a replay),
and meant for what it is presented to: a socket's handshake has no body, so a token
that hashes one was minted for a webhook. :func:`vonage_signed` puts it all in
front of every Vonage route, as a FastAPI dependency.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import jwt
import redis.asyncio as aioredis
from fastapi import Request
from redis.exceptions import RedisError
from starlette.requests import HTTPConnection

from bridge import logs
from bridge.legs.signed import client, refused

log = logs.get_logger(__name__)

MAX_AGE_S = 300  # how old a signed request may be
SKEW_S = 60  # how far ahead of ours Vonage's clock may be
EMPTY_HASH = hashlib.sha256(b"").hexdigest()


def verify(authorization: str, body: bytes | None, secret: str, now: float | None = None) -> str:
    """Why the request's signature does not hold ("" when it does). ``body`` None: a
    WebSocket handshake, which carries no payload."""
    claims = _claims(authorization, secret)
    if isinstance(claims, str):
        return claims
    iat = claims.get("iat")
    now = time.time() if now is None else now
    if not isinstance(iat, int | float):
        return "no issue time (iat)"
    if iat < now - MAX_AGE_S or iat > now + SKEW_S:
        return f"issued {now - iat:.0f} s ago, outside {MAX_AGE_S} s"
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        return "no token id (jti)"
    want = claims.get("payload_hash")
    if body is None:
        if want not in (None, EMPTY_HASH):
            return "a token for a request with a body, not for a socket"
        return ""
    if not isinstance(want, str) or not hmac.compare_digest(want, hashlib.sha256(body).hexdigest()):
        return "payload hash does not match the body"
    return ""


def token_id(authorization: str) -> str:
    """The `jti` of a token :func:`verify` accepted."""
    token = authorization.partition(" ")[2]
    return str(jwt.decode(token, options={"verify_signature": False}).get("jti", ""))


def _claims(authorization: str, secret: str) -> dict[str, Any] | str:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token or not secret:
        return "no bearer token"
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"])  # checks `exp` if present
    except jwt.PyJWTError as exc:
        return f"invalid token: {type(exc).__name__}"
    if claims.get("iss") != "Vonage":
        return "not issued by Vonage"
    return claims


async def first_use(redis: aioredis.Redis, jti: str) -> bool:
    """Whether this is the first time the token id is seen (remembered across bridges
    for as long as the token could pass the age check). Redis away: the age check is
    the only guard left, and the request is let through (refusing every call while
    Redis is away would be worse); that is logged."""
    try:
        return bool(
            await redis.set(f"callbridge:vonage:jti:{jti}", 1, nx=True, ex=MAX_AGE_S + SKEW_S)
        )
    except (RedisError, OSError) as exc:
        log.warning("vonage replay check skipped: redis unreachable", error=repr(exc))
        return True


async def vonage_signed(conn: HTTPConnection) -> None:
    """A FastAPI dependency: a fresh, once-used Vonage signature meant for this request
    (a webhook's body, or a socket's handshake, which has none)."""
    services = conn.app.state.services
    secret = services.settings.vonage.signature_secret
    if secret is None or not secret.get_secret_value():
        log.error("vonage request refused: CALLBRIDGE_VONAGE_SIGNATURE_SECRET is not set")
        raise refused(conn)
    body = await conn.body() if isinstance(conn, Request) else None
    authorization = conn.headers.get("authorization", "")
    why = verify(authorization, body, secret.get_secret_value())
    if not why:
        use = "socket" if body is None else "webhook"
        if not await first_use(services.redis, f"{use}:{token_id(authorization)}"):
            why = "token already used (a replay)"
    if why:
        log.warning("vonage request refused", reason=why, path=conn.url.path, client=client(conn))
        raise refused(conn)
