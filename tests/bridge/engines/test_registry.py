"""Choosing a call's speech engine: built in, or a plug-in by import path."""

from __future__ import annotations

import pytest

from bridge.engines.registry import engine_for
from bridge.settings import Settings
from harness.trivial_engine import TrivialEngine


def test_a_plug_in_engine_by_import_path_one_object_per_process() -> None:
    s = Settings(engine="harness.trivial_engine:TrivialEngine")
    engine = engine_for(s, "any_flow")
    assert isinstance(engine, TrivialEngine)
    assert engine_for(s, "another_flow") is engine


def test_per_flow_engines() -> None:
    s = Settings(flow_engines={"cards": "harness.trivial_engine:TrivialEngine"})
    assert isinstance(engine_for(s, "cards"), TrivialEngine)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("tests.fakes.no_such_module:Engine", "cannot be loaded"),
        ("harness.trivial_engine:NoSuchClass", "cannot be loaded"),
        ("harness.trivial_engine:TrivialSession", "is not a SpeechEngine"),
    ],
)
def test_an_engine_that_cannot_be_made_is_a_clear_error(name: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        engine_for(Settings(engine=name), "f")
