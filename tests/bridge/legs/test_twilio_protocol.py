"""Twilio message parsing: exact on good input, a clear ProtocolError on anything else."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.legs.twilio import protocol as tp


def test_documented_messages_parse() -> None:
    start = tp.parse(
        json.dumps(
            {
                "event": "start",
                "sequenceNumber": "1",
                "streamSid": "MZ1",
                "start": {
                    "streamSid": "MZ1",
                    "accountSid": "AC1",
                    "callSid": "CA1",
                    "tracks": ["inbound"],
                    "customParameters": {"token": "t"},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )
    )
    assert isinstance(start, tp.Start) and start.start.customParameters == {"token": "t"}
    media = tp.parse(
        '{"event":"media","sequenceNumber":"3","streamSid":"MZ1","media":'
        '{"track":"inbound","chunk":"2","timestamp":"40","payload":"//8="}}'
    )
    assert isinstance(media, tp.Media) and media.audio() == b"\xff\xff"
    assert isinstance(tp.parse('{"event":"dtmf","dtmf":{"digit":"5"}}'), tp.Dtmf)
    assert isinstance(tp.parse('{"event":"mark","mark":{"name":"b1"}}'), tp.Mark)
    assert isinstance(tp.parse('{"event":"stop","stop":{"callSid":"CA1"}}'), tp.Stop)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1,2]",
        '{"event":"bogus"}',
        '{"event":"media"}',
        '{"event":"dtmf","dtmf":{"digit":"55"}}',
        '{"event":"start","start":{}}',
        "\udcff",
    ],
)
def test_bad_messages_are_protocol_errors(raw: str) -> None:
    with pytest.raises(tp.ProtocolError):
        tp.parse(raw)


def test_bad_payloads_are_protocol_errors() -> None:
    for payload in ("###", base64.b64encode(b"\xff" * (tp.MAX_PAYLOAD + 10)).decode()):
        msg = tp.parse(json.dumps({"event": "media", "media": {"payload": payload}}))
        assert isinstance(msg, tp.Media)
        with pytest.raises(tp.ProtocolError):
            msg.audio()


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(
    event=st.sampled_from(["connected", "start", "media", "dtmf", "mark", "stop", "x"]),
    body=st.dictionaries(
        st.sampled_from(["start", "media", "dtmf", "mark", "stop", "streamSid"]),
        JSONISH,
        max_size=3,
    ),
)
def test_fuzzed_messages_parse_or_raise_protocol_error(event: str, body: dict[str, Any]) -> None:
    try:
        msg = tp.parse(json.dumps({"event": event, **body}))
    except tp.ProtocolError:
        return
    if isinstance(msg, tp.Media):
        with contextlib.suppress(tp.ProtocolError):
            msg.audio()


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=64) | st.text(max_size=64))
def test_fuzzed_bytes_never_raise_anything_else(raw: bytes | str) -> None:
    with contextlib.suppress(tp.ProtocolError):
        tp.parse(raw)
