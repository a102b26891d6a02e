"""Calls run by the openai engine against the fake Realtime server, through the runtime."""

from __future__ import annotations

import time

import numpy as np

from bridge.legs.virtual import Keys
from tests.bridge.conversation.calls import script
from tests.bridge.engines.openai.conftest import HELP_DESK, call
from tests.fakes.openai_realtime import FakeRealtime, Reply


def voiced_ms(frames: list[np.ndarray]) -> int:
    return 20 * sum(1 for f in frames if np.abs(f.astype(np.int32)).max() > 500)


async def test_the_flow_runs_on_the_model_tools_and_all(fake: FakeRealtime) -> None:
    fake.replies.extend(
        [
            Reply(call="answer", args={"intent": "orders"}, heard="I want to ask about my parcel"),
            Reply(call="order_status", args={"order_id": "A12"}, heard="where is order A12"),
            Reply(say="Your order A12 has shipped."),
            Reply(say="You're welcome.", call="done", heard="that's all thank you"),
        ]
    )
    steps = [
        *script("I want to ask about my parcel"),
        Keys("1234"),
        *script("where is order A12", "that's all thank you"),
    ]
    c = await call(fake, steps)

    assert c.path == ["greet", "menu", "account", "orders", "bye"]
    assert c.runtime.result.outcome == "completed"
    # Each prompt of the flow was spoken by the model, word for word, as asked.
    says = [
        e["response"]["instructions"]
        for e in fake.of("response.create")
        if "instructions" in e["response"]
    ]
    assert any("What can I do for you today?" in s for s in says)
    assert any("Thanks for calling. Goodbye." in s for s in says)
    # The sensitive state never reached the model: not its prompt, not the digits.
    sent = str(fake.received)
    assert "account number" not in sent and "1234" not in sent
    # The tool ran as a lookup and its answer went back to the model.
    outputs = [
        e["item"]["output"]
        for e in fake.of("conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    ]
    assert any('"shipped"' in o for o in outputs)
    assert [e.tool for e in c.of("engine.tool")] == ["order_status"]
    # The model's own words reached the caller and the transcript.
    bot = c.said("bot")
    assert "Your order A12 has shipped." in bot and "You're welcome." in bot
    assert "where is order A12" in c.said("caller")
    assert [e.intent for e in c.of("flow.intent")] == ["orders", "done"]
    usage = c.of("engine.usage")
    assert usage and all(u.figures["cost_usd"] > 0 for u in usage)
    assert any(u.figures.get("first_audio_ms", -1) >= 0 for u in usage)
    assert usage[-1].rate_limits == {"requests": 999, "tokens": 99000}
    assert voiced_ms(c.leg.bot_audio) > 8000  # prompts and replies, in real audio


async def test_barge_in_cancels_and_truncates_to_what_was_heard(fake: FakeRealtime) -> None:
    fake.replies.append(Reply(call="answer", args={"intent": "agent"}, heard="a person please"))
    steps = script("a person please")
    steps[0].barge_in_after_ms = 1500  # over the greeting
    c = await call(fake, steps)

    [barge] = c.of("call.barge_in")
    # The greeting is cut where the caller stopped hearing it; the menu prompt queued
    # behind it was never heard, so the model is told it said none of it.
    cut, *unheard = sorted(fake.of("conversation.item.truncate"), key=lambda e: -e["audio_end_ms"])
    assert cut["audio_end_ms"] == barge.played_ms
    assert [e["audio_end_ms"] for e in unheard] == [0]
    # What the caller heard of the greeting before the bot fell silent: the same figure.
    loud = [
        i
        for i, f in enumerate(c.leg.bot_audio[: (barge.at_ms or 0) // 20 + 15])
        if np.abs(f.astype(np.int32)).max() > 500
    ]
    heard = (loud[-1] + 1) * 20  # the greeting starts the call: its last audible frame
    assert abs(cut["audio_end_ms"] - heard) <= 100, (cut, heard)
    assert 1500 <= cut["audio_end_ms"] <= 2200
    assert not [e for e in fake.errors if e != "response_cancel_not_active"]
    assert c.path[-1] == "to_agent" and c.leg.transfers
    # The greeting is in the transcript as far as it was heard.
    greeting = next(e for e in c.of("transcript.final") if e.speaker == "bot")
    assert greeting.interrupted and greeting.text.startswith("Hello")


def longest_silence_ms(frames: list[np.ndarray], start: int, end: int) -> int:
    run = best = 0
    for f in frames[start:end]:
        run = run + 1 if np.abs(f.astype(np.int32)).max() <= 500 else 0
        best = max(best, run)
    return best * 20


async def test_a_socket_dropped_mid_reply_reconnects_within_two_seconds(
    fake: FakeRealtime,
) -> None:
    fake.replies.extend(
        [
            Reply(call="answer", args={"intent": "orders"}, heard="my parcel"),
            Reply(say="Sure. Which order is it about? Tell me its number.", heard="my order"),
        ]
    )
    fake.drop_after_deltas, fake.drop_prompts = 4, False  # in the model's own reply
    steps = [*script("my parcel"), Keys("1234"), *script("I have a question about my order")]
    c = await call(fake, steps, realtime=True)

    assert fake.connections == 2
    bot = c.said("bot")
    assert bot.count("Sure. Which order is it about? Tell me its number.") == 1
    assert c.said("caller").count("my order") == 1  # the replayed turn is not heard twice
    # From the caller's end of speech to the end of the reply, never more than 2 s quiet.
    reply_at = next(
        i
        for i, e in enumerate(c.events)
        if e.type == "transcript.final" and e.text.startswith("Sure")
    )
    end_frame = (c.events[reply_at].end_ms or 0) // 20
    spoke_at = max(e.end_ms for e in c.of("transcript.final") if e.speaker == "caller") // 20
    assert longest_silence_ms(c.leg.bot_audio, spoke_at + 40, end_frame) <= 2000
    # The rebuilt session knew the call so far.
    rebuilt = fake.of("session.update")[-1]["session"]["instructions"]
    assert "connection was restored" in rebuilt and "my parcel" in rebuilt
    assert not c.of("engine.failed")


async def test_when_the_service_stays_away_the_call_goes_on_locally(fake: FakeRealtime) -> None:
    fake.replies.append(Reply(say="Let me see what I can do for you today.", heard="hello"))
    fake.drop_after_deltas, fake.drop_prompts, fake.drop_refuses_after = 2, False, True
    c = await call(fake, script("hello there"), realtime=True)

    [failed] = c.of("engine.failed")
    assert failed.fallback == "local" and "unreachable" in failed.reason
    bot = c.said("bot")
    # The fallback prompt, then the state's own question again, in the local voice.
    assert "Sorry, we're having technical trouble." in bot
    assert bot[-1] == "What can I do for you today?"
    failed_at = next(i for i, e in enumerate(c.events) if e.type == "engine.failed")
    after = [e for e in c.events[failed_at:] if e.type == "transcript.final"]
    spoke_at = max(e.end_ms for e in c.of("transcript.final") if e.speaker == "caller") // 20
    assert longest_silence_ms(c.leg.bot_audio, spoke_at + 40, (after[-1].end_ms or 0) // 20) <= 2000
    assert c.runtime.engine_name == "local"


async def test_a_rejected_session_takes_the_flows_fallback(fake: FakeRealtime) -> None:
    fake.reject_session = True
    c = await call(fake, [], fallback=False)

    [failed] = c.of("engine.failed")
    assert "rejected" in failed.reason and failed.fallback == "transfer"
    assert c.said("bot")[0] == "Sorry, we're having technical trouble."
    assert c.path[-1] == "to_agent" and c.leg.transfers


async def test_with_server_vad_the_model_ends_the_turns(fake: FakeRealtime) -> None:
    flow = HELP_DESK.model_copy(
        update={"realtime": HELP_DESK.realtime.model_copy(update={"turn_detection": "server_vad"})}
    )
    fake.replies.append(Reply(call="answer", args={"intent": "agent"}, heard="a person please"))
    c = await call(fake, script("a person please"), flow=flow)

    assert c.path[-1] == "to_agent" and c.leg.transfers
    turns = [u["session"]["audio"]["input"]["turn_detection"] for u in fake.of("session.update")]
    vad = turns[0]
    assert vad["type"] == "server_vad" and vad["interrupt_response"] is True
    assert turns[-1] is None  # bridged to the agent: the model only listens
    assert not fake.of("input_audio_buffer.commit")  # the server committed the turn
    # Every caller frame until the transfer went to the model, silence too.
    appended = len(fake.of("input_audio_buffer.append"))
    assert appended >= 0.9 * len(c.leg.caller_audio)


async def test_a_service_that_never_answers_times_out_and_the_call_goes_on(
    fake: FakeRealtime,
) -> None:
    fake.mute = True
    started = time.monotonic()
    c = await call(
        fake,
        [],
        realtime=True,
        engine_settings={"openai_connect_timeout_s": 0.5, "openai_reconnect_s": 0},
    )
    [failed] = c.of("engine.failed")
    assert failed.fallback == "local" and "did not start" in failed.reason
    # The caller heard the fallback prompt and then the flow's question, in the local voice
    # (the greeting had been handed to the model when it failed).
    assert c.said("bot")[:2] == [
        "Sorry, we're having technical trouble.",
        "What can I do for you today?",
    ]
    first_sound = next(i for i, f in enumerate(c.leg.bot_audio) if np.abs(f).max() > 500)
    assert first_sound * 20 <= 2000  # never more than 2 s of silence at the start
    assert time.monotonic() - started < 60
