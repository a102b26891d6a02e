"""Vonage Voice WebSocket messages: parsed strictly, built exactly.

Text frames are JSON events named by ``event``; binary frames are raw 16-bit
little-endian PCM. :func:`parse` returns a typed event or raises
:class:`ProtocolError` (not JSON, not an object), which the leg's guard logs and
skips: one bad frame never ends a call. Events the bridge does not act on
(``websocket:cleared``, ``websocket:notify``, any Vonage adds later) parse as
:class:`Other`. Values Vonage leaves out or sends oddly are taken as they come and
judged where they are used (:attr:`Connected.rate`, :meth:`Dtmf.key`, :func:`audio`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bridge.legs.guard import ProtocolError

__all__ = [
    "RATES",
    "Connected",
    "Dtmf",
    "Message",
    "Other",
    "ProtocolError",
    "audio",
    "clear",
    "notify",
    "parse",
]

RATES = {"audio/l16;rate=16000": 16000, "audio/l16;rate=8000": 8000}
DIGITS = "0123456789*#"
MAX_FRAMES = 50  # 20 ms frames in one binary message: 1 s, far above the one Vonage sends

Text = Annotated[str, BeforeValidator(str)]  # whatever JSON value came, as text


class _Msg(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Connected(_Msg):
    """The socket's first message: the audio format and the NCCO's headers, flattened."""

    event: Literal["websocket:connected"]
    content_type: Text = Field("", alias="content-type")
    token: Text = ""  # the one-time token the answer webhook put in the headers

    @property
    def rate(self) -> int | None:
        """The L16 sample rate, or None for a format the bridge did not ask for."""
        return RATES.get(self.content_type.replace(" ", "").lower())


class Dtmf(_Msg):
    event: Literal["websocket:dtmf"]
    digit: Any = None  # documented: flat
    dtmf: Any = None  # some integrations nest it: {"dtmf": {"digit": ...}}

    def key(self) -> str:
        """The key pressed; :class:`ProtocolError` if it is not one."""
        digit = self.digit
        if "digit" not in self.model_fields_set and isinstance(self.dtmf, dict):
            digit = self.dtmf.get("digit")
        if isinstance(digit, str) and len(digit) == 1 and digit in DIGITS:
            return digit
        raise ProtocolError(f"bad dtmf digit {digit!r}")


class Other(_Msg):
    event: Any = None


Message = Connected | Dtmf | Other


def parse(raw: str | bytes) -> Message:
    try:
        data: Any = json.loads(raw)
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting
        raise ProtocolError("text frame is not JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("text frame is not a JSON object")
    event = data.get("event")
    kind: type[Message] = Other
    if event == "websocket:connected":
        kind = Connected
    elif event == "websocket:dtmf":
        kind = Dtmf
    try:
        return kind.model_validate(data)
    except ValidationError as exc:  # every field is lenient: kept for a field that is not
        raise ProtocolError(f"bad {event!r} message: {exc.errors()[0]['msg']}") from None


def audio(data: bytes, frame_bytes: int) -> bytes:
    """A binary message's caller audio: whole samples, and no more than the limit.

    Dropped whole otherwise: an odd byte kept would swap the byte order of every sample
    after it (the caller would turn to noise for the rest of the call)."""
    if len(data) % 2 or len(data) > MAX_FRAMES * frame_bytes:
        raise ProtocolError(f"binary frame of {len(data)} bytes")
    return data


def clear() -> str:
    """Drop the audio Vonage holds unplayed (barge-in)."""
    return json.dumps({"action": "clear"})


def notify(reply_id: str) -> str:
    """Ask Vonage to echo ``reply_id`` when playback reaches this point."""
    return json.dumps({"action": "notify", "payload": {"reply_id": reply_id}})
