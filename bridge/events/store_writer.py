"""The store writer: makes every event durable in the database, in batches.

Idempotent by construction: ``events`` has a unique ``(call_id, seq)`` and every
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
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from bridge import metrics
from bridge.events.consumer import StreamEntry
from bridge.events.schema import Envelope
from bridge.logs import get_logger
from bridge.store.models import Call, EventRecord, TranscriptSegment

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
        rows: list[dict[str, Any]] = []
        ids: list[bytes] = []
        dead: list[bytes] = []
        for eid, fields in entries:
            try:
                raw = fields[b"e"]
                env = Envelope.model_validate_json(raw)
            except (KeyError, ValidationError) as exc:
                log.error("undecodable event", entry_id=eid.decode(), error=str(exc)[:200])
                dead.append(eid)
                continue
            ids.append(eid)
            rows.append(
                {
                    "call_id": env.call_id,
                    "seq": env.seq,
                    "type": env.type,
                    "version": env.v,
                    "ts": env.ts,
                    "payload": json.loads(raw),
                }
            )
        if rows:
            started = time.perf_counter()
            refused: list[bytes] = []
            try:
                await asyncio.to_thread(self.write, rows)
            except UNAVAILABLE:
                raise
            except Exception as exc:
                log.warning("a batch was refused; writing its events one by one",
                            error=str(exc)[:200], events=len(rows))  # fmt: skip
                refused = await asyncio.to_thread(self._write_each, ids, rows)
            metrics.STORE_BATCH_SECONDS.observe(time.perf_counter() - started)
            metrics.EVENTS_STORED.inc(len(rows) - len(refused))
            dead += refused
        return dead

    def _write_each(self, ids: list[bytes], rows: list[dict[str, Any]]) -> list[bytes]:
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
                log.error("event refused by the database", entry_id=eid.decode(),
                          call_id=row["call_id"], type=row["type"], strikes=strikes,
                          error=str(exc)[:200])  # fmt: skip
                if strikes >= STRIKES:
                    dead.append(eid)
                    del self._strikes[eid]
                else:
                    retry = True
        if retry:
            raise EventsRejected(f"{len(rows)} events, some refused; retried")
        return dead

    def write(self, rows: list[dict[str, Any]]) -> None:
        if self._single_row:
            for row in rows:
                self._write_batch([row])
        else:
            self._write_batch(rows)

    def _write_batch(self, rows: list[dict[str, Any]]) -> None:
        engine = self._engine
        with engine.begin() as conn:
            conn.execute(
                _insert(engine, EventRecord).on_conflict_do_nothing(
                    index_elements=["call_id", "seq"]
                ),
                rows,
            )
            calls = [_call_row(r) for r in rows if r["type"] == "call.started"]
            if calls:
                conn.execute(
                    _insert(engine, Call).on_conflict_do_nothing(index_elements=["id"]), calls
                )
            segments = [_segment_row(r) for r in rows if r["type"].startswith("transcript.")]
            if segments:
                conn.execute(
                    _insert(engine, TranscriptSegment).on_conflict_do_nothing(
                        index_elements=["call_id", "seq"]
                    ),
                    segments,
                )
            for r in rows:
                if r["type"] == "call.ended":
                    conn.execute(_call_ended(r))


def _call_row(r: dict[str, Any]) -> dict[str, Any]:
    p = r["payload"]
    return {
        "id": r["call_id"],
        "direction": p.get("direction", "inbound"),
        "carrier": p.get("carrier", ""),
        "from_number": p.get("from_number", ""),
        "to_number": p.get("to_number", ""),
        "flow_name": p.get("flow_name"),
        "flow_version": p.get("flow_version"),
        "status": "in_progress",
        "started_at": r["ts"],
    }


def _segment_row(r: dict[str, Any]) -> dict[str, Any]:
    p = r["payload"]
    return {
        "call_id": r["call_id"],
        "seq": r["seq"],
        "speaker": p.get("speaker", "caller"),
        "text": p.get("text", ""),
        "start_ms": p.get("start_ms"),
        "end_ms": p.get("end_ms"),
        "is_final": r["type"] == "transcript.final",
        "created_at": r["ts"],
    }


def _call_ended(r: dict[str, Any]) -> Any:
    p = r["payload"]
    ended: datetime = r["ts"]
    return (
        update(Call)
        .where(Call.id == r["call_id"])
        .values(
            status="completed",
            ended_at=ended,
            end_reason=p.get("reason"),
            outcome=p.get("outcome"),
            duration_ms=p.get("duration_ms"),
        )
    )
