"""A local stand-in for OpenAI's Realtime API (GA protocol) for the tests.

It speaks the documented events over a real WebSocket and sends real audio: a
prompt the client asks it to "say exactly" is synthesised with the bundled
hibari voice at 24 kHz; its own replies follow a script the test gives
(``replies``: speak these words and/or call this function). It enforces what the
real service enforces and a bridge gets wrong easily — the GA session shape, one
response at a time, a truncate no longer than the audio sent, a function output
only for a call that exists — answering with the documented ``error`` events, and
records every client event for the test to inspect. Fault knobs: refuse
connections, reject the session, drop the socket part-way through a response.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from http import HTTPStatus
from typing import Any

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from media import g711
from media.resample import resample_signal

RATE = 24_000
CHUNK = RATE // 10  # 100 ms of audio per delta
SAY = "Say exactly the following to the caller, word for word, and nothing else."
BETA_KEYS = {
    "modalities",
    "input_audio_format",
    "output_audio_format",
    "voice",
    "input_audio_transcription",
    "turn_detection",
    "temperature",
}


@cache
def speech(text: str) -> bytes:
    """``text`` spoken at 24 kHz, PCM16 little-endian (cached: tests repeat prompts)."""
    from harness.audio import VOICES, synthesize

    pcm16k = synthesize(text, VOICES[1])
    return resample_signal(pcm16k, 16_000, RATE).astype("<i2").tobytes()


@dataclass
class Reply:
    """What the model does in one reply: say ``say``, then call ``call(**args)``."""

    say: str = ""
    call: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    heard: str = ""  # the caller's words, as input transcription reports them
    prompt: bool = False  # a flow prompt the client asked for, not the model's own words


@dataclass
class _Conn:
    ws: ServerConnection
    session: dict[str, Any] = field(default_factory=dict)
    buffer: bytearray = field(default_factory=bytearray)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → item (audio ms)
    calls: set[str] = field(default_factory=set)  # function call ids in the conversation
    active: asyncio.Task[None] | None = None
    active_id: str = ""
    speaking: bool = False  # server VAD: the caller is talking
    quiet_ms: int = 0
    loud_ms: int = 0


class FakeRealtime:
    def __init__(self, api_key: str = "sk-test") -> None:
        self.api_key = api_key
        self.replies: deque[Reply] = deque()
        self.received: list[dict[str, Any]] = []
        self.errors: list[str] = []  # codes of the error events sent
        self.connections = 0
        self.refuse = False  # every upgrade gets 503
        self.reject_session = False  # every session.update gets an error event
        self.mute = False  # accept the socket, then say nothing (a hung service)
        self.drop_after_deltas: int | None = None  # once: close the socket mid-response
        self.drop_prompts = True  # ... also in a prompt it was asked to say (else replies only)
        self.drop_refuses_after = False  # ... and refuse every connection after that
        self.delta_pause_s = 0.005  # between audio deltas (the real service is bursty too)
        self._ids = itertools.count(1)
        self._open: set[ServerConnection] = set()
        self._server: Server | None = None
        self.url = ""

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> str:
        self._server = await serve(self._handle, "127.0.0.1", 0, process_request=self._check)
        port = self._server.sockets[0].getsockname()[1] if self._server.sockets else 0
        self.url = f"ws://127.0.0.1:{port}/v1/realtime"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def drop(self) -> None:
        """Close every open connection, as a network that fails would."""
        for ws in list(self._open):
            await ws.close()

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.received if e.get("type") == kind]

    def _check(self, conn: ServerConnection, request: Request) -> Response | None:
        if self.refuse:
            return _http(HTTPStatus.SERVICE_UNAVAILABLE, "unavailable")
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _http(HTTPStatus.UNAUTHORIZED, "invalid api key")
        if request.headers.get("OpenAI-Beta"):
            return _http(HTTPStatus.BAD_REQUEST, "The Realtime Beta API is no longer supported")
        if "model=" not in (request.path or ""):
            return _http(HTTPStatus.BAD_REQUEST, "missing model")
        return None

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):04d}"

    # -- one connection -----------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        self._open.add(ws)
        conn = _Conn(ws)
        if self.mute:
            await ws.wait_closed()
            self._open.discard(ws)
            return
        await self._send(
            conn, "session.created", session={"id": self._id("sess"), "type": "realtime"}
        )
        try:
            async for raw in ws:
                try:
                    event = json.loads(raw)
                except json.JSONDecodeError:
                    await self._error(conn, "invalid_request_error", "invalid_json", "not JSON")
                    continue
                self.received.append(event)
                await self._on(conn, event)
        except ConnectionClosed:
            pass
        finally:
            self._open.discard(ws)
            if conn.active is not None:
                conn.active.cancel()

    async def _send(self, conn: _Conn, type_: str, **fields: Any) -> None:
        with contextlib.suppress(ConnectionClosed):
            await conn.ws.send(json.dumps({"type": type_, "event_id": self._id("event"), **fields}))

    async def _error(
        self, conn: _Conn, kind: str, code: str, message: str, about: str | None = None
    ) -> None:
        self.errors.append(code)
        await self._send(
            conn,
            "error",
            error={
                "type": kind,
                "code": code,
                "message": message,
                "param": None,
                "event_id": about,
            },
        )

    async def _on(self, conn: _Conn, e: dict[str, Any]) -> None:
        about = e.get("event_id")
        match e.get("type"):
            case "session.update":
                await self._session_update(conn, e.get("session") or {}, about)
            case "input_audio_buffer.append":
                await self._append(conn, base64.b64decode(e.get("audio", "")))
            case "input_audio_buffer.commit":
                await self._commit(conn, about)
            case "input_audio_buffer.clear":
                conn.buffer.clear()
                await self._send(conn, "input_audio_buffer.cleared")
            case "response.create":
                await self._response(conn, e.get("response") or {}, about)
            case "response.cancel":
                if conn.active is None or conn.active.done():
                    await self._error(
                        conn,
                        "invalid_request_error",
                        "response_cancel_not_active",
                        "Cancellation failed: no active response found.",
                        about,
                    )
                else:
                    conn.active.cancel()
            case "conversation.item.truncate":
                await self._truncate(conn, e, about)
            case "conversation.item.create":
                await self._item(conn, e.get("item") or {}, about)
            case other:
                await self._error(
                    conn,
                    "invalid_request_error",
                    "unknown_event",
                    f"Invalid value: '{other}'",
                    about,
                )

    async def _session_update(self, conn: _Conn, s: dict[str, Any], about: str | None) -> None:
        problem = ""
        if s.get("type") != "realtime":
            problem = "Missing required parameter: 'session.type'."
        elif BETA_KEYS & set(s):
            problem = f"Unknown parameter: 'session.{sorted(BETA_KEYS & set(s))[0]}'."
        else:
            for side in ("input", "output"):
                fmt = ((s.get("audio") or {}).get(side) or {}).get("format")
                if fmt is not None and not isinstance(fmt, dict):
                    problem = f"Invalid type for 'session.audio.{side}.format': expected an object"
                elif fmt and fmt.get("type") == "audio/pcm" and fmt.get("rate") != RATE:
                    problem = f"Invalid 'session.audio.{side}.format.rate'"
        if self.reject_session and not problem:
            problem = "Invalid value for 'session.voice': this voice is not available."
        if problem:
            await self._error(conn, "invalid_request_error", "invalid_value", problem, about)
            return
        conn.session.update(s)
        await self._send(conn, "session.updated", session=conn.session)

    def _input_pcm(self, conn: _Conn, data: bytes) -> np.ndarray:
        fmt = ((conn.session.get("audio") or {}).get("input") or {}).get("format") or {}
        if fmt.get("type") == "audio/pcmu":
            return g711.ulaw_decode(np.frombuffer(data, np.uint8))
        if fmt.get("type") == "audio/pcma":
            return g711.alaw_decode(np.frombuffer(data, np.uint8))
        return np.frombuffer(data, "<i2")

    def _turn_detection(self, conn: _Conn) -> dict[str, Any] | None:
        return ((conn.session.get("audio") or {}).get("input") or {}).get("turn_detection")

    async def _append(self, conn: _Conn, data: bytes) -> None:
        conn.buffer += data
        vad = self._turn_detection(conn)
        if not vad:
            return
        pcm = self._input_pcm(conn, data).astype(np.float64)
        ms = 1000 * len(pcm) // (8000 if len(data) == len(pcm) else RATE)
        loud = len(pcm) > 0 and float(np.sqrt(np.mean(pcm**2))) > 300
        conn.loud_ms, conn.quiet_ms = (conn.loud_ms + ms, 0) if loud else (0, conn.quiet_ms + ms)
        if not conn.speaking and conn.loud_ms >= 100:
            conn.speaking = True
            await self._send(
                conn,
                "input_audio_buffer.speech_started",
                audio_start_ms=0,
                item_id=self._id("item"),
            )
            if vad.get("interrupt_response") and conn.active is not None and not conn.active.done():
                conn.active.cancel()
        elif conn.speaking and conn.quiet_ms >= int(vad.get("silence_duration_ms", 500)):
            conn.speaking = False
            await self._send(
                conn, "input_audio_buffer.speech_stopped", audio_end_ms=0, item_id=self._id("item")
            )
            await self._commit(conn, None)
            if vad.get("create_response"):
                await self._response(conn, {}, None)

    async def _commit(self, conn: _Conn, about: str | None) -> None:
        if not conn.buffer:
            await self._error(
                conn,
                "invalid_request_error",
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small.",
                about,
            )
            return
        conn.buffer.clear()
        item = self._id("item")
        await self._send(conn, "input_audio_buffer.committed", item_id=item, previous_item_id=None)
        await self._send(
            conn, "conversation.item.added", item={"id": item, "type": "message", "role": "user"}
        )
        heard = self.replies[0].heard if self.replies else ""
        await self._send(
            conn,
            "conversation.item.input_audio_transcription.completed",
            item_id=item,
            content_index=0,
            transcript=heard,
        )

    async def _item(self, conn: _Conn, item: dict[str, Any], about: str | None) -> None:
        if item.get("type") == "function_call_output" and item.get("call_id") not in conn.calls:
            await self._error(
                conn,
                "invalid_request_error",
                "invalid_value",
                f"Tool call ID '{item.get('call_id')}' not found in conversation.",
                about,
            )
            return
        item = {**item, "id": item.get("id") or self._id("item")}
        await self._send(conn, "conversation.item.added", item=item)

    async def _truncate(self, conn: _Conn, e: dict[str, Any], about: str | None) -> None:
        item = conn.items.get(str(e.get("item_id")))
        end = e.get("audio_end_ms")
        if item is None:
            await self._error(
                conn,
                "invalid_request_error",
                "item_not_found",
                f"Item {e.get('item_id')} not found",
                about,
            )
        elif not isinstance(end, int) or end > item["ms"]:
            await self._error(
                conn,
                "invalid_request_error",
                "invalid_value",
                f"Audio content of {item['ms']} ms is already shorter than {end} ms",
                about,
            )
        else:
            item["ms"] = end
            await self._send(
                conn,
                "conversation.item.truncated",
                item_id=e["item_id"],
                content_index=0,
                audio_end_ms=end,
            )

    async def _response(self, conn: _Conn, r: dict[str, Any], about: str | None) -> None:
        if conn.active is not None and not conn.active.done():
            await self._error(
                conn,
                "invalid_request_error",
                "conversation_already_has_active_response",
                "Conversation already has an active response in progress.",
                about,
            )
            return
        rid = self._id("resp")
        instructions = str(r.get("instructions") or "")
        if instructions.startswith(SAY):
            plan = Reply(say=instructions.split("\n\n", 1)[-1], prompt=True)
        elif self.replies:
            plan = self.replies.popleft()
        else:
            plan = Reply()
        if r.get("tool_choice") == "none":
            plan = Reply(say=plan.say, prompt=plan.prompt)
        conn.active_id = rid
        conn.active = asyncio.create_task(self._stream(conn, rid, r.get("metadata"), plan))

    async def _stream(self, conn: _Conn, rid: str, meta: Any, plan: Reply) -> None:
        response = {
            "id": rid,
            "object": "realtime.response",
            "status": "in_progress",
            "metadata": meta,
            "output": [],
        }
        await self._send(conn, "response.created", response=response)
        status, sent_audio = "completed", 0
        try:
            if plan.say:
                sent_audio = await self._speak(conn, rid, plan.say, plan.prompt)
            if plan.call:
                call_id, item = self._id("call"), self._id("item")
                conn.calls.add(call_id)
                await self._send(
                    conn,
                    "response.function_call_arguments.done",
                    response_id=rid,
                    item_id=item,
                    output_index=1,
                    call_id=call_id,
                    name=plan.call,
                    arguments=json.dumps(plan.args),
                )
        except asyncio.CancelledError:
            status = "cancelled"
        except _Dropped:
            if not plan.prompt:
                self.replies.appendleft(plan)  # asked again on a new socket, it answers again
            return
        usage = {
            "total_tokens": 100 + sent_audio // 50,
            "input_tokens": 80,
            "output_tokens": 20 + sent_audio // 50,
            "input_token_details": {"cached_tokens": 0, "text_tokens": 60, "audio_tokens": 20},
            "output_token_details": {"text_tokens": 20, "audio_tokens": sent_audio // 50},
        }
        done = {**response, "status": status, "usage": usage}
        if status == "cancelled":
            done["status_details"] = {"type": "cancelled", "reason": "client_cancelled"}
        await self._send(conn, "response.done", response=done)
        await self._send(
            conn,
            "rate_limits.updated",
            rate_limits=[
                {"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 60},
                {"name": "tokens", "limit": 100000, "remaining": 99000, "reset_seconds": 60},
            ],
        )

    async def _speak(self, conn: _Conn, rid: str, text: str, prompt: bool) -> int:
        audio, item = speech(text), self._id("item")
        conn.items[item] = {"ms": 0}
        where = {"response_id": rid, "item_id": item, "output_index": 0, "content_index": 0}
        await self._send(
            conn,
            "response.output_item.added",
            response_id=rid,
            output_index=0,
            item={"id": item, "type": "message", "role": "assistant"},
        )
        for n, start in enumerate(range(0, len(audio), CHUNK * 2)):
            dropping = self.drop_prompts or not prompt
            if self.drop_after_deltas is not None and n >= self.drop_after_deltas and dropping:
                self.drop_after_deltas = None
                if self.drop_refuses_after:
                    self.refuse = True
                conn.ws.transport.abort()  # no close frame: a network failure
                raise _Dropped
            chunk = audio[start : start + CHUNK * 2]
            conn.items[item]["ms"] += len(chunk) // 2 * 1000 // RATE
            await self._send(
                conn, "response.output_audio.delta", **where, delta=base64.b64encode(chunk).decode()
            )
            await asyncio.sleep(self.delta_pause_s)
        await self._send(conn, "response.output_audio.done", **where)
        await self._send(conn, "response.output_audio_transcript.done", **where, transcript=text)
        return conn.items[item]["ms"]


class _Dropped(Exception):
    pass


def _http(status: HTTPStatus, body: str) -> Response:
    return Response(
        status.value, status.phrase, Headers({"Content-Type": "text/plain"}), body.encode()
    )


@contextlib.contextmanager
def in_thread() -> Iterator[FakeRealtime]:
    """The fake on its own event loop in a thread: for a client that runs its own loop
    (``callbridge call`` under CliRunner, or a subprocess)."""
    fake, loop = FakeRealtime(), asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(10)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
