"""The Realtime session's own duties: audio formats, hostile server messages, the key."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.engines.openai.session import Config, RealtimeSession
from flows.interpreter import Listen
from media import g711
from tests.bridge.engines.openai.conftest import HELP_DESK, openai_engine
from tests.fakes.openai_realtime import FakeRealtime


async def until(check: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_g711_callers_reach_the_model_as_they_came(fake: FakeRealtime) -> None:
    session = await openai_engine(fake).open("call-pcmu", HELP_DESK, line="pcmu")
    session.listen(Listen("menu", ("orders", "agent")))
    tone = (8000 * np.sin(np.arange(160) / 3)).astype(np.int16)
    raw = g711.ulaw_encode(tone).tobytes()
    session.push(np.zeros(320, np.int16), raw)  # the house frame is not what is sent
    await until(lambda: fake.of("input_audio_buffer.append"))
    [append] = fake.of("input_audio_buffer.append")
    assert base64.b64decode(append["audio"]) == raw  # no resampling, no re-encoding
    fmt = fake.of("session.update")[-1]["session"]["audio"]["input"]["format"]
    assert fmt == {"type": "audio/pcmu"}
    await session.close()


async def test_other_callers_are_sent_as_24khz_pcm(fake: FakeRealtime) -> None:
    session = await openai_engine(fake).open("call-l16", HELP_DESK, line="l16")
    session.listen(Listen("menu", ("orders", "agent")))
    session.push((3000 * np.sin(np.arange(320) / 5)).astype(np.int16))
    await until(lambda: fake.of("input_audio_buffer.append"))
    audio = base64.b64decode(fake.of("input_audio_buffer.append")[0]["audio"])
    assert len(audio) == 480 * 2  # 20 ms at 24 kHz, 16-bit
    fmt = fake.of("session.update")[-1]["session"]["audio"]["input"]["format"]
    assert fmt == {"type": "audio/pcm", "rate": 24000}
    await session.close()


async def test_the_key_goes_in_the_header_only_and_is_never_logged(
    fake: FakeRealtime, capsys: Any
) -> None:
    fake.api_key = "sk-other"  # ours is refused: 401
    engine = openai_engine(fake)
    session = await engine.open("call-key", HELP_DESK)
    events = session.events()
    try:
        await anext(events)
    except Exception as exc:
        assert "sk-test" not in str(exc) and "unreachable" in str(exc)
    assert "sk-test" not in repr(engine) and "sk-test" not in capsys.readouterr().out
    await session.close()


# -- hostile or odd server messages never escape as anything but a logged line --------

_loop = asyncio.new_event_loop()
_session: RealtimeSession | None = None


def _quiet_session() -> RealtimeSession:
    global _session
    if _session is None:
        config = Config(
            "ws://127.0.0.1:9/v1/realtime", "sk-test", "gpt-realtime", "marin", None, 0.1, 0.0
        )

        async def make() -> RealtimeSession:
            s = RealtimeSession(config, "fuzz", HELP_DESK, None)
            for task in s._socket._tasks:
                task.cancel()
            s.listen(Listen("menu", ("orders", "agent")))
            return s

        _session = _loop.run_until_complete(make())
    return _session


TYPES = [
    "response.created",
    "response.output_audio.delta",
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.function_call_arguments.done",
    "response.done",
    "input_audio_buffer.speech_started",
    "error",
    "rate_limits.updated",
    "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.completed",
    "session.updated",
    "x.y",
]
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.sampled_from([base64.b64encode(b"\x00\x01" * 300).decode(), "AAEC"]),
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "metadata",
                    "status",
                    "usage",
                    "callbridge",
                    "code",
                    "event_id",
                    "name",
                    "remaining",
                ]
            ),
            c,
            max_size=4,
        )
    ),
    max_leaves=10,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {"type": st.sampled_from(TYPES)},
            optional={
                "response_id": st.sampled_from(["r1", "r2", ""]),
                "item_id": st.sampled_from(["i1", "i2"]),
                "delta": VALUES,
                "transcript": VALUES,
                "response": VALUES,
                "error": VALUES,
                "rate_limits": VALUES,
                "arguments": VALUES,
                "name": VALUES,
            },
        ),
        min_size=1,
        max_size=8,
    )
)
def test_any_sequence_of_server_events_is_survived(events: list[dict[str, Any]]) -> None:
    session = _quiet_session()
    for ev in events:
        session._on_message(json.dumps(ev))  # raises nothing


def test_odd_audio_from_the_server_is_trimmed_not_fatal() -> None:
    session = _quiet_session()
    session._on_message(json.dumps({"type": "response.created", "response": {"id": "odd"}}))
    for delta in ("AAEC", "", "AAECAwQ="):  # 3, 0 and 5 bytes
        session._on_message(
            json.dumps(
                {
                    "type": "response.output_audio.delta",
                    "response_id": "odd",
                    "item_id": "i-odd",
                    "delta": delta,
                }
            )
        )
    assert session._bot.received_ms.get("i-odd", 0) == 0  # a few samples: under a millisecond
