"""Every migration runs up and down on SQLite and PostgreSQL, and the models match."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from bridge.store import migrate
from bridge.store.db import make_engine
from bridge.store.models import Base
from bridge.store.search import include_object

TABLES = {"calls", "legs", "transcript_segments", "events", "flow_versions", "users", "audit_log"}


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(database_url)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES

    migrate.downgrade(database_url, "base")
    assert migrate.current_revision(engine) is None
    assert not TABLES & set(inspect(engine).get_table_names())

    migrate.upgrade(database_url)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def test_each_revision_steps_up_and_down(database_url: str) -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config(database_url))
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    for rev in revisions:
        migrate.upgrade(database_url, rev)
    for rev in reversed(revisions):
        down = script.get_revision(rev).down_revision
        migrate.downgrade(database_url, down or "base")


def test_models_match_migrations(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ; write a migration: {diff}"


def test_carrier_events_numbered_above_a_billion_move_to_their_own_source(
    database_url: str,
) -> None:
    """Before 0003 a carrier's reports borrowed the call's numbering from 10^9 up."""
    engine = make_engine(database_url)
    migrate.upgrade(database_url, "0002")
    insert = text(
        "INSERT INTO events (call_id, seq, type, version, ts, payload) "
        "VALUES (:c, :s, :t, 1, '2026-12-01 10:00:00', '{}')"
    )
    with engine.begin() as conn:
        conn.execute(insert, {"c": "CA1", "s": 3, "t": "call.started"})
        conn.execute(insert, {"c": "CA1", "s": 1_000_000_003, "t": "call.carrier_status"})
    migrate.upgrade(database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT source, seq, type FROM events ORDER BY type")).all()
    assert [tuple(r) for r in rows] == [
        ("carrier", 3, "call.carrier_status"),
        ("call", 3, "call.started"),
    ]
    migrate.downgrade(database_url, "0002")
    with engine.connect() as conn:
        seqs = conn.execute(text("SELECT seq FROM events ORDER BY seq")).scalars().all()
    assert seqs == [3, 1_000_000_003]
    engine.dispose()
