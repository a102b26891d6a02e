"""The call's socket to the Realtime API against the fake service (``fake``, from this
directory's conftest): what goes first, what a slow or dropped socket does to the
queue, and how it gives up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bridge.engines.base import EngineError
from bridge.engines.openai import protocol as p
from bridge.engines.openai.socket import MAX_QUEUED_AUDIO, RealtimeSocket
from tests.fakes.openai_realtime import FakeRealtime

SETTINGS = {"type": "session.update", "session": {"type": "realtime", "instructions": "hi"}}


class Peer:
    """What the conversation side of a socket sees."""

    def __init__(self) -> None:
        self.messages: list[str | bytes] = []
        self.resumed = 0
        self.failures: list[EngineError] = []
        self.settings_asked = 0
        self._socket: RealtimeSocket | None = None

    def settings(self) -> dict[str, Any]:
        self.settings_asked += 1
        return SETTINGS

    def socket(self, url: str, reconnect_s: float = 1.0) -> RealtimeSocket:
        self._socket = RealtimeSocket(
            f"{url}?model=gpt-realtime",
            "sk-test",
            0.5,
            reconnect_s,
            name="test",
            settings=self.settings,
            on_message=self.messages.append,
            on_resumed=self.on_resumed,
            on_failed=self.failures.append,
        )
        return self._socket

    def on_resumed(self) -> None:
        """As the conversation does: before the new socket sends a thing, drop what
        belonged to the old session (it asks again for what it still wants)."""
        self.resumed += 1
        assert self._socket is not None
        self._socket.forget_lost()


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_the_settings_go_before_anything_queued_while_connecting(
    fake: FakeRealtime,
) -> None:
    peer = Peer()
    socket = peer.socket(fake.url)
    socket.send(p.clear_input())  # queued before the socket is even open
    try:
        await until(lambda: len(fake.received) == 2)
        assert [e["type"] for e in fake.received] == [
            "session.update",
            "input_audio_buffer.clear",
        ]
        await until(lambda: any(b'"input_audio_buffer.cleared"' in _b(m) for m in peer.messages))
        assert not socket.sending
    finally:
        await socket.close()


async def test_a_socket_that_is_not_up_drops_new_audio_beyond_its_queue_not_requests(
    fake: FakeRealtime,
) -> None:
    fake.mute = True  # accepts the upgrade, never says session.created
    peer = Peer()
    socket = peer.socket(fake.url)
    try:
        for _ in range(MAX_QUEUED_AUDIO + 30):
            socket.send(p.append(b"\xff" * 160), audio=True)
        socket.send(p.commit())
        assert socket.dropped_audio == 30
        assert len(socket._out) == MAX_QUEUED_AUDIO + 1  # the commit is still there
    finally:
        await socket.close()


async def test_a_dropped_socket_is_reopened_with_fresh_settings_and_loses_old_requests(
    fake: FakeRealtime,
) -> None:
    peer = Peer()
    socket = peer.socket(fake.url)
    try:
        await until(lambda: len(fake.of("session.update")) == 1)
        fake.mute = True  # the next connection hangs until we have queued what we want
        await fake.drop()
        await until(lambda: fake.connections == 2)
        socket.send(p.append(b"\xff" * 160), audio=True)
        socket.send(p.response_create("reply"))
        socket.send(p.clear_input())
        fake.mute = False
        await fake.drop()  # the hung one: the socket tries again and gets in
        await until(lambda: peer.resumed == 1)
        await until(lambda: not socket.sending)
        await until(lambda: fake.received[-1]["type"] == "input_audio_buffer.clear")
        after = fake.received[1:]
        assert [e["type"] for e in after] == ["session.update", "input_audio_buffer.clear"]
        assert peer.settings_asked == 2 and peer.failures == []
    finally:
        await socket.close()


async def test_a_service_that_stays_away_fails_the_socket_once_without_the_key(
    fake: FakeRealtime,
) -> None:
    fake.refuse = True
    peer = Peer()
    socket = peer.socket(fake.url, reconnect_s=0)
    try:
        await until(lambda: bool(peer.failures))
        assert "unreachable" in str(peer.failures[0]) and "sk-test" not in str(peer.failures[0])
        socket.fail(EngineError("again"))
        socket.send(p.commit())
        assert len(peer.failures) == 1 and socket.failed is peer.failures[0]
        assert not socket.sending
    finally:
        await socket.close()


def _b(m: str | bytes) -> bytes:
    return m if isinstance(m, bytes) else m.encode()
