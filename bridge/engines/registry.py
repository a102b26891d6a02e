"""Which speech engine runs a call: `CALLBRIDGE_ENGINE`, or per flow `CALLBRIDGE_FLOW_ENGINES`.

An engine is ``local`` or ``openai`` (built in) or a plug-in named by its import
path, ``package.module:Class``, a :class:`SpeechEngine` subclass made with no
arguments. An engine that needs a service (openai) has the local engine as its
fallback unless ``CALLBRIDGE_OPENAI_FALLBACK=flow``.
"""

from __future__ import annotations

import importlib

from bridge.engines.base import SpeechEngine
from bridge.settings import Settings

_engines: dict[str, SpeechEngine] = {}


def engine_name(settings: Settings, flow_name: str) -> str:
    return settings.flow_engines.get(flow_name, settings.engine)


def engine_for(settings: Settings, flow_name: str) -> SpeechEngine:
    """One engine object per kind and process (it holds models and worker pools)."""
    name = engine_name(settings, flow_name)
    return _engine(name, settings)


def fallback_for(settings: Settings, engine: SpeechEngine) -> SpeechEngine | None:
    """The engine a call goes on with when ``engine``'s service stays away."""
    if engine.name == "openai" and settings.openai.fallback == "local":
        return _engine("local", settings)
    return None


def _engine(name: str, settings: Settings) -> SpeechEngine:
    key = name
    if name == "openai":  # one per service configuration (a test may point at another)
        openai = settings.openai
        secret = openai.api_key and openai.api_key.get_secret_value()
        key = repr([name, openai.model_dump(exclude={"api_key"}), secret])
    if key not in _engines:
        _engines[key] = _make(name, settings)
    return _engines[key]


def _make(name: str, settings: Settings) -> SpeechEngine:
    if name == "local":
        from bridge.engines.local.engine import LocalEngine

        return LocalEngine()
    if name == "openai":
        from bridge.engines.openai import OpenAIEngine

        return OpenAIEngine(settings, local=_engine("local", settings))
    module, _, attr = name.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"speech engine {name!r} cannot be loaded: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, SpeechEngine)):
        raise ValueError(f"speech engine {name!r} is not a SpeechEngine")
    return cls()
