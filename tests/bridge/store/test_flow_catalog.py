"""Publishing flow versions: a call keeps the version it started with."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.cli import main
from bridge.store.db import make_engine
from bridge.store.flow_catalog import CatalogError, FlowCatalog
from bridge.store.models import AuditEntry, FlowVersion
from flows.interpreter import Interpreter, Say
from flows.loader import FlowInvalid

CARDS = Path(__file__).resolve().parents[3] / "flows" / "examples" / "card_services.yaml"
V1 = CARDS.read_text()
V2 = V1.replace("version: 1", "version: 2").replace(
    "Thank you for calling {bank_name} card services.", "Welcome to {bank_name}."
)


def greeting(interp: Interpreter) -> str:
    return next(a.text for a in interp.start() if isinstance(a, Say))


def test_publish_activate_and_calls_in_progress(migrated_url: str) -> None:
    catalog = FlowCatalog(make_engine(migrated_url))
    assert catalog.publish(V1, "cards.yaml", by="ada").version == 1
    call = Interpreter(catalog.active("card_services").flow)  # a call starts on v1
    assert greeting(call) == "Thank you for calling Example Bank card services."

    v2 = catalog.publish(V2, "cards.yaml", by="ada")
    assert v2.active and catalog.active("card_services").version == 2
    assert not catalog.get("card_services", 1).active
    # the call in progress goes on with the version it started with
    assert call.flow.version == 1 and call.flow.states["greet"].say.startswith("Thank you")  # type: ignore[union-attr]
    assert greeting(Interpreter(catalog.active("card_services").flow)) == "Welcome to Example Bank."

    assert catalog.publish(V2, "cards.yaml", by="bob").version == 2  # same content: no-op
    with pytest.raises(CatalogError, match="raise `version:`"):
        catalog.publish(V2.replace("Welcome", "Hello"), "cards.yaml", by="bob")

    catalog.activate("card_services", 1, by="ada")  # roll back
    assert catalog.active("card_services").version == 1
    with pytest.raises(CatalogError, match="never published"):
        catalog.activate("card_services", 9, by="ada")

    with Session(catalog.engine) as s:
        assert s.scalar(select(FlowVersion.id).where(FlowVersion.version == 3)) is None
        audit = [
            (a.actor, a.action, a.detail["version"])
            for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]
    assert audit == [
        ("ada", "flow.publish", 1),
        ("ada", "flow.publish", 2),
        ("bob", "flow.publish", 2),
        ("ada", "flow.activate", 1),
    ]


def test_an_invalid_flow_is_never_published(migrated_url: str) -> None:
    catalog = FlowCatalog(make_engine(migrated_url))
    with pytest.raises(FlowInvalid):
        catalog.publish(V1.replace("next: menu", "next: menuu"), "cards.yaml", by="ada")
    assert catalog.versions() == []


def test_publish_cli(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CALLBRIDGE_DATA_DIR", str(tmp_path))
    v2 = tmp_path / "cards.yaml"
    v2.write_text(V2)
    run = CliRunner().invoke
    assert "published card_services v1" in run(main, ["flows", "publish", str(CARDS)]).output
    assert "published card_services v2" in run(main, ["flows", "publish", str(v2)]).output
    listing = run(main, ["flows", "versions"]).stdout.splitlines()
    assert listing[0].startswith("  card_services v1") and listing[1].startswith(
        "* card_services v2"
    )
    assert (
        "active: card_services v1" in run(main, ["flows", "activate", "card_services", "1"]).output
    )
    v2.write_text(V2.replace("Welcome", "Hello"))
    clash = run(main, ["flows", "publish", str(v2)])
    assert clash.exit_code == 1 and "already published with other content" in clash.output
