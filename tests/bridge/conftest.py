"""Fixtures of the bridge under uvicorn that tests beyond the legs use too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from harness.servers import free_udp_port
from tests.bridge.legs.conftest import Bridge, running_bridge


@pytest.fixture
def sip_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Extra settings for ``sip_bridge`` (parametrize indirectly to change them)."""
    return getattr(request, "param", {})


@pytest.fixture
async def sip_bridge(
    tmp_path: Path,
    redis_url: str,
    stream_name: str,
    monkeypatch: pytest.MonkeyPatch,
    sip_settings: dict[str, Any],
) -> AsyncIterator[Bridge]:
    """The bridge with its SIP agent on a free UDP port of loopback."""
    async with running_bridge(
        tmp_path,
        redis_url,
        stream_name,
        monkeypatch,
        sip_port=free_udp_port(),
        sip_bind="127.0.0.1",
        **sip_settings,
    ) as b:
        yield b
