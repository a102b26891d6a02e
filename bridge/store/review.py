"""The questions the dashboard asks the store about calls: calls in progress, calls by
filter and by words said, one call in full. Plain SQLAlchemy on whichever database is
set; the web layer calls these off the event loop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bridge.store import search
from bridge.store.models import Call, EventRecord, TranscriptSegment

PAGE = 100


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    number: str = ""
    flow: str = ""
    outcome: str = ""
    min_s: int | None = None
    max_s: int | None = None
    q: str = ""


def _call(c: Call, state: str | None = None) -> dict[str, Any]:
    return {
        "id": c.id,
        "carrier": c.carrier,
        "from": c.from_number,
        "to": c.to_number,
        "flow": c.flow_name,
        "flow_version": c.flow_version,
        "status": c.status,
        "outcome": c.outcome,
        "reason": c.end_reason,
        "duration_ms": c.duration_ms,
        "started_at": c.started_at.isoformat() if c.started_at else None,
        "state": state,
    }


def live_calls(engine: Engine, max_age: timedelta = timedelta(hours=4)) -> list[dict[str, Any]]:
    """Calls in progress, newest first, with the state each is in now."""
    since = datetime.now(UTC) - max_age
    with Session(engine) as s:
        calls = list(
            s.scalars(
                select(Call)
                .where(Call.status == "in_progress", Call.started_at >= since)
                .order_by(Call.started_at.desc())
                .limit(PAGE)
            )
        )
        states = _current_states(s, [c.id for c in calls])
        return [_call(c, states.get(c.id)) for c in calls]


def _current_states(s: Session, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    last = (
        select(EventRecord.call_id, func.max(EventRecord.seq).label("seq"))
        .where(
            EventRecord.call_id.in_(ids),
            EventRecord.source == "call",
            EventRecord.type == "flow.state_entered",
        )
        .group_by(EventRecord.call_id)
        .subquery()
    )
    rows = s.execute(
        select(EventRecord.call_id, EventRecord.payload).join(
            last,
            (EventRecord.call_id == last.c.call_id)
            & (EventRecord.source == "call")
            & (EventRecord.seq == last.c.seq),
        )
    )
    return {cid: str(p.get("state", "")) for cid, p in rows}


def find_calls(engine: Engine, f: Filters) -> list[dict[str, Any]]:
    q = select(Call).order_by(Call.started_at.desc()).limit(PAGE)
    if f.since:
        q = q.where(Call.started_at >= f.since)
    if f.until:
        q = q.where(Call.started_at < f.until)
    if f.number:
        like = f"%{f.number}%"
        q = q.where(Call.from_number.like(like) | Call.to_number.like(like))
    if f.flow:
        q = q.where(Call.flow_name == f.flow)
    if f.outcome:
        q = q.where(Call.outcome == f.outcome)
    if f.min_s is not None:
        q = q.where(Call.duration_ms >= f.min_s * 1000)
    if f.max_s is not None:
        q = q.where(Call.duration_ms <= f.max_s * 1000)
    if f.q:
        ids = search.matching_calls(engine.dialect.name, f.q)
        if ids is not None:
            q = q.where(Call.id.in_(ids))
    with Session(engine) as s:
        return [_call(c) for c in s.scalars(q)]


def call_detail(engine: Engine, call_id: str) -> dict[str, Any] | None:
    with Session(engine) as s:
        call = s.get(Call, call_id)
        if call is None:
            return None
        segments = list(
            s.scalars(
                select(TranscriptSegment)
                .where(TranscriptSegment.call_id == call_id, TranscriptSegment.is_final.is_(True))
                # Several writers (the call, later the agent's desk): their clocks
                # interleave them, each one's own numbering breaks ties.
                .order_by(TranscriptSegment.created_at, TranscriptSegment.seq)
            )
        )
        events = list(
            s.scalars(
                select(EventRecord)
                .where(EventRecord.call_id == call_id)
                .order_by(EventRecord.ts, EventRecord.seq)
            )
        )
    start = events[0].ts if events else call.started_at
    path = [
        {"state": e.payload.get("state"), "at_ms": _ms(e.ts, start)}
        for e in events
        if e.type == "flow.state_entered"
    ]
    turns = [
        {"turn": e.payload.get("turn"), **(e.payload.get("figures_ms") or {})}
        for e in events
        if e.type == "turn.latency"
    ]
    slots: dict[str, Any] = {}
    for e in events:
        if e.type == "flow.intent":
            slots.update(e.payload.get("slots") or {})
    return {
        **_call(call),
        "transcript": [
            {"speaker": t.speaker, "text": t.text, "start_ms": t.start_ms, "end_ms": t.end_ms}
            for t in segments
        ],
        "path": path,
        "turns": turns,
        "slots": slots,
    }


def _ms(ts: datetime, start: datetime) -> int:
    a, b = ts, start
    if a.tzinfo is None:
        a = a.replace(tzinfo=UTC)
    if b.tzinfo is None:
        b = b.replace(tzinfo=UTC)
    return int((a - b).total_seconds() * 1000)
