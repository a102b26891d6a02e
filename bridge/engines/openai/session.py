"""One call's Realtime API session: a WebSocket to the model, kept alive for the call.

The pieces, each a module of its own: the socket and its queue
(:mod:`~bridge.engines.openai.socket`), what we asked and which response is which
(:mod:`~bridge.engines.openai.responses`), the caller's audio in
(:mod:`~bridge.engines.openai.caller_audio`) and the model's out
(:mod:`~bridge.engines.openai.bot_audio`), the words of the call
(:mod:`~bridge.engines.openai.transcript`), and what the server's events mean
(:mod:`~bridge.engines.openai.server_events`). This module is what the runtime
asks of them, and which way each caller turn goes (:mod:`~bridge.engines.openai.route`).

A dropped socket is reconnected for ``reconnect_s``; the new session is rebuilt
from the state's settings and the call's transcript so far, and whatever was in
flight (a prompt, the caller's turn, a tool's answer) is asked again. When the
service stays away every waiter gets :class:`EngineError` and the runtime falls
back. Sensitive states never reach the model: their prompts and the caller's
answer go through the local engine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any

from bridge import logs
from bridge.engines.base import (
    I16,
    EngineError,
    EngineEvent,
    EngineSession,
    Heard,
    Spoken,
)
from bridge.engines.openai import protocol as p
from bridge.engines.openai.bot_audio import BotAudio
from bridge.engines.openai.caller_audio import CallerAudio
from bridge.engines.openai.config import Config
from bridge.engines.openai.responses import Responses
from bridge.engines.openai.route import BRIDGED, Route
from bridge.engines.openai.server_events import ServerEvents
from bridge.engines.openai.socket import RealtimeSocket
from bridge.engines.openai.transcript import Transcript
from bridge.engines.openai.turns import Turn, ask_turn, converse_turn, persona
from flows.interpreter import Converse, Listen
from flows.model import Flow

__all__ = ["Config", "RealtimeSession"]

log = logs.get_logger(__name__)

TRANSCRIPT_WAIT_S = 5.0


class RealtimeSession(EngineSession):
    def __init__(
        self,
        config: Config,
        call_id: str,
        flow: Flow,
        line: str | None,
        local: Any = None,  # an EngineSession of the local engine, for sensitive states
        fallback_voice: Callable[[str], I16] | None = None,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.config, self.call_id, self.flow = config, call_id, flow
        self.local, self.fallback_voice, self.today = local, fallback_voice, today
        self._route = Route(has_local=local is not None)
        self._follow_route()
        self._converse: Converse | None = None
        self._events: asyncio.Queue[EngineEvent | EngineError] = asyncio.Queue()
        self._caller = CallerAudio(line)
        self._bot = BotAudio()
        self._transcript = Transcript()
        self._responses = Responses(self._send)
        self._server = ServerEvents(
            flow,
            today,
            config.prices,
            route=self._route,
            responses=self._responses,
            transcript=self._transcript,
            bot_audio=self._bot,
            events=self._events,
            send=self._send,
            fail=self._fail,
        )
        sep = "&" if "?" in config.url else "?"
        self._socket = RealtimeSocket(
            f"{config.url}{sep}model={config.model}",
            config.api_key,
            config.connect_timeout_s,
            config.reconnect_s,
            name=call_id[:8],
            settings=self._rebuilt_update,
            on_message=self._on_message,
            on_resumed=self._resume,
            on_failed=self._failed_with,
        )

    @property
    def _failed(self) -> EngineError | None:
        return self._socket.failed

    def _follow_route(self) -> None:
        """The runtime reads these as plain attributes: keep them the route's."""
        self.converses = self._route.converses
        self.server_turns = self._route.server_turns

    @property
    def owes(self) -> bool:
        """A request or audio is waiting for the model, or an event for the runtime."""
        return self._failed is None and (
            self._responses.inflight is not None
            or self._responses.active is not None
            or not self._events.empty()
            or self._socket.sending
        )

    # -- EngineSession ------------------------------------------------------------------

    def converse(self, action: Converse) -> None:
        self._converse = action

    def listen(self, listen: Listen) -> None:
        self._route.listen = listen
        self._follow_route()
        self._caller.turn.clear()
        self._transcript.new_turn()
        if self._route.private:
            self.local.listen(listen)
            return
        turn = self._turn_for(listen)
        changed = turn != self._route.turn
        self._route.turn = turn
        self._follow_route()
        if changed:
            self._send(self._session_update())
        if turn.turn_detection == "endpointer":
            self._send(p.clear_input())

    def _turn_for(self, listen: Listen) -> Turn:
        if listen.state == BRIDGED:
            quiet = persona(self.flow) + "\n\nA person is talking to the caller now; stay silent."
            return Turn(quiet, [], "none", "endpointer", frozenset(), frozenset())
        if self._converse is not None and self._converse.state == listen.state:
            return converse_turn(self.flow, self._converse, listen)
        return ask_turn(self.flow, listen, self.today())

    def push(self, frame: I16, line: bytes | None = None) -> None:
        if self._route.private:
            self.local.push(frame, line)
            return
        if self._failed is not None:
            return
        self._send(p.append(self._caller.take(frame, line)), audio=True)

    async def partial(self) -> str:
        if self._route.private:
            return str(await self.local.partial())
        return self._transcript.partial

    async def finish(self) -> Heard:
        if self._route.private:
            return await self.local.finish()
        if self._failed is not None:
            raise self._failed
        if self._route.bridged:  # transcription only: the model does not answer a person's call
            self._transcript.forget_finals()
            self._send(p.commit())
            started = time.perf_counter()
            text = await self._transcript.next_final(TRANSCRIPT_WAIT_S)
            return Heard(text, True, (time.perf_counter() - started) * 1000)
        if not self.server_turns:
            self._responses.inflight = ("reply",)
            self._send(p.commit())
            self._responses.request("reply")
        return Heard("", True, 0.0)

    async def speak(self, text: str, sensitive: bool = False) -> AsyncIterator[Spoken]:
        if sensitive and self.local is not None:
            async for chunk in self.local.speak(text):
                yield chunk
            return
        if self._failed is not None:
            raise self._failed
        await self._responses.wait_idle()
        prompt = self._responses.open_prompt(text)
        try:
            while (chunk := await prompt.chunks.get()) is not None:
                if isinstance(chunk, EngineError):
                    raise chunk
                yield chunk
        finally:
            self._responses.close_prompt(prompt)
        self._transcript.add("bot", text)

    async def fallback_speech(self, text: str) -> AsyncIterator[Spoken]:
        """Made by the local voice: it must work when the service does not."""
        if self.fallback_voice is None:
            return
        audio = await asyncio.to_thread(self.fallback_voice, text)
        yield Spoken(audio, 0.0)

    def interrupted(self, heard_ms: dict[str, int]) -> None:
        if self._responses.active is not None:
            self._send(p.response_cancel(self._responses.active))
        for item, ms in self._bot.truncations(heard_ms):
            self._send(p.truncate(item, ms))
        self._responses.interrupted()

    def tool_result(self, call_id: str, output: str) -> None:
        self._responses.inflight = ("tool", call_id, output)
        self._send(p.function_output(call_id, output))
        self._responses.request("reply")

    async def events(self) -> AsyncIterator[EngineEvent]:
        while True:
            ev = await self._events.get()
            if isinstance(ev, EngineError):
                raise ev
            yield ev

    async def close(self) -> None:
        await self._socket.close()
        if self.local is not None:
            await self.local.close()
        if self._socket.dropped_audio:
            log.warning(
                "caller audio dropped while the socket was slow", frames=self._socket.dropped_audio
            )

    # -- the connection -----------------------------------------------------------------

    def _send(self, event: dict[str, Any], audio: bool = False) -> None:
        self._socket.send(event, audio)

    def _fail(self, exc: EngineError) -> None:
        self._socket.fail(exc)

    def _on_message(self, raw: str | bytes) -> None:
        self._server.on_message(raw)

    def _session_update(self) -> dict[str, Any]:
        turn = self._route.turn or ask_turn(self.flow, Listen(self.flow.start), self.today())
        event = p.session_update(
            model=self.config.model,
            instructions=turn.instructions,
            voice=self.flow.realtime.voice or self.config.voice,
            input_format=self._caller.input_format,
            tools=turn.tools,
            tool_choice=turn.tool_choice,
            turn=turn.turn_detection,
            transcription_model=self.config.transcription_model,
        )
        return self._responses.number_update(event)

    def _rebuilt_update(self) -> dict[str, Any]:
        """The state's settings; after a reconnect, with what was said so far."""
        event = self._session_update()
        if self._transcript.lines:
            event["session"]["instructions"] += (
                "\n\nThe call so far (the connection was restored; go on from here):\n"
                + self._transcript.recap()
            )
        return event

    def _resume(self) -> None:
        """Ask again for what the dropped socket took with it."""
        responses = self._responses
        inflight = responses.lost()
        self._socket.forget_lost()
        if inflight is None:
            return
        if inflight[0] == "say" and inflight[1] in responses.prompts:
            responses.inflight = inflight
            responses.request_prompt(responses.prompts[inflight[1]])
        elif inflight[0] == "reply":
            responses.inflight = inflight
            self._transcript.replaying()
            for data in self._caller.turn:
                self._send(p.append(data))
            self._send(p.commit())
            responses.request("reply")
        elif inflight[0] == "tool":
            responses.inflight = ("reply",)
            self._send(p.user_text(f"(The function's result: {inflight[2]})"))
            responses.request("reply")

    def _failed_with(self, exc: EngineError) -> None:
        """The socket gave up (or we did, through it): every waiter hears why."""
        self._responses.failed(exc)
        self._events.put_nowait(exc)
