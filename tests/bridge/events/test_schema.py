from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bridge.events.schema import (
    CallEvents,
    CallStarted,
    Envelope,
    TranscriptFinal,
    _Event,
    json_schema,
    parse_event,
)


def test_call_events_number_each_call_from_zero() -> None:
    a, b = CallEvents("A"), CallEvents("B")
    e1 = a.make(CallStarted, carrier="twilio")
    e2 = a.make(TranscriptFinal, speaker="caller", text="hello")
    e3 = b.make(CallStarted)
    assert (e1.seq, e2.seq, e3.seq) == (0, 1, 0)
    assert e2.call_id == "A" and e2.ts >= e1.ts
    assert CallEvents("A", start_seq=7).make(CallStarted).seq == 7


@given(st.text(max_size=200), st.sampled_from(["caller", "bot", "agent"]), st.integers(0, 10**9))
def test_round_trip_through_json(text: str, speaker: str, seq: int) -> None:
    ev = TranscriptFinal(
        call_id="c", seq=seq, ts="2026-01-01T00:00:00Z", speaker=speaker, text=text
    )
    back = parse_event(ev.model_dump_json())
    assert back == ev and type(back) is TranscriptFinal


def test_unknown_type_still_has_an_envelope() -> None:
    raw = json.dumps({"type": "future.thing", "v": 3, "call_id": "c", "seq": 1,
                      "ts": "2026-01-01T00:00:00Z", "x": 1})  # fmt: skip
    with pytest.raises(ValidationError):
        parse_event(raw)
    env = Envelope.model_validate_json(raw)
    assert (env.type, env.v, env.seq) == ("future.thing", 3, 1)


def test_bad_events_are_rejected() -> None:
    with pytest.raises(ValidationError):
        TranscriptFinal(call_id="c", seq=-1, ts="2026-01-01T00:00:00Z", speaker="caller", text="")
    with pytest.raises(ValidationError):
        TranscriptFinal(call_id="c", seq=1, ts="2026-01-01T00:00:00Z", speaker="robot", text="")


def test_published_json_schema_validates_events() -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    ev = CallEvents("c").make(TranscriptFinal, speaker="bot", text="Hi", start_ms=0, end_ms=900)
    jsonschema.validate(json.loads(ev.model_dump_json()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"type": "transcript.final", "call_id": "c"}, schema)


def test_no_event_redefines_an_envelope_field() -> None:
    """``source`` and ``seq`` mean the writer and its numbering on every event; a type
    that reused one of those names for its own payload would break idempotency."""
    envelope = set(Envelope.model_fields) - {"type", "v"}
    for cls in _Event.__subclasses__():
        for name in envelope:
            mine, shared = cls.model_fields[name], Envelope.model_fields[name]
            assert repr(mine) == repr(shared), (cls.__name__, name)
