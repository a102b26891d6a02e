"""Every migration runs up and down on SQLite and PostgreSQL, and the models match."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

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
