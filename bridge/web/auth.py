"""Who is asking: users and roles, password checks, sessions, CSRF, and the guards
every dashboard route and stream goes through.

Roles are ranked: an agent watches live calls; a supervisor also reviews past
calls; an admin also edits and publishes flows. Passwords are argon2id hashes.
A session is a signed cookie (SameSite=strict, HttpOnly) holding the user name,
checked against the database on every request so a disabled user is out at
once. Every unsafe request carries the session's CSRF token (a form field or the
``X-CSRF-Token`` header).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bridge.store.models import AuditEntry, User

Role = Literal["agent", "supervisor", "admin"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}
MIN_PASSWORD = 8
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("not a password anyone has")  # unknown users cost the same time


class UserError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    username: str
    role: Role

    def may(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


class Users:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, username: str, role: str, password: str) -> None:
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}")
        if not username or len(username) > 128 or not username.isprintable():
            raise UserError("a user name is 1 to 128 printable characters")
        if len(password) < MIN_PASSWORD:
            raise UserError(f"a password has at least {MIN_PASSWORD} characters")
        with Session(self.engine) as s, s.begin():
            if s.scalars(select(User).where(User.username == username)).first() is not None:
                raise UserError(f"user {username!r} exists")
            s.add(User(username=username, role=role, password_hash=_hasher.hash(password)))

    def check(self, username: str, password: str) -> Principal | None:
        with Session(self.engine) as s:
            user = s.scalars(select(User).where(User.username == username)).first()
        if user is None or user.disabled:
            _verify(_DUMMY, password)
            return None
        if not _verify(user.password_hash, password):
            return None
        return Principal(user.username, user.role)  # type: ignore[arg-type]

    def get(self, username: str) -> Principal | None:
        with Session(self.engine) as s:
            user = s.scalars(select(User).where(User.username == username)).first()
        if user is None or user.disabled:
            return None
        return Principal(user.username, user.role)  # type: ignore[arg-type]

    def list(self) -> list[tuple[str, str, bool]]:
        with Session(self.engine) as s:
            return [(u.username, u.role, u.disabled)
                    for u in s.scalars(select(User).order_by(User.username))]  # fmt: skip

    def disable(self, username: str) -> None:
        with Session(self.engine) as s, s.begin():
            user = s.scalars(select(User).where(User.username == username)).first()
            if user is None:
                raise UserError(f"no user {username!r}")
            user.disabled = True


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def audit(engine: Engine, actor: str, action: str, target: str, **detail: object) -> None:
    with Session(engine) as s, s.begin():
        s.add(AuditEntry(actor=actor, action=action, target=target, detail=detail))


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
