"""Twilio Media Streams messages: parsed strictly, built exactly.

Everything Twilio sends is a JSON text frame with an ``event``; numbers arrive as
strings. :func:`parse` returns a typed message or raises :class:`ProtocolError`
(malformed JSON, an unknown event, a payload that is not base64 or too large),
which the leg's guard logs and skips: one bad frame never ends a call.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from bridge.legs.guard import ProtocolError

__all__ = [
    "FRAME",
    "MAX_PAYLOAD",
    "Connected",
    "Dtmf",
    "Mark",
    "Media",
    "Message",
    "ProtocolError",
    "Start",
    "Stop",
    "clear",
    "mark",
    "media",
    "parse",
]

FRAME = 160  # bytes of mu-law in 20 ms
MAX_PAYLOAD = 16_000  # bytes of mu-law in one media message: 2 s, far above the 160 sent


class _Msg(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Connected(_Msg):
    event: Literal["connected"]


class MediaFormat(_Msg):
    encoding: str = "audio/x-mulaw"
    sampleRate: int = 8000
    channels: int = 1


class StartInfo(_Msg):
    streamSid: str
    accountSid: str = ""
    callSid: str
    tracks: list[str] = Field(default_factory=lambda: ["inbound"])
    customParameters: dict[str, str] = Field(default_factory=dict)
    mediaFormat: MediaFormat = Field(default_factory=MediaFormat)


class Start(_Msg):
    event: Literal["start"]
    streamSid: str
    start: StartInfo


class MediaInfo(_Msg):
    track: str = "inbound"
    chunk: str = ""
    timestamp: str = ""
    payload: str


class Media(_Msg):
    event: Literal["media"]
    streamSid: str = ""
    media: MediaInfo

    def audio(self) -> bytes:
        if len(self.media.payload) > MAX_PAYLOAD * 4 // 3 + 4:
            raise ProtocolError(f"media payload of {len(self.media.payload)} characters")
        try:
            return base64.b64decode(self.media.payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(f"media payload is not base64: {exc}") from None


class DtmfInfo(_Msg):
    track: str = "inbound_track"
    digit: Annotated[str, Field(pattern=r"^[0-9*#A-D]$")]


class Dtmf(_Msg):
    event: Literal["dtmf"]
    dtmf: DtmfInfo


class MarkInfo(_Msg):
    name: str


class Mark(_Msg):
    event: Literal["mark"]
    mark: MarkInfo


class Stop(_Msg):
    event: Literal["stop"]


Message = Annotated[Connected | Start | Media | Dtmf | Mark | Stop, Field(discriminator="event")]
_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)


def parse(raw: str | bytes) -> Message:
    # pydantic parses and validates in one pass (half the cost of json.loads first);
    # the slow path below only runs to word the error.
    try:
        return _ADAPTER.validate_json(raw)
    except ValidationError:
        pass
    try:
        data: Any = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError("a message is a JSON object")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        event = data.get("event")
        raise ProtocolError(f"bad {event!r} message: {exc.errors()[0]['msg']}") from None


@functools.lru_cache(maxsize=4096)
def _media_prefix(stream_sid: str) -> str:
    return '{"event": "media", "streamSid": ' + json.dumps(stream_sid) + ', "media": {"payload": "'


def media(stream_sid: str, mulaw: bytes) -> str:
    # Sent 50 times a second per call: the JSON around the payload is built once per stream
    # (base64 needs no escaping).
    return _media_prefix(stream_sid) + base64.b64encode(mulaw).decode() + '"}}'


def mark(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})
