"""``callbridge users``: the dashboard's people and their roles."""

from __future__ import annotations

import sys

import click

from bridge.cli.options import load_settings
from bridge.store import migrate
from bridge.store.db import make_engine
from bridge.store.users import UserError, Users


def _users() -> Users:
    url = load_settings().effective_database_url
    migrate.upgrade(url)
    return Users(make_engine(url))


@click.group("users")
def users() -> None:
    """Dashboard users: agents, supervisors and admins."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["agent", "supervisor", "admin"]), required=True)
def add(name: str, role: str) -> None:
    """Add NAME with ROLE; the password is read from standard input (one line), or asked
    for twice on a terminal. Example: echo "$PW" | callbridge users add ann --role agent"""

    if sys.stdin.isatty():
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        _users().add(name, role, password)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added {name} ({role})")


@users.command("list")
def list_() -> None:
    """Every user, their role, and whether they are disabled."""
    for name, role, disabled in _users().list():
        click.echo("\t".join([name, role, *(["disabled"] if disabled else [])]))


@users.command("disable")
@click.argument("name")
def disable(name: str) -> None:
    """Stop NAME logging in (their open sessions end at their next request)."""

    try:
        _users().disable(name)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"disabled {name}")
