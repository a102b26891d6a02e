"""``callbridge flows ...``: validate, simulate, test, draw and publish call flows."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from bridge.cli.options import load_flow_or_exit, load_settings
from flows.loader import FlowInvalid


@click.group()
def flows() -> None:
    """Call flows: check them before any caller hears them."""


@flows.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def flows_validate(files: tuple[str, ...]) -> None:
    """Check flow FILES; every problem is printed as file:line:column. Exit 1 on any."""
    from flows.loader import validate

    problems = [p for f in files for p in validate(f)]
    for p in problems:
        click.echo(str(p), err=True)
    if problems:
        raise SystemExit(1)
    for f in files:
        click.echo(f"{f}: ok")


@flows.command("schema")
def flows_schema() -> None:
    """Print the flow language's JSON Schema (editors: flows/schema/flow.schema.json)."""
    from flows.model import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@flows.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--min-state-coverage",
    type=click.FloatRange(0, 100),
    default=0,
    help="Fail when fewer states than this percentage are entered.",
)
def flows_test(files: tuple[str, ...], min_state_coverage: float) -> None:
    """Run the test conversations of flow or test FILES and print their coverage.

    For a flow NAME.yaml the tests are NAME.test.yaml beside it. Exit 1 when a test
    fails, a file is malformed or coverage is below --min-state-coverage.
    """
    from flows.testing import run_file

    failed = False
    for f in files:
        try:
            result = run_file(f)
        except FlowInvalid as exc:
            for p in exc.problems:
                click.echo(str(p), err=True)
            failed = True
            continue
        passed = result.tests - len(result.failures)
        click.echo(f"{result.file}: {passed}/{result.tests} passed")
        for failure in result.failures:
            click.echo(f"  FAIL {failure}")
        for line in result.coverage.lines():
            click.echo(line)
        if result.failures or result.coverage.state_pct < min_state_coverage:
            failed = True
    if failed:
        raise SystemExit(1)


@flows.command("graph")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="OUT.svg (needs Graphviz), OUT.dot, or OUT.mmd / OUT.md (Mermaid).",
)
def flows_graph(file: str, output: str) -> None:
    """Draw the flow: states by kind, edges labelled with what moves the call."""
    from flows import graph

    flow = load_flow_or_exit(file)
    out = Path(output)
    suffix = out.suffix.lower()
    if suffix in (".mmd", ".md"):
        text = graph.mermaid(flow)
        out.write_text(f"```mermaid\n{text}```\n" if suffix == ".md" else text)
    elif suffix == ".dot":
        out.write_text(graph.dot(flow))
    elif suffix == ".svg":
        out.write_bytes(render_svg(graph.dot(flow)))
    else:
        raise click.BadParameter("use .svg, .dot, .mmd or .md", param_hint="--output")
    click.echo(f"{out}: {len(flow.states)} states")


def render_svg(dot_source: str) -> bytes:
    exe = shutil.which("dot")
    if exe is None:
        raise click.ClickException(
            "SVG needs Graphviz's `dot` (apt-get install graphviz); or write .mmd for Mermaid"
        )
    done = subprocess.run(
        [exe, "-Tsvg"], input=dot_source.encode(), capture_output=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise click.ClickException(f"dot failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


@flows.command("simulate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--clock", help="Pretend it is this ISO time (business hours, relative dates).")
@click.option("--caller-number", default="+15550100", show_default=True)
def flows_simulate(file: str, clock: str | None, caller_number: str) -> None:
    """Talk to a flow in the terminal, offline.

    Type what the caller says; `#12` keys DTMF 1 2, `.silence` is a no-input
    timeout, `.state` shows the snapshot, `.quit` (or Ctrl-D) hangs up. When the
    flow looks data up, type the JSON result or `error`; for a transfer, `ok` or
    `failed`.
    """
    from flows.simulate import Simulation

    flow = load_flow_or_exit(file)
    now = datetime.fromisoformat(clock) if clock else datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    sim = Simulation(flow, now, caller_number=caller_number)
    click.echo(f"{flow.flow} v{flow.version}: you are the caller. .help for commands.")
    for line in sim.start():
        click.echo(line)
    while not sim.ended:
        try:
            typed = input(sim.prompt)
        except EOFError:
            typed = ".quit"
        for line in sim.feed(typed):
            click.echo(line)


@flows.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--by", default="cli", show_default=True, help="Who publishes (audit log).")
def flows_publish(file: str, by: str) -> None:
    """Validate FILE and make its version the one new calls run.

    Publishing the same content again changes nothing; other content under a
    published version is refused (raise `version:`). Calls in progress keep theirs.
    """
    catalog = _catalog()
    try:
        published = catalog.publish(Path(file).read_text(encoding="utf-8"), file, by)
    except FlowInvalid as exc:
        for p in exc.problems:
            click.echo(str(p), err=True)
        raise SystemExit(1) from None
    except Exception as exc:  # CatalogError: a clear message, not a traceback
        raise click.ClickException(str(exc)) from exc
    click.echo(f"published {published.name} v{published.version} ({published.checksum[:12]})")


@flows.command("versions")
@click.argument("name", required=False)
def flows_versions(name: str | None) -> None:
    """List published flows and their versions; * marks the active one."""
    for p in _catalog().versions(name):
        mark = "*" if p.active else " "
        when = p.published_at.isoformat(timespec="seconds") if p.published_at else ""
        click.echo(f"{mark} {p.name} v{p.version}  {p.checksum[:12]}  {when}  {p.published_by}")


@flows.command("activate")
@click.argument("name")
@click.argument("version", type=int)
@click.option("--by", default="cli", show_default=True, help="Who rolls back (audit log).")
def flows_activate(name: str, version: int, by: str) -> None:
    """Make a published VERSION of NAME the active one again (roll back or forward)."""
    from bridge.store.flow_catalog import CatalogError

    try:
        p = _catalog().activate(name, version, by)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"active: {p.name} v{p.version}")


def _catalog() -> Any:
    from bridge import logs
    from bridge.store import migrate
    from bridge.store.db import make_engine
    from bridge.store.flow_catalog import FlowCatalog

    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    url = settings.effective_database_url
    if settings.auto_migrate:
        migrate.upgrade(url, "head")
    return FlowCatalog(make_engine(url))
