"""Full-text search in transcripts: SQLite FTS5, PostgreSQL ``tsvector``.

The index is kept by the database itself (SQLite triggers on
``transcript_segments``; a GIN expression index on PostgreSQL), so the store
writer needs no change. :func:`matching_calls` is the one query the review page
runs; :func:`is_search_object` tells Alembic's comparison which objects are the
index's (they are not in the models).
"""

from __future__ import annotations

import re

from sqlalchemy import Select, select, text
from sqlalchemy.engine import Connection

from bridge.store.models import TranscriptSegment

FTS_TABLE = "transcript_fts"
PG_INDEX = "ix_transcript_segments_fts"


def is_search_object(name: str | None) -> bool:
    return bool(name) and (str(name).startswith(FTS_TABLE) or name == PG_INDEX)


def create(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.execute(
            text(
                f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(text, content='transcript_segments', "
                "content_rowid='id', tokenize='porter unicode61')"
            )
        )
        conn.execute(
            text(
                f"CREATE TRIGGER {FTS_TABLE}_ai AFTER INSERT ON transcript_segments BEGIN "
                f"INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text); END"
            )
        )
        conn.execute(
            text(
                f"CREATE TRIGGER {FTS_TABLE}_ad AFTER DELETE ON transcript_segments BEGIN "
                f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) "
                "VALUES('delete', old.id, old.text); END"
            )
        )
        conn.execute(
            text(f"INSERT INTO {FTS_TABLE}(rowid, text) SELECT id, text FROM transcript_segments")
        )
    elif conn.dialect.name == "postgresql":
        conn.execute(
            text(
                f"CREATE INDEX {PG_INDEX} ON transcript_segments "
                "USING gin (to_tsvector('english', text))"
            )
        )


def drop(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for trigger in ("ai", "ad"):
            conn.execute(text(f"DROP TRIGGER IF EXISTS {FTS_TABLE}_{trigger}"))
        conn.execute(text(f"DROP TABLE IF EXISTS {FTS_TABLE}"))
    elif conn.dialect.name == "postgresql":
        conn.execute(text(f"DROP INDEX IF EXISTS {PG_INDEX}"))


def _words(query: str) -> list[str]:
    return re.findall(r"\w+", query.lower())[:8]


def matching_calls(dialect: str, query: str) -> Select[tuple[str]] | None:
    """Call ids whose final transcript has every word of ``query`` (None: no words)."""
    words = _words(query)
    if not words:
        return None
    seg = TranscriptSegment
    if dialect == "postgresql":
        cond = text(
            "to_tsvector('english', transcript_segments.text) @@ plainto_tsquery('english', :q)"
        ).bindparams(q=" ".join(words))
        return select(seg.call_id).where(seg.is_final.is_(True), cond).distinct()
    # FTS5: each word quoted (no operators from the user), all of them required.
    match = " ".join('"' + w.replace('"', "") + '"' for w in words)
    ids = text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :q").bindparams(q=match)
    return select(seg.call_id).where(seg.is_final.is_(True), seg.id.in_(ids)).distinct()


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """For Alembic's comparison: the search index lives in the database, not the models."""
    return not (reflected and is_search_object(name))
