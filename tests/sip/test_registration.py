"""Registration mode: the agent registers with a registrar (sipp) using digest auth."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.peers import sipp
from harness.servers import free_udp_port
from sip.agent import SipAgent
from sip.config import SipConfig

pytestmark = pytest.mark.skipif(not sipp.available(), reason="sipp is not installed")


@pytest.mark.parametrize(("password", "registered"), [("s3cret", True), ("wrong", False)])
def test_registers_with_digest_auth(tmp_path: Path, password: str, registered: bool) -> None:
    port = free_udp_port()
    registrar = sipp.registrar(tmp_path, port, "bot", "s3cret")
    agent = SipAgent(
        SipConfig(
            port=free_udp_port(),
            bind="127.0.0.1",
            registrar=f"sip:127.0.0.1:{port}",
            user="bot",
            password=password,
        ),
        lambda call: None,
    )
    agent.start()
    try:
        for _ in range(100):  # until the registrar's final answer
            if agent.registration[0] >= 200:
                break
            time.sleep(0.05)
        assert agent.registered.is_set() is registered, agent.registration
        assert agent.registration[0] == (200 if registered else 403)
    finally:
        agent.stop()
        registrar.wait(20)
    assert registrar.returncode == 0, registrar.stderr.read() if registrar.stderr else ""
