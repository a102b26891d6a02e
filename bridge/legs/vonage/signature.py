"""Vonage's signed requests: an HS256 JWT (the account's signature secret) in
`Authorization: Bearer`, issued by "Vonage", whose `payload_hash` is the SHA-256
of the raw body."""

from __future__ import annotations

import hashlib
import hmac

import jwt


def verify(authorization: str, body: bytes | None, secret: str) -> bool:
    """``body`` None: a WebSocket handshake, which carries no payload to hash."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token or not secret:
        return False
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"])
    except jwt.PyJWTError:
        return False
    if claims.get("iss") != "Vonage":
        return False
    if body is None:
        return True
    want = claims.get("payload_hash")
    return isinstance(want, str) and hmac.compare_digest(want, hashlib.sha256(body).hexdigest())
