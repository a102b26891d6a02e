"""Typed, versioned event records.

Every observable fact about a call is one of these. The envelope (``type``, ``v``,
``call_id``, ``source``, ``seq``, ``ts``) is shared; the rest is the event's own
payload. Several writers speak about one call: the process that owns it (``call``),
the carrier's status callbacks (``carrier``), and later assist, CRM and the agent
desk. Each numbers its own events, so ``(call_id, source, seq)`` is unique and
consumers order and de-duplicate per source without coordination: the call's own
events are numbered by :class:`CallEvents` in the owning process, a carrier's by the
carrier's own report (Twilio's ``SequenceNumber``; a digest of Vonage's status and
timestamp), so a retried report is the same event.

A change that removes or retypes a field bumps ``v`` for that type; consumers
must keep reading older versions. The JSON Schema is published by
``callbridge events schema``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Speaker = Literal["caller", "bot", "agent"]

SOURCES = ("call", "carrier", "assist", "crm", "desk")
"""Who writes events about a call. A plain string on the wire so that an older
consumer keeps reading events from a source it does not know yet."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """What every consumer may rely on, whatever the event type or version."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str
    v: int = 1
    call_id: str = Field(min_length=1, max_length=64)
    source: str = Field(default="call", min_length=1, max_length=16)
    seq: int = Field(ge=0)
    ts: datetime


class _Event(Envelope):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CallStarted(_Event):
    type: Literal["call.started"] = "call.started"
    carrier: str = ""
    direction: Literal["inbound", "outbound"] = "inbound"
    from_number: str = ""
    to_number: str = ""
    flow_name: str | None = None
    flow_version: int | None = None


class CallEnded(_Event):
    type: Literal["call.ended"] = "call.ended"
    reason: str = "hangup"
    outcome: str | None = None
    duration_ms: int | None = None


class TranscriptPartial(_Event):
    type: Literal["transcript.partial"] = "transcript.partial"
    speaker: Speaker
    text: str
    start_ms: int | None = None
    end_ms: int | None = None


class TranscriptFinal(_Event):
    type: Literal["transcript.final"] = "transcript.final"
    speaker: Speaker
    text: str
    start_ms: int | None = None
    end_ms: int | None = None
    interrupted: bool = False  # bot speech cut short by the caller: text is what was heard
    # The caller went on after a pause before any reply reached them: these words
    # continue their previous line, and were understood together with it.
    continues: bool = False


class StateEntered(_Event):
    type: Literal["flow.state_entered"] = "flow.state_entered"
    flow: str
    state: str


class IntentDetected(_Event):
    type: Literal["flow.intent"] = "flow.intent"
    intent: str
    confidence: float
    slots: dict[str, Any] = {}


class DtmfReceived(_Event):
    type: Literal["call.dtmf"] = "call.dtmf"
    digits: str


class Suggestion(_Event):
    """What agent assist offers the agent (``bridge/assist``, to come; nothing emits it
    yet). Published in the schema already so dashboards can be written against it."""

    type: Literal["assist.suggestion"] = "assist.suggestion"
    v: int = 2  # v1 named the cited article ``source``, which is now the envelope's writer
    text: str
    cites: str = ""  # the knowledge-base article and passage it comes from


class TransferEvent(_Event):
    type: Literal["call.transfer"] = "call.transfer"
    target: str
    status: Literal["requested", "ringing", "connected", "failed", "ended"]
    detail: str = ""


class BargeIn(_Event):
    type: Literal["call.barge_in"] = "call.barge_in"
    played_ms: int
    utterance: str = ""  # the bot's words that were actually heard
    at_ms: int | None = None  # caller speech onset on the call's audio timeline


class CarrierStatus(_Event):
    """A carrier's own report on the call (Twilio status callback, Vonage event)."""

    type: Literal["call.carrier_status"] = "call.carrier_status"
    carrier: str
    status: str
    duration_s: int | None = None


class FlowSnapshot(_Event):
    """Where the flow stands, sensitive values masked: a call can be resumed from it."""

    type: Literal["flow.snapshot"] = "flow.snapshot"
    state: str
    snapshot: dict[str, Any]


class EngineFailed(_Event):
    type: Literal["engine.failed"] = "engine.failed"
    engine: str
    reason: str
    fallback: Literal["transfer", "hangup", "local"]  # local: the call goes on offline


class RecordingFailed(_Event):
    """The call's recording stopped (a full disk, an unwritable folder); the call went on."""

    type: Literal["recording.failed"] = "recording.failed"
    reason: str


class EngineUsage(_Event):
    """One model response: tokens, cost, time to first audio, rate limits left."""

    type: Literal["engine.usage"] = "engine.usage"
    engine: str
    response_id: str
    status: str
    kind: Literal["prompt", "reply"]
    figures: dict[str, float]
    rate_limits: dict[str, float | None] = Field(default_factory=dict)


class ToolCalled(_Event):
    """A model called one of the flow's tools."""

    type: Literal["engine.tool"] = "engine.tool"
    tool: str
    ok: bool
    ms: float


class TurnLatency(_Event):
    type: Literal["turn.latency"] = "turn.latency"
    turn: int
    figures_ms: dict[str, float]


Event = Annotated[
    CallStarted
    | CallEnded
    | TranscriptPartial
    | TranscriptFinal
    | StateEntered
    | IntentDetected
    | DtmfReceived
    | Suggestion
    | TransferEvent
    | BargeIn
    | EngineFailed
    | RecordingFailed
    | FlowSnapshot
    | CarrierStatus
    | EngineUsage
    | ToolCalled
    | TurnLatency,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
KNOWN_TYPES = frozenset(cls.model_fields["type"].default for cls in _Event.__subclasses__())
"""The event types this build can parse into their classes."""


def parse_event(raw: bytes | str) -> Event:
    """Decode one event into its typed class (raises ``pydantic.ValidationError``)."""
    return EVENT_ADAPTER.validate_json(raw)


def json_schema() -> dict[str, Any]:
    schema = EVENT_ADAPTER.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "callbridge event"
    return schema


class CallEvents:
    """Stamps the events one writer makes about a call with the call's id, the
    writer's ``source``, its next sequence number and the time.

    One writer owns a ``(call, source)`` numbering: the process that owns the call for
    ``call``; ``start_seq`` lets a resumed call continue its numbering.
    """

    def __init__(self, call_id: str, start_seq: int = 0, source: str = "call") -> None:
        self.call_id = call_id
        self.source = source
        self._seq = itertools.count(start_seq)

    def make(self, cls: type[_Event], **fields: Any) -> Any:
        return cls(
            call_id=self.call_id, source=self.source, seq=next(self._seq), ts=utcnow(), **fields
        )
