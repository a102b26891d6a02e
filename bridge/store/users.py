"""Dashboard users and their roles, kept in the database: add, check a password,
look up, list, disable. Passwords are argon2id hashes; an unknown user costs the same
time as a wrong password.

Roles are ranked: an agent watches live calls; a supervisor also reviews past calls;
an admin also edits and publishes flows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bridge.store.models import User

Role = Literal["agent", "supervisor", "admin"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}
MIN_PASSWORD = 8
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("not a password anyone has")  # unknown users cost the same time


def _role(stored: str) -> Role:
    """A role as the database holds it; anything else is the weakest role."""
    for role in ROLES:
        if stored == role:
            return role
    return "agent"


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
        return Principal(user.username, _role(user.role))

    def get(self, username: str) -> Principal | None:
        with Session(self.engine) as s:
            user = s.scalars(select(User).where(User.username == username)).first()
        if user is None or user.disabled:
            return None
        return Principal(user.username, _role(user.role))

    def list(self) -> list[tuple[str, str, bool]]:
        with Session(self.engine) as s:
            users = s.scalars(select(User).order_by(User.username))
            return [(u.username, u.role, u.disabled) for u in users]

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
