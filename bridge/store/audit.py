"""The audit log: who did what to which object, one row each, never updated."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bridge.store.models import AuditEntry


def audit(engine: Engine, actor: str, action: str, target: str, **detail: object) -> None:
    with Session(engine) as s, s.begin():
        s.add(AuditEntry(actor=actor, action=action, target=target, detail=detail))
