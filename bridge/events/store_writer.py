"""The store writer: makes every event durable in the database, in batches.

Idempotent by construction: ``events`` has a unique ``(call_id, source, seq)`` and every
insert is ``ON CONFLICT DO NOTHING``, so a batch redelivered after a crash (written
but not yet acknowledged) changes nothing. The same transaction keeps the
``calls`` and ``transcript_segments`` tables up to date from the events.

One event the database rejects (a number too large for its column, a value too long
for it) must not stop the rest: a batch that fails for anything but the database
being away is written again event by event, and an event that fails alone
:data:`STRIKES` times is dead-lettered (kept in the dead-letter stream, counted,
logged) while everything else is stored.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from bridge import metrics
from bridge.events.consumer import StreamEntry
from bridge.events.schema import (
    EVENT_ADAPTER,
    KNOWN_TYPES,
    CallEnded,
    CallStarted,
    Envelope,
    TranscriptFinal,
    TranscriptPartial,
    TransferEvent,
)
from bridge.logs import get_logger
from bridge.store.models import Call, EventRecord, Leg, TranscriptSegment

log = get_logger(__name__)

GROUP = "store-writer"
STRIKES = 3  # failures of an event written alone before it is dead-lettered
# The database is away or failing as a whole: retry everything later, blame no event.
UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError)


class EventsRejected(Exception):
    """Some events of the batch were refused alone; they are retried (and struck)."""


def _insert(engine: Engine, model: type) -> Any:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


class StoreWriter:
    """A consumer-group handler; run it with :class:`~bridge.events.consumer.StreamConsumer`."""

    def __init__(self, engine: Engine, *, single_row: bool = False) -> None:
        self._engine = engine
        # One INSERT and COMMIT per event: the baseline bench/events.py compares against.
        self._single_row = single_row
        self._strikes: dict[bytes, int] = {}

    async def __call__(self, entries: Sequence[StreamEntry]) -> list[bytes]:
        rows: list[Row] = []
        ids: list[bytes] = []
        dead: list[bytes] = []
        for eid, fields in entries:
            row = _decode(eid, fields)
            if row is None:
                dead.append(eid)
                continue
            ids.append(eid)
            rows.append(row)
        if rows:
            started = time.perf_counter()
            refused: list[bytes] = []
            try:
                await asyncio.to_thread(self.write, rows)
            except UNAVAILABLE:
                raise
            except Exception as exc:
                log.warning(
                    "a batch was refused; writing its events one by one",
                    error=str(exc)[:200],
                    events=len(rows),
                )
                refused = await asyncio.to_thread(self._write_each, ids, rows)
            metrics.STORE_BATCH_SECONDS.observe(time.perf_counter() - started)
            metrics.EVENTS_STORED.inc(len(rows) - len(refused))
            dead += refused
        return dead

    def _write_each(self, ids: list[bytes], rows: list[Row]) -> list[bytes]:
        """Every event alone: the ones the database refuses are struck, and dead once
        struck :data:`STRIKES` times; while any has strikes left the batch is retried
        (:class:`EventsRejected`), the others already stored."""
        dead: list[bytes] = []
        retry = False
        for eid, row in zip(ids, rows, strict=True):
            try:
                self._write_batch([row])
            except UNAVAILABLE:
                raise
            except Exception as exc:
                strikes = self._strikes.get(eid, 0) + 1
                self._strikes[eid] = strikes
                log.error(
                    "event refused by the database",
                    entry_id=eid.decode(),
                    call_id=row.event.call_id,
                    type=row.event.type,
                    strikes=strikes,
                    error=str(exc)[:200],
                )
                if strikes >= STRIKES:
                    dead.append(eid)
                    del self._strikes[eid]
                else:
                    retry = True
        if retry:
            raise EventsRejected(f"{len(rows)} events, some refused; retried")
        return dead

    def write(self, rows: list[Row]) -> None:
        if self._single_row:
            for row in rows:
                self._write_batch([row])
        else:
            self._write_batch(rows)

    def _write_batch(self, rows: list[Row]) -> None:
        engine = self._engine
        with engine.begin() as conn:
            conn.execute(
                _insert(engine, EventRecord).on_conflict_do_nothing(
                    index_elements=["call_id", "source", "seq"]
                ),
                [r.record() for r in rows],
            )
            calls = [_call_row(r.event) for r in rows if isinstance(r.event, CallStarted)]
            if calls:
                conn.execute(
                    _insert(engine, Call).on_conflict_do_nothing(index_elements=["id"]), calls
                )
            segments = [_segment_row(r.event) for r in rows if isinstance(r.event, _SEGMENTS)]
            if segments:
                conn.execute(
                    _insert(engine, TranscriptSegment).on_conflict_do_nothing(
                        index_elements=["call_id", "source", "seq"]
                    ),
                    segments,
                )
            legs = [leg for r in rows if (leg := _leg_opened(r.event)) is not None]
            if legs:
                conn.execute(
                    _insert(engine, Leg).on_conflict_do_nothing(index_elements=["call_id", "seq"]),
                    legs,
                )
            for r in rows:
                if isinstance(r.event, CallEnded):
                    conn.execute(_call_ended(r.event))
                    conn.execute(_legs_closed(r.event))


@dataclass(frozen=True)
class Row:
    """One event as the writer holds it: decoded once, typed where its type is known
    (an event of a type or version this build does not know is stored as it came,
    through its envelope alone)."""

    event: Envelope
    payload: dict[str, Any]

    def record(self) -> dict[str, Any]:
        e = self.event
        return {
            "call_id": e.call_id,
            "source": e.source,
            "seq": e.seq,
            "type": e.type,
            "version": e.v,
            "ts": e.ts,
            "payload": self.payload,
        }


_SEGMENTS = (TranscriptPartial, TranscriptFinal)


def _decode(eid: bytes, fields: dict[bytes, bytes]) -> Row | None:
    try:
        payload = json.loads(fields[b"e"])
    except (KeyError, ValueError) as exc:
        log.error("undecodable event", entry_id=eid.decode(), error=str(exc)[:200])
        return None
    known = isinstance(payload, dict) and payload.get("type") in KNOWN_TYPES
    try:  # one validation: into its class when this build knows the type
        return Row(EVENT_ADAPTER.validate_python(payload) if known else _envelope(payload), payload)
    except ValidationError as exc:
        error = str(exc)[:200]
    try:  # a known type this build cannot read (an older or newer version): kept as it came
        row = Row(_envelope(payload), payload)
    except (ValueError, TypeError) as exc:
        log.error("undecodable event", entry_id=eid.decode(), error=str(exc)[:200])
        return None
    log.warning("event kept by its envelope alone", entry_id=eid.decode(), error=error)
    return row


def _envelope(payload: Any) -> Envelope:
    return Envelope.model_validate(payload)


def _call_row(e: CallStarted) -> dict[str, Any]:
    return {
        "id": e.call_id,
        "direction": e.direction,
        "carrier": e.carrier,
        "from_number": e.from_number,
        "to_number": e.to_number,
        "flow_name": e.flow_name,
        "flow_version": e.flow_version,
        "status": "in_progress",
        "started_at": e.ts,
    }


def _segment_row(e: TranscriptPartial | TranscriptFinal) -> dict[str, Any]:
    return {
        "call_id": e.call_id,
        "source": e.source,
        "seq": e.seq,
        "speaker": e.speaker,
        "text": e.text,
        "start_ms": e.start_ms,
        "end_ms": e.end_ms,
        "is_final": isinstance(e, TranscriptFinal),
        "created_at": e.ts,
    }


def _leg_opened(e: Envelope) -> dict[str, Any] | None:
    """The caller's (or callee's) leg opens with the call; an agent's when a transfer
    connects and the bridge stays in the media path."""
    if isinstance(e, CallStarted):
        inbound = e.direction == "inbound"
        role, remote = ("caller", e.from_number) if inbound else ("outbound", e.to_number)
    elif isinstance(e, TransferEvent) and e.status == "connected":
        role, remote = "agent", e.target
    else:
        return None
    carrier = e.carrier if isinstance(e, CallStarted) else ""
    return {
        "call_id": e.call_id,
        "seq": e.seq,
        "role": role,
        "carrier": carrier,
        "remote": remote[:256],
        "started_at": e.ts,
        "status": "active",
    }


def _legs_closed(e: CallEnded) -> Any:
    return (
        update(Leg)
        .where(Leg.call_id == e.call_id, Leg.ended_at.is_(None))
        .values(ended_at=e.ts, status="ended")
    )


def _call_ended(e: CallEnded) -> Any:
    return (
        update(Call)
        .where(Call.id == e.call_id)
        .values(
            status="completed",
            ended_at=e.ts,
            end_reason=e.reason,
            outcome=e.outcome,
            duration_ms=e.duration_ms,
        )
    )
