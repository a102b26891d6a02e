"""Each call's recogniser runs in a process of its own, forked from a warmed template:
the bridge's event loop never waits for a decoder, a call's recogniser starts as the
warm-up left it whatever earlier calls heard, and a decoder that crashes or hangs
takes down one call, not the bridge."""

from __future__ import annotations

import asyncio
import io
import os
import signal
from collections.abc import Iterator

import numpy as np
import pytest

from bridge.engines.base import EngineError, EngineSession
from bridge.engines.local import engine as local_engine
from bridge.engines.local.engine import LocalEngine, LocalSession
from bridge.engines.local.grammar import Constraint, words_of
from bridge.engines.local.recognition_process import RecognitionProcess
from bridge.engines.local.recognition_worker import Worker, receive, send, serve
from flows.interpreter import Interpreter, Listen
from harness.audio import VOICES, synthesize
from media.format import HOUSE_FRAME
from media.line import phone_line
from tests.bridge.conversation.calls import CARDS


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    engine = LocalEngine(prepare=False)
    yield engine
    engine.template().stop()


def menu() -> Listen:
    listen = Interpreter(CARDS).start()[-1]
    assert isinstance(listen, Listen)
    return listen


def say(session: EngineSession, text: str) -> None:
    pcm = phone_line(synthesize(text, VOICES[1]))
    for at in range(0, len(pcm) - HOUSE_FRAME + 1, HOUSE_FRAME):
        session.push(pcm[at : at + HOUSE_FRAME])


async def open_session(engine: LocalEngine) -> LocalSession:
    """A call at its menu (its first turn forks its recogniser)."""
    session = await engine.open("call-1", CARDS)
    assert isinstance(session, LocalSession) and session.process is None
    session.listen(menu())
    return session


def process_of(session: LocalSession) -> RecognitionProcess:
    assert session.process is not None
    return session.process


async def pid_of(session: LocalSession) -> int:
    return int(await asyncio.wrap_future(process_of(session).forked))


async def test_a_call_that_ends_during_the_greeting_forks_no_recogniser(
    engine: LocalEngine,
) -> None:
    session = await engine.open("call-0", CARDS)
    assert isinstance(session, LocalSession)
    assert (await session.finish()).text == "" and await session.partial() == ""
    await session.close()
    assert session.process is None


async def test_a_call_is_recognised_in_a_process_of_its_own(engine: LocalEngine) -> None:
    session = await open_session(engine)
    assert await pid_of(session) != os.getpid() and process_of(session).alive
    say(session, "I lost my card")
    assert "card" in await session.partial()
    heard = await session.finish()
    assert words_of(heard.text) == ["i", "lost", "my", "card"] and heard.decode_ms > 0
    await session.close()


async def test_each_call_starts_from_the_warm_up_whatever_the_last_call_heard(
    engine: LocalEngine,
) -> None:
    """A decoder's normalisation follows its caller's voice and line; a reused one would
    start the next call tuned to the last caller (order-dependent recognition)."""
    template = engine.template()
    warmed = await asyncio.wrap_future(template.channel.ask("normalisation"))
    first = await open_session(engine)
    rng = np.random.default_rng(1)
    loud = (phone_line(synthesize("Yes, that is correct.", VOICES[4])) * 3).clip(-32768, 32767)
    first.push((loud + rng.normal(0, 2000, len(loud))).astype(np.int16))
    await first.finish()
    assert await first._ask(process_of(first), "normalisation") != warmed
    await first.close()
    second = await open_session(engine)
    assert await pid_of(second) != await pid_of(first)
    assert await second._ask(process_of(second), "normalisation") == warmed
    say(second, "what is my balance")
    assert words_of((await second.finish()).text) == ["what", "is", "my", "balance"]
    await second.close()
    await asyncio.to_thread(process_of(first).ended.wait, 5)
    assert process_of(first).ended.is_set()  # a call's process ends with the call


async def test_a_crashed_recogniser_fails_its_own_call_only(engine: LocalEngine) -> None:
    crashed, other = await open_session(engine), await open_session(engine)
    assert await pid_of(crashed) != await pid_of(other)
    os.kill(await pid_of(crashed), signal.SIGKILL)  # as a segfault in the decoder would
    say(crashed, "I lost my card")  # frames for a dead process are dropped, not queued
    say(other, "I lost my card")
    with pytest.raises(EngineError, match="recognition"):
        await crashed.finish()
    assert words_of((await other.finish()).text) == ["i", "lost", "my", "card"]
    await crashed.close()
    await other.close()
    again = await open_session(engine)  # the next call is served as ever
    assert process_of(again).alive
    await again.close()


async def test_a_command_that_fails_fails_the_call(engine: LocalEngine) -> None:
    session = await open_session(engine)
    process_of(session).post("begin", Constraint("jsgf", "this is not a grammar"))
    with pytest.raises(EngineError, match="recognition failed"):
        await session.finish()
    await session.close()


async def test_a_recogniser_that_stops_answering_is_killed(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_engine, "ANSWER_TIMEOUT_S", 0.5)
    session = await open_session(engine)
    os.kill(await pid_of(session), signal.SIGSTOP)
    with pytest.raises(EngineError, match="stopped answering"):
        await session.finish()
    await asyncio.sleep(0.2)
    assert not process_of(session).alive
    await asyncio.to_thread(process_of(session).ended.wait, 5)
    assert process_of(session).ended.is_set()  # killed, not left stopped
    await session.close()


async def test_a_dead_template_is_started_again(engine: LocalEngine) -> None:
    old = engine.template()
    os.kill(old.pid, signal.SIGKILL)
    await asyncio.to_thread(old.channel.ended.wait, 5)
    session = await open_session(engine)
    assert engine.template() is not old and process_of(session).alive
    say(session, "I lost my card")
    assert words_of((await session.finish()).text) == ["i", "lost", "my", "card"]
    await session.close()


def test_the_worker_answers_in_order_and_reports_what_fails_unasked() -> None:
    commands = io.BytesIO()
    for command in [("feed", b"\0\0"), ("partial",), ("dance",), ("begin", None)]:
        send(commands, command)
    commands.seek(0)
    answers = io.BytesIO()
    serve(commands, answers, Worker())  # returns at the end of its input, as when the bridge goes
    answers.seek(0)
    got = [receive(answers) for _ in range(4)]
    assert [kind for kind, _ in got] == ["failed", "error", "failed", "failed"]
    assert "before the recogniser was warmed" in got[1][1]
    assert receive(answers) is None
