"""Which speech engine runs a call: `CALLBRIDGE_ENGINE`, or per flow `CALLBRIDGE_FLOW_ENGINES`."""

from __future__ import annotations

from bridge.engines.base import SpeechEngine
from bridge.settings import Settings

_engines: dict[str, SpeechEngine] = {}


def engine_name(settings: Settings, flow_name: str) -> str:
    return settings.flow_engines.get(flow_name, settings.engine)


def engine_for(settings: Settings, flow_name: str) -> SpeechEngine:
    """One engine object per kind and process (it holds models and worker pools)."""
    name = engine_name(settings, flow_name)
    if name not in _engines:
        if name == "local":
            from bridge.engines.local import LocalEngine

            _engines[name] = LocalEngine()
        else:  # settings validation admits only known names
            raise ValueError(f"unknown speech engine {name!r}")
    return _engines[name]
