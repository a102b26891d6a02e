"""The bot's voice on its own: prompts in order, what a barge-in says was heard, failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from bridge.conversation.speaker import Speaker
from bridge.engines.base import EngineError, Spoken
from media.format import FRAME_MS, HOUSE_FRAME
from media.playout import Playout


def frames(n: int, level: int = 1000) -> np.ndarray:
    return np.full(n * HOUSE_FRAME, level, np.int16)


class Voice:
    """A synthesiser: each word of a prompt is 5 frames (100 ms), in one chunk per word."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.fail_on = ""

    async def speak(self, text: str, sensitive: bool) -> AsyncIterator[Spoken]:
        self.said.append(text)
        for word in text.split():
            if word == self.fail_on:
                raise EngineError("synthesis failed")
            await asyncio.sleep(0)
            yield Spoken(frames(5), 2.5, item=f"item-{text}")


def speaker(voice: Voice) -> tuple[Speaker, asyncio.Event, list[float], list[str]]:
    ready, synth, failed = asyncio.Event(), [], []
    s = Speaker(
        Playout(HOUSE_FRAME), voice.speak, name="test", audio_ready=ready,
        on_synthesised=synth.append, on_failed=failed.append,
    )  # fmt: skip
    s.start()
    return s, ready, synth, failed


async def settle(s: Speaker) -> None:
    for _ in range(200):
        if s.quiet:
            return
        await asyncio.sleep(0)


async def test_prompts_are_said_in_order_and_each_reports_when_it_ends() -> None:
    voice = Voice()
    s, ready, synth, _ = speaker(voice)
    s.say("one two", False)
    s.say("three", True)
    assert s.busy
    await settle(s)
    assert voice.said == ["one two", "three"] and ready.is_set() and synth == [2.5] * 3
    ended, ms = [], 0
    while s.busy:
        frame, done = s.next_frame(ms)
        assert frame is not None
        ended += [(u.text, u.sensitive, u.started_ms) for u in done]
        ms += FRAME_MS
    assert ended == [("one two", False, 0), ("three", True, 200)]
    assert s.next_frame(ms) == (None, [])
    s.stop()


async def test_a_cut_reports_what_was_heard_net_of_the_carriers_buffer() -> None:
    voice = Voice()
    s, *_ = speaker(voice)
    s.say("one two three four", False)  # 400 ms
    await settle(s)
    for ms in range(0, 300, FRAME_MS):  # 300 ms handed to the carrier ...
        s.next_frame(ms)
    s.say("never heard", False)
    heard = s.cut(lambda: 100)  # ... of which it still held 100 ms
    assert [(h.item, h.played_ms, h.total_ms) for h in heard] == [
        ("item-one two three four", 200, 400)
    ]
    assert heard[0].utterance is not None and heard[0].utterance.text == "one two three four"
    assert not s.busy and s.next_frame(300) == (None, [])  # silent at once
    await settle(s)
    assert voice.said == ["one two three four"]  # the queued prompt went with the cut
    s.say("again", False)  # and the voice speaks again afterwards
    await settle(s)
    assert voice.said[-1] == "again" and s.busy
    s.stop()


async def test_a_model_utterance_streams_in_and_ends_when_it_says_so() -> None:
    s, *_ = speaker(Voice())
    assert s.stream("item_1", frames(2)) is True
    assert s.stream("item_1", frames(1)) is False
    s.finish("item_1", "hello there")
    done = [u.text for ms in range(0, 80, FRAME_MS) for u in s.next_frame(ms)[1]]
    assert done == ["hello there"]
    s.stop()


async def test_a_synthesis_that_fails_is_reported_once_and_the_voice_stops() -> None:
    voice = Voice()
    voice.fail_on = "boom"
    s, _, _, failed = speaker(voice)
    s.say("hello boom", False)
    s.say("after", False)
    await settle(s)
    for _ in range(20):
        await asyncio.sleep(0)
    assert failed == ["synthesis failed"] and voice.said == ["hello boom"]
    s.silence()
    assert not s.busy
