"""Settings as the commands load them: CLI options over the environment and files."""

from __future__ import annotations

from typing import Any

import click
from pydantic import ValidationError

from bridge.settings import Settings


def load_settings(**overrides: Any) -> Settings:
    """Settings with the options a user gave on the command line; a bad value is a
    one-paragraph usage error, not a traceback."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except (ValidationError, FileNotFoundError) as exc:
        raise click.ClickException(f"invalid settings:\n{exc}") from exc
