"""The ``callbridge`` command line. Command names and options are a public contract."""

from __future__ import annotations

import asyncio
import json

import click

from bridge import __version__, logs
from bridge.cli.call import call
from bridge.cli.flows import flows
from bridge.cli.options import load_settings
from bridge.cli.users import users


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="callbridge")
def main() -> None:
    """callbridge: put an AI voice agent and your human agents on one phone number.

    Settings come from CALLBRIDGE_* environment variables, a .env file, or the TOML
    file named by CALLBRIDGE_CONFIG_FILE. See `callbridge config show`.
    """


@main.command()
@click.option("--host", help="Interface to listen on (CALLBRIDGE_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="HTTP port (CALLBRIDGE_PORT, default 8080; 0 picks one).")
@click.option(
    "--flow",
    "default_flow",
    type=click.Path(exists=True, dir_okay=False),
    help="Flow that answers calls with no flow of their own (CALLBRIDGE_DEFAULT_FLOW).",
)
@click.option(
    "--sip-workers",
    type=click.IntRange(0, 500),
    help="SIP worker processes behind Kamailio on the SIP port (CALLBRIDGE_SIP_WORKERS; "
    "0: this process answers SIP itself).",
)
def serve(
    host: str | None, port: int | None, default_flow: str | None, sip_workers: int | None
) -> None:
    """Run the bridge: web app, carrier legs, event log and store writer.

    With no CALLBRIDGE_REDIS_URL / CALLBRIDGE_DATABASE_URL it runs an embedded Redis
    and an SQLite file under CALLBRIDGE_DATA_DIR. SIGTERM or Ctrl-C drains calls in
    flight (up to CALLBRIDGE_DRAIN_TIMEOUT_S) before it exits.
    """
    from bridge.web.server import serve as run_server

    settings = load_settings(
        host=host, port=port, default_flow=default_flow, sip_workers=sip_workers
    )
    logs.configure(settings.log_level, settings.log_format)
    from flows.loader import validate

    problems = validate(settings.default_flow)
    if problems:
        raise click.ClickException(
            "the default flow has problems:\n" + "\n".join(str(p) for p in problems)
        )
    from bridge.process import preflight

    try:
        preflight.check(settings)  # before anything starts: nothing is left running
    except preflight.Misconfigured as exc:
        raise click.ClickException(str(exc)) from None
    run_server(settings)


@main.command("sip-worker")
@click.option("--port", type=int, help="This worker's SIP port (CALLBRIDGE_SIP_PORT).")
def sip_worker(port: int | None) -> None:
    """Run one SIP worker: a pjsua2 agent that answers calls, without the web app.

    Kamailio (deploy/kamailio/) spreads calls over many; `serve --sip-workers N` starts
    them itself, and workers on other machines are listed in
    CALLBRIDGE_SIP_REMOTE_WORKERS there. Events go to CALLBRIDGE_REDIS_URL (required),
    where the serving bridge's store writer persists them. Prints one JSON line of
    health a second on stdout; SIGTERM drains.
    """
    from bridge.sipfront.worker import run

    settings = load_settings(sip_port=port, store_writer_enabled=False, auto_migrate=False)
    logs.configure(settings.log_level, settings.log_format)
    if settings.redis_url is None:
        raise click.ClickException("a SIP worker needs CALLBRIDGE_REDIS_URL (the event log)")
    if not settings.sip.port:
        raise click.ClickException("a SIP worker needs a SIP port (--port)")
    asyncio.run(run(settings))


@main.command()
def version() -> None:
    """Print the callbridge version."""
    click.echo(f"callbridge {__version__}")


@main.group()
def config() -> None:
    """Inspect the effective settings."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def config_show(as_json: bool) -> None:
    """Print the effective settings, secrets and URL passwords masked."""
    values = load_settings().masked()
    if as_json:
        click.echo(json.dumps(values, indent=2, default=str))
        return
    width = max(len(k) for k in values)
    for key, value in values.items():
        click.echo(f"{key.ljust(width)}  {value}")


@main.group()
def db() -> None:
    """Database schema migrations (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: head)."""
    _migrate("upgrade", revision)


def _migrate(direction: str, revision: str) -> None:
    from bridge.store import migrate

    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    getattr(migrate, direction)(settings.effective_database_url, revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ("base" removes every table)."""
    _migrate("downgrade", revision)


@db.command("current")
def db_current() -> None:
    """Print the database's migration revision and the newest one available."""
    from bridge.store import migrate
    from bridge.store.db import make_engine

    engine = make_engine(load_settings().effective_database_url)
    click.echo(
        f"current {migrate.current_revision(engine) or 'none'}; head {migrate.head_revision()}"
    )


main.add_command(flows)
main.add_command(call)
main.add_command(users)


@main.group()
def events() -> None:
    """The event log."""


@events.command("schema")
def events_schema() -> None:
    """Print the JSON Schema of every event record."""
    from bridge.events.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@events.command("store-writer")
@click.option("--consumer", help="Consumer name in the group (default: CALLBRIDGE_INSTANCE_ID).")
def events_store_writer(consumer: str | None) -> None:
    """Run only the store writer: persist events from Redis into the database.

    For deployments that run it apart from `serve` (set
    CALLBRIDGE_STORE_WRITER_ENABLED=false there). Needs CALLBRIDGE_REDIS_URL.
    """
    from bridge.process.store_writer import run

    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    if settings.redis_url is None:
        raise click.ClickException("the standalone store writer needs CALLBRIDGE_REDIS_URL")
    asyncio.run(run(settings, consumer or settings.instance_id))
