"""The fake Realtime server, an openai engine pointed at it, and calls through the runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bridge.conversation.lookups import StaticLookup
from bridge.engines.openai import OpenAIEngine
from bridge.events.schema import Envelope
from bridge.legs.virtual import Step, VirtualLeg, run_call
from bridge.settings import Settings
from flows.loader import load
from tests.bridge.conversation.calls import TUESDAY_10AM, Call, engine
from tests.fakes.openai_realtime import FakeRealtime

HELP_DESK = load(Path(__file__).with_name("help_desk.yaml"))
ORDER_URL = "http://shop.internal/orders/A12"


@pytest.fixture
async def fake() -> AsyncIterator[FakeRealtime]:
    server = FakeRealtime()
    await server.start()
    yield server
    await server.stop()


def openai_engine(fake: FakeRealtime, **settings: Any) -> OpenAIEngine:
    s = Settings(
        engine="openai",
        openai_api_key="sk-test",
        openai_realtime_url=fake.url,
        openai_reconnect_s=settings.pop("openai_reconnect_s", 0.5),
        **settings,
    )
    return OpenAIEngine(s, local=engine())


async def call(
    fake: FakeRealtime,
    steps: list[Step],
    *,
    flow: Any = HELP_DESK,
    fallback: bool = True,
    answers: dict[str, Any] | None = None,
    engine_settings: dict[str, Any] | None = None,
    **leg_options: Any,
) -> Call:
    events: list[Envelope] = []
    leg = VirtualLeg(steps, **leg_options)
    runtime = await run_call(
        flow,
        openai_engine(fake, **(engine_settings or {})),
        leg,
        emit=events.append,
        lookup=StaticLookup(answers or {ORDER_URL: {"order": "A12", "status": "shipped"}}),
        clock=lambda: TUESDAY_10AM,
        fallback_engine=engine() if fallback else None,
    )
    return Call(runtime, leg, events)
