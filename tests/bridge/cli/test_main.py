from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect

from bridge import __version__
from bridge.cli import main
from bridge.store import migrate
from bridge.store.db import make_engine


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_version() -> None:
    assert run("version").strip() == f"callbridge {__version__}"
    assert __version__ in run("--version")


def test_help_names_the_public_commands() -> None:
    out = run("--help")
    for command in ("serve", "db", "config", "version", "events"):
        assert command in out
    assert "--host" in run("serve", "--help") and "--port" in run("serve", "--help")
    assert "upgrade" in run("db", "--help")


def test_db_upgrade_and_downgrade(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("CALLBRIDGE_DATABASE_URL", database_url)
    assert "database at head" in run("db", "upgrade")
    engine = make_engine(database_url)
    assert "events" in inspect(engine).get_table_names()
    head = migrate.head_revision()
    assert f"current {head}; head {head}" in run("db", "current")
    run("db", "downgrade", "base")
    assert "events" not in inspect(engine).get_table_names()
    engine.dispose()


def test_events_schema_is_json_schema() -> None:
    schema = json.loads(run("events", "schema"))
    assert schema["$schema"].endswith("2020-12/schema")
    assert "transcript.final" in json.dumps(schema)


def test_store_writer_needs_a_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLBRIDGE_REDIS_URL", raising=False)
    result = CliRunner().invoke(main, ["events", "store-writer"])
    assert result.exit_code == 1 and "CALLBRIDGE_REDIS_URL" in result.output


def test_serve_refuses_a_missing_flow_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["serve", "--flow", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_serve_refuses_an_invalid_flow(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text("flow: x\nstart: a\nstates:\n  a:\n    say: hi\n")
    result = CliRunner().invoke(main, ["serve", "--flow", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:4:3: state `a` is a dead end" in result.output
