"""What a carrier request that fails its signature check gets, webhook or socket.

Each carrier's check is a FastAPI dependency (``twilio/signature.py``,
``vonage/signature.py``) that raises :func:`refused`: a webhook gets 403; a socket is
closed before it is accepted, which the server answers with 403 too, so an unsigned
peer never gets as far as a socket.
"""

from __future__ import annotations

from fastapi import HTTPException, WebSocket, WebSocketException
from starlette.requests import HTTPConnection

from bridge.legs.guard import POLICY_VIOLATION


def refused(conn: HTTPConnection) -> HTTPException | WebSocketException:
    if isinstance(conn, WebSocket):
        return WebSocketException(code=POLICY_VIOLATION)
    return HTTPException(status_code=403, detail="forbidden")


def client(conn: HTTPConnection) -> str:
    """The peer's address, for a refusal's log line."""
    return conn.client.host if conn.client else "?"
