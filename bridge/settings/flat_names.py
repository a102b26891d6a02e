"""The flat setting names of earlier releases (``sip_port``, ``CALLBRIDGE_SIP_PORT``),
read into their groups (``sip.port``) so deployments written for them keep working."""

from __future__ import annotations

import json
import os
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from bridge.settings.groups import GROUPS

FLAT: dict[str, tuple[str, str]] = {
    prefix + name: (group, name)
    for group, (prefix, model) in GROUPS.items()
    for name in model.model_fields
}
"""``sip_port`` → (``sip``, ``port``), for every grouped setting."""


def fold(values: dict[str, Any]) -> dict[str, Any]:
    """Flat names moved into their groups; a flat name wins over the same setting given
    nested in the same place (it is the more specific spelling of one value)."""
    out = dict(values)
    for flat, (group, name) in FLAT.items():
        if flat in out:
            nested = out.get(group)
            nested = dict(nested) if isinstance(nested, dict) else {}
            nested[name] = out.pop(flat)
            out[group] = nested
    return out


class FlatEnvironment(PydanticBaseSettingsSource):
    """``CALLBRIDGE_SIP_PORT`` and friends, below the nested names in priority."""

    def __init__(self, settings_cls: type[BaseSettings], prefix: str) -> None:
        super().__init__(settings_cls)
        self._prefix = prefix

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is read in __call__

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for flat, (group, name) in FLAT.items():
            raw = os.environ.get(self._prefix + flat.upper())
            if raw is None:
                continue
            annotation = str(GROUPS[group][1].model_fields[name].annotation)
            value: Any = json.loads(raw) if annotation.startswith(("list", "dict")) else raw
            found.setdefault(group, {})[name] = value
        return found
