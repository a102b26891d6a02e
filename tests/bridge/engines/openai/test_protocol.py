"""The Realtime API's GA events as the bridge builds and reads them."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.engines.openai import protocol as p


def update(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(
        model="gpt-realtime",
        instructions="Be brief.",
        voice="marin",
        input_format="pcmu",
        tools=[],
        tool_choice="auto",
        turn="endpointer",
        transcription_model="gpt-4o-mini-transcribe",
    )
    return p.session_update(**{**args, **overrides})


def test_session_update_is_the_ga_shape() -> None:
    s = update()["session"]
    assert s["type"] == "realtime" and s["output_modalities"] == ["audio"]
    assert s["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert s["audio"]["output"] == {
        "format": {"type": "audio/pcm", "rate": 24000},
        "voice": "marin",
    }
    assert s["audio"]["input"]["turn_detection"] is None  # our endpointer commits
    assert s["audio"]["input"]["transcription"]["model"] == "gpt-4o-mini-transcribe"
    # Nothing of the beta shape.
    for beta in ("modalities", "input_audio_format", "voice", "turn_detection"):
        assert beta not in s


@pytest.mark.parametrize("turn", ["server_vad", "semantic_vad"])
def test_the_models_turn_detection_interrupts_and_answers(turn: str) -> None:
    vad = update(turn=turn, input_format="pcm")["session"]["audio"]["input"]
    assert vad["format"] == {"type": "audio/pcm", "rate": 24000}
    assert vad["turn_detection"]["type"] == turn
    assert vad["turn_detection"]["create_response"] and vad["turn_detection"]["interrupt_response"]


def test_client_events() -> None:
    assert p.append(b"\x01\x02") == {"type": "input_audio_buffer.append", "audio": "AQI="}
    assert p.truncate("item_1", 1200) == {
        "type": "conversation.item.truncate",
        "item_id": "item_1",
        "content_index": 0,
        "audio_end_ms": 1200,
    }
    r = p.response_create("say-3", instructions="Say it.", tool_choice="none")
    assert r["response"] == {
        "metadata": {"callbridge": "say-3"},
        "instructions": "Say it.",
        "tool_choice": "none",
    }
    out = p.function_output("call_9", '{"ok": true}')["item"]
    assert out == {"type": "function_call_output", "call_id": "call_9", "output": '{"ok": true}'}


def test_server_events_are_read_defensively() -> None:
    ev = p.parse(
        json.dumps(
            {
                "type": "response.output_audio.delta",
                "response_id": "r1",
                "item_id": "i1",
                "delta": base64.b64encode(b"abcd").decode(),
            }
        )
    )
    assert ev.audio() == b"abcd" and ev.response_id == "r1"
    with pytest.raises(p.ProtocolError):
        p.parse('{"type": "response.output_audio.delta", "delta": "%%%"}').audio()
    with pytest.raises(p.ProtocolError):
        p.parse("[1, 2]")
    with pytest.raises(p.ProtocolError):
        p.parse(b"\xff\xfe")
    created = p.parse(
        '{"type": "response.created", "response": {"id": "r2", '
        '"metadata": {"callbridge": "reply"}}}'
    )
    assert created.tag == "reply" and created.response_id == "r2"
    call = p.parse('{"type": "response.function_call_arguments.done", "arguments": "not json"}')
    assert p.function_args(call) == {}


def test_usage_and_cost() -> None:
    done = p.parse(
        json.dumps(
            {
                "type": "response.done",
                "response": {
                    "usage": {
                        "input_tokens": 1000,
                        "output_tokens": 500,
                        "input_token_details": {
                            "audio_tokens": 800,
                            "text_tokens": 200,
                            "cached_tokens": 500,
                        },
                        "output_token_details": {"audio_tokens": 400, "text_tokens": 100},
                    }
                },
            }
        )
    )
    figures = p.usage(done)
    assert figures["input_audio_tokens"] == 800 and figures["cached_tokens"] == 500
    # Half the input was cached: 500 cached at 0.40, and half of each input kind at list.
    expected = (500 * 0.40 + 400 * 32 + 100 * 4 + 400 * 64 + 100 * 16) / 1e6
    assert p.cost_usd(figures) == pytest.approx(expected, abs=1e-6)
    assert p.usage(p.parse('{"type": "response.done", "response": {"usage": "x"}}')) == {}


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_parse_takes_anything_and_only_raises_protocol_error(raw: str | bytes) -> None:
    try:
        ev = p.parse(raw)
    except p.ProtocolError:
        return
    for key in ("delta", "item_id", "transcript"):
        with contextlib.suppress(p.ProtocolError):
            ev.text(key)
    try:
        ev.audio()
        _ = (ev.tag, ev.response_id)
        p.usage(ev)
        p.function_args(ev)
    except p.ProtocolError:
        pass


@given(
    st.dictionaries(
        st.sampled_from(
            ["type", "delta", "response", "response_id", "item_id", "arguments", "error"]
        ),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(),
            lambda c: st.lists(c) | st.dictionaries(st.text(), c),
            max_leaves=8,
        ),
    )
)
def test_odd_fields_never_raise_anything_else(data: dict) -> None:
    data.setdefault("type", "response.done")
    if not isinstance(data["type"], str):
        data["type"] = "x"
    ev = p.parse(json.dumps(data))
    for read in (
        lambda: ev.tag,
        lambda: ev.response_id,
        lambda: p.usage(ev),
        lambda: p.function_args(ev),
        ev.audio,
    ):
        with contextlib.suppress(p.ProtocolError):
            read()
