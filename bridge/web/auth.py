"""Who is asking: sessions, CSRF, and the guards every dashboard route and stream
goes through (users and roles themselves are kept in :mod:`bridge.store.users`).

A session is a signed cookie (SameSite=strict, HttpOnly) holding the user name,
checked against the database on every request so a disabled user is out at
once. Every unsafe request carries the session's CSRF token (a form field or the
``X-CSRF-Token`` header).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import HTTPException, Request

from bridge.store.users import Principal, Role, Users


def session_secret(data_dir: Path, configured: str | None) -> str:
    """The cookie-signing key: the setting, else one made once and kept in the data dir."""
    if configured:
        return configured
    path = data_dir / "session.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


# -- guards ---------------------------------------------------------------------------


class LoginRequired(Exception):
    """A page asked for without a session: the handler sends the browser to /login."""


def principal(request: Request) -> Principal | None:
    name = request.session.get("user")
    if not isinstance(name, str):
        return None
    users: Users = request.app.state.users
    return users.get(name)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def allow(request: Request, role: Role, *, page: bool) -> Principal:
    """The user behind ``request`` if they hold ``role``; else 401 (or /login for a
    page) without a session and 403 with one. Unsafe methods must carry the CSRF token."""
    who = principal(request)
    if who is None:
        if page:
            raise LoginRequired
        raise HTTPException(401, "log in first")
    if not who.may(role):
        raise HTTPException(403, f"this needs the {role} role")
    return who


async def check_csrf(request: Request) -> None:
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = str((await request.form()).get("csrf", ""))
    if not isinstance(expected, str) or not sent or not secrets.compare_digest(sent, expected):
        raise HTTPException(403, "missing or wrong CSRF token")
