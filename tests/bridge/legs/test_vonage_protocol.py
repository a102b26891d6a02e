"""Vonage message parsing: typed events on good input, a clear ProtocolError on anything
the leg's guard must skip and count."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.legs.vonage import protocol as vp


def test_documented_messages_parse() -> None:
    connected = vp.parse(
        json.dumps(
            {
                "event": "websocket:connected",
                "content-type": "audio/l16; rate=16000",
                "token": "t",
            }
        )
    )
    assert isinstance(connected, vp.Connected)
    assert (connected.rate, connected.token) == (16000, "t")
    dtmf = vp.parse('{"event":"websocket:dtmf","digit":"5","duration":260}')
    assert isinstance(dtmf, vp.Dtmf) and dtmf.key() == "5"
    nested = vp.parse('{"event":"websocket:dtmf","dtmf":{"digit":"#"}}')
    assert isinstance(nested, vp.Dtmf) and nested.key() == "#"
    for other in ('{"event":"websocket:cleared"}', '{"event":"new:thing"}', "{}"):
        assert isinstance(vp.parse(other), vp.Other)


def test_what_vonage_leaves_out_is_judged_where_it_is_used() -> None:
    bare = vp.parse('{"event":"websocket:connected"}')
    assert isinstance(bare, vp.Connected) and (bare.rate, bare.token) == (None, "")
    odd = vp.parse('{"event":"websocket:connected","content-type":5,"token":7}')
    assert isinstance(odd, vp.Connected) and (odd.content_type, odd.token) == ("5", "7")
    other_rate = vp.parse('{"event":"websocket:connected","content-type":"audio/l16;rate=24000"}')
    assert isinstance(other_rate, vp.Connected) and other_rate.rate is None


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("{oops", "text frame is not JSON"),
        ("\udcff", "text frame is not JSON"),
        (b"\xff\xfe", "text frame is not JSON"),
        ("[" * 100_000, "text frame is not JSON"),
        ("[1]", "text frame is not a JSON object"),
        ('"websocket:connected"', "text frame is not a JSON object"),
    ],
)
def test_bad_messages_are_protocol_errors(raw: str | bytes, why: str) -> None:
    with pytest.raises(vp.ProtocolError, match=why):
        vp.parse(raw)


@pytest.mark.parametrize(
    "body",
    [
        {"digit": "55"},
        {"digit": ""},
        {"digit": "A"},
        {"digit": 5},
        {"digit": None, "dtmf": {"digit": "5"}},  # the flat one, when there, is the one
        {},
        {"dtmf": "5"},
        {"dtmf": {"digit": ["5"]}},
    ],
)
def test_bad_dtmf_digits_are_protocol_errors(body: dict[str, object]) -> None:
    msg = vp.parse(json.dumps({"event": "websocket:dtmf", **body}))
    assert isinstance(msg, vp.Dtmf)
    with pytest.raises(vp.ProtocolError, match="bad dtmf digit"):
        msg.key()


def test_audio_is_whole_samples_and_not_too_much_at_once() -> None:
    assert vp.audio(bytes(640), 640) == bytes(640)
    assert vp.audio(bytes(640 * vp.MAX_FRAMES), 640)
    for bad in (bytes(1), bytes(641), bytes(640 * vp.MAX_FRAMES + 2)):
        with pytest.raises(vp.ProtocolError, match=f"binary frame of {len(bad)} bytes"):
            vp.audio(bad, 640)


def test_commands_are_built_exactly() -> None:
    assert json.loads(vp.clear()) == {"action": "clear"}
    assert json.loads(vp.notify("b1")) == {"action": "notify", "payload": {"reply_id": "b1"}}


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    event=st.sampled_from(["websocket:connected", "websocket:dtmf", "websocket:notify", "x"])
    | JSONISH,
    body=st.dictionaries(
        st.sampled_from(["content-type", "token", "digit", "dtmf", "payload"]), JSONISH, max_size=3
    ),
)
def test_fuzzed_messages_parse_or_raise_protocol_error(event: Any, body: dict[str, Any]) -> None:
    msg = vp.parse(json.dumps({"event": event, **body}))  # an object: always parses
    if isinstance(msg, vp.Connected):
        assert msg.rate in (None, 8000, 16000)
    if isinstance(msg, vp.Dtmf):
        with contextlib.suppress(vp.ProtocolError):
            assert msg.key() in vp.DIGITS


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=64) | st.text(max_size=64))
def test_fuzzed_bytes_never_raise_anything_else(raw: bytes | str) -> None:
    with contextlib.suppress(vp.ProtocolError):
        vp.parse(raw)
