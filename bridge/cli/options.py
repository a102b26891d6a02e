"""Settings as the commands load them: CLI options over the environment and files."""

from __future__ import annotations

from typing import Any

import click
from pydantic import ValidationError

from bridge.settings import Settings
from flows.loader import FlowInvalid, load
from flows.model import Flow


def load_settings(**overrides: Any) -> Settings:
    """Settings with the options a user gave on the command line; a bad value is a
    one-paragraph usage error, not a traceback."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except (ValidationError, FileNotFoundError) as exc:
        raise click.ClickException(f"invalid settings:\n{exc}") from exc


def load_flow_or_exit(path: str) -> Flow:
    """The checked flow, or its problems on stderr (file:line:column each) and exit 1."""
    try:
        return load(path)
    except FlowInvalid as exc:
        for p in exc.problems:
            click.echo(str(p), err=True)
        raise SystemExit(1) from None
