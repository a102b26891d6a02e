"""Filling ``{name}`` and ``{name.field}`` templates from a call's values."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from flows.model import Flow
from flows.spoken import spoken_date

TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+)*)\}")


def render(
    template: str,
    values: dict[str, Any],
    flow: Flow,
    today: Callable[[], date],
    spoken: bool = False,
) -> str:
    """``template`` over ``values``; a missing name is empty. ``spoken``: for a prompt, so
    date slots read as the flow's callers say dates (lookups get them as ISO dates)."""

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        v: Any = values.get(name)
        for part in filter(None, m.group(2).split(".")):
            v = v.get(part) if isinstance(v, dict) else None
        slot = flow.slots.get(name)
        if spoken and not m.group(2) and slot is not None and slot.type == "date":
            return spoken_date(str(v), flow.locale, today())
        return "" if v is None else str(v)

    return TEMPLATE.sub(value, template)


def render_all(obj: Any, render: Callable[[str], str]) -> Any:
    """Every string in a JSON-like value (a lookup's body) rendered."""
    if isinstance(obj, str):
        return render(obj)
    if isinstance(obj, dict):
        return {k: render_all(v, render) for k, v in obj.items()}
    if isinstance(obj, list):
        return [render_all(v, render) for v in obj]
    return obj
