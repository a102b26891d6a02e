"""The OpenAI Realtime API's GA events, as the bridge sends and reads them.

Pure: dictionaries in, dictionaries out, no socket. Client events are built by
small functions named after the event; server events are read by :func:`parse`,
which checks what the bridge relies on and nothing more (the service adds fields
over time). Shapes: ../shared/protocols/openai-realtime.md (GA only: the nested
``session.audio``, object audio formats, ``response.output_audio.*``).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

PCM_RATE = 24_000  # the only PCM rate the API takes or gives
FORMATS: dict[str, dict[str, Any]] = {
    "pcmu": {"type": "audio/pcmu"},
    "pcma": {"type": "audio/pcma"},
    "pcm": {"type": "audio/pcm", "rate": PCM_RATE},
}
MAX_EVENT_BYTES = 16 * 1024 * 1024  # the API caps an append at 15 MiB of base64


class ProtocolError(ValueError):
    """A server message the bridge cannot read."""


# -- client events ------------------------------------------------------------------------


def turn_detection(kind: str, silence_ms: int = 500) -> dict[str, Any] | None:
    """``endpointer`` (ours: the bridge commits) → ``null``; else the model's own."""
    if kind == "endpointer":
        return None
    if kind == "semantic_vad":
        return {
            "type": "semantic_vad",
            "eagerness": "auto",
            "create_response": True,
            "interrupt_response": True,
        }
    return {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": silence_ms,
        "create_response": True,
        "interrupt_response": True,
    }


def session_update(
    *,
    model: str,
    instructions: str,
    voice: str,
    input_format: str,
    tools: list[dict[str, Any]],
    tool_choice: str,
    turn: str,
    transcription_model: str | None,
) -> dict[str, Any]:
    audio_in: dict[str, Any] = {
        "format": FORMATS[input_format],
        "noise_reduction": {"type": "near_field"},
        "transcription": {"model": transcription_model, "language": "en"}
        if transcription_model
        else None,
        "turn_detection": turn_detection(turn),
    }
    return {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "model": model,
            "instructions": instructions,
            "output_modalities": ["audio"],
            "audio": {
                "input": audio_in,
                "output": {"format": FORMATS["pcm"], "voice": voice},
            },
            "tools": tools,
            "tool_choice": tool_choice,
        },
    }


def append(audio: bytes) -> dict[str, Any]:
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()}


def commit() -> dict[str, Any]:
    return {"type": "input_audio_buffer.commit"}


def clear_input() -> dict[str, Any]:
    return {"type": "input_audio_buffer.clear"}


def response_create(
    tag: str, *, instructions: str | None = None, tool_choice: str | None = None
) -> dict[str, Any]:
    """``tag`` comes back in ``response.metadata``: which of our requests a response answers."""
    response: dict[str, Any] = {"metadata": {"callbridge": tag}}
    if instructions is not None:
        response["instructions"] = instructions
    if tool_choice is not None:
        response["tool_choice"] = tool_choice
    return {"type": "response.create", "response": response}


def response_cancel(response_id: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "response.cancel"}
    if response_id:
        event["response_id"] = response_id
    return event


def truncate(item_id: str, audio_end_ms: int) -> dict[str, Any]:
    return {
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": 0,
        "audio_end_ms": audio_end_ms,
    }


def function_output(call_id: str, output: str) -> dict[str, Any]:
    item = {"type": "function_call_output", "call_id": call_id, "output": output}
    return {"type": "conversation.item.create", "item": item}


def user_text(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"))


# -- server events ------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerEvent:
    type: str
    data: dict[str, Any] = field(repr=False)

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ProtocolError(f"{self.type}: {key} is not a string")
        return value

    def number(self, key: str) -> int:
        value = self.data.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProtocolError(f"{self.type}: {key} is not a number")
        return int(value)

    def obj(self, key: str) -> dict[str, Any]:
        value = self.data.get(key) or {}
        if not isinstance(value, dict):
            raise ProtocolError(f"{self.type}: {key} is not an object")
        return value

    def audio(self) -> bytes:
        """A ``*.delta`` event's base64 audio."""
        try:
            return base64.b64decode(self.text("delta"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(f"{self.type}: delta is not base64") from exc

    @property
    def response_id(self) -> str:
        return self.text("response_id") or str(self.obj("response").get("id") or "")

    @property
    def tag(self) -> str:
        """Our ``response.create`` tag, on ``response.created`` / ``response.done``."""
        meta = self.obj("response").get("metadata") or {}
        return str(meta.get("callbridge", "")) if isinstance(meta, dict) else ""


def parse(raw: str | bytes) -> ServerEvent:
    """One server message; :class:`ProtocolError` if it is not a JSON event object."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_EVENT_BYTES:
            raise ProtocolError(f"message of {len(raw)} bytes")
        try:
            raw = raw.decode()
        except UnicodeDecodeError as exc:
            raise ProtocolError("message is not UTF-8") from exc
    if len(raw) > MAX_EVENT_BYTES:
        raise ProtocolError(f"message of {len(raw)} characters")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("not an event object with a type")
    return ServerEvent(data["type"], data)


def function_args(event: ServerEvent) -> dict[str, Any]:
    """``response.function_call_arguments.done``'s arguments: a JSON object, or {}."""
    try:
        args = json.loads(event.text("arguments") or "{}")
    except json.JSONDecodeError:
        return {}
    return args if isinstance(args, dict) else {}


def usage(done: ServerEvent) -> dict[str, int]:
    """``response.done``'s token counts, flattened (missing counts are 0)."""
    u = done.obj("response").get("usage") or {}
    if not isinstance(u, dict):
        return {}
    inp = u.get("input_token_details") or {}
    out = u.get("output_token_details") or {}
    figures = {
        "input_tokens": u.get("input_tokens"),
        "output_tokens": u.get("output_tokens"),
        "input_audio_tokens": inp.get("audio_tokens") if isinstance(inp, dict) else 0,
        "input_text_tokens": inp.get("text_tokens") if isinstance(inp, dict) else 0,
        "cached_tokens": inp.get("cached_tokens") if isinstance(inp, dict) else 0,
        "output_audio_tokens": out.get("audio_tokens") if isinstance(out, dict) else 0,
        "output_text_tokens": out.get("text_tokens") if isinstance(out, dict) else 0,
    }
    return {
        k: int(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0
        for k, v in figures.items()
    }


# US dollars per million tokens (gpt-realtime's published list prices, 2025-08); a
# deployment with other prices or models sets CALLBRIDGE_OPENAI_PRICES.
PRICES = {
    "input_audio_tokens": 32.0,
    "input_text_tokens": 4.0,
    "cached_tokens": 0.40,
    "output_audio_tokens": 64.0,
    "output_text_tokens": 16.0,
}


def cost_usd(figures: dict[str, int], prices: dict[str, float] = PRICES) -> float:
    # Cached tokens are also counted in the audio and text inputs: bill them once, cheaply.
    cached = figures.get("cached_tokens", 0)
    inputs = figures.get("input_audio_tokens", 0) + figures.get("input_text_tokens", 0)
    uncached_share = max(0.0, 1 - cached / inputs) if inputs else 1.0
    total = cached * prices["cached_tokens"]
    for key in ("input_audio_tokens", "input_text_tokens"):
        total += figures.get(key, 0) * uncached_share * prices[key]
    for key in ("output_audio_tokens", "output_text_tokens"):
        total += figures.get(key, 0) * prices[key]
    return round(total / 1e6, 6)
