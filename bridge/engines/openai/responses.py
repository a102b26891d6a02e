"""What we ask the model, and which of its responses is which.

Our requests carry a tag that comes back in ``response.metadata``, so a flow
prompt's audio (a :class:`Prompt`) and the model's own replies never mix. The API
generates one response at a time; ``inflight`` is what a reconnect must ask again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge import logs
from bridge.engines.base import EngineError, Spoken
from bridge.engines.openai import protocol as p
from bridge.engines.openai.turns import SAY_EXACTLY

log = logs.get_logger(__name__)

IDLE_WAIT_S = 10.0
SERVER = "server"  # the tag of a response the server made itself (its turn detection)


@dataclass
class Response:
    id: str
    tag: str
    requested_at: float
    first_audio_ms: float | None = None
    calls: list[p.ServerEvent] = field(default_factory=list)

    @property
    def is_prompt(self) -> bool:
        return self.tag.startswith("say-")


class Prompt:
    """One flow prompt being spoken by the model: its audio, as it arrives (None: the end)."""

    def __init__(self, tag: str, text: str) -> None:
        self.tag, self.text = tag, text
        self.chunks: asyncio.Queue[Spoken | EngineError | None] = asyncio.Queue()


class Responses:
    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        self._send = send
        self._ids = itertools.count(1)
        self.by_id: dict[str, Response] = {}
        self.prompts: dict[str, Prompt] = {}
        self._requested: dict[str, float] = {}  # tag → when we asked
        self.active: str | None = None  # the response being generated
        self.inflight: tuple[str, ...] | None = None  # what a reconnect must ask again
        self._idle = asyncio.Event()
        self._idle.set()
        self.update_id = ""  # our last session.update's event id

    def next_id(self) -> int:
        """Numbers our prompts' tags and our events' ids, in one sequence."""
        return next(self._ids)

    def number_update(self, event: dict[str, Any]) -> dict[str, Any]:
        """Give a session.update its id, kept: an error about it is a refused setting."""
        self.update_id = event["event_id"] = f"cb-update-{self.next_id()}"
        return event

    def request(
        self, tag: str, instructions: str | None = None, tool_choice: str | None = None
    ) -> None:
        self._requested[tag] = time.perf_counter()
        event = p.response_create(tag, instructions=instructions, tool_choice=tool_choice)
        event["event_id"] = f"cb-{tag}-{self.next_id()}"
        self._send(event)

    def request_prompt(self, prompt: Prompt) -> None:
        self.request(prompt.tag, SAY_EXACTLY.format(text=prompt.text), "none")

    def caller_turn_ended(self) -> None:
        """The server heard the caller stop: its own reply is timed from now."""
        self._requested[SERVER] = time.perf_counter()

    def open_prompt(self, text: str) -> Prompt:
        prompt = Prompt(f"say-{self.next_id()}", text)
        self.prompts[prompt.tag] = prompt
        self.inflight = ("say", prompt.tag, text)
        self.request_prompt(prompt)
        return prompt

    def close_prompt(self, prompt: Prompt) -> None:
        self.prompts.pop(prompt.tag, None)
        if self.inflight and self.inflight[:2] == ("say", prompt.tag):
            self.inflight = None

    def created(self, ev: p.ServerEvent) -> None:
        tag = ev.tag or SERVER
        started = self._requested.pop(tag, time.perf_counter())
        self.by_id[ev.response_id] = Response(ev.response_id, tag, started)
        self.active = ev.response_id

    def finished(self, response_id: str) -> Response | None:
        """The response is done; ours, if we know it. Call :meth:`settled` after."""
        if self.active == response_id:
            self.active = None
        return self.by_id.pop(response_id, None)

    def settled(self) -> None:
        self._idle.set()

    async def wait_idle(self) -> None:
        """One response at a time (the API refuses a second); a reply that never ends
        must not keep the flow's next prompt from being said."""
        deadline = time.monotonic() + IDLE_WAIT_S
        while self.active is not None or (self.inflight is not None and self.inflight[0] != "say"):
            self._idle.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("realtime response did not end; speaking anyway")
                self.active, self.inflight = None, None
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), left)

    def interrupted(self) -> None:
        """A barge-in: every prompt being spoken ends where it is."""
        for prompt in list(self.prompts.values()):
            prompt.chunks.put_nowait(None)
        if self.inflight and self.inflight[0] == "say":
            self.inflight = None

    def lost(self) -> tuple[str, ...] | None:
        """The socket dropped with every response: what was in flight, to ask again."""
        self.active = None
        self.by_id.clear()
        inflight, self.inflight = self.inflight, None
        return inflight

    def failed(self, exc: EngineError) -> None:
        """The service is gone: every prompt's listener hears why."""
        self.inflight, self.active = None, None
        self._idle.set()
        for prompt in self.prompts.values():
            prompt.chunks.put_nowait(exc)
