"""A typed conversation with a flow: the engine behind ``callbridge flows simulate``.

It takes lines as the caller would give them and returns lines to print; the
terminal loop lives in the CLI. Caller words go through the same offline
matcher the local engine uses, so what works here works on the phone.
"""

from __future__ import annotations

import json
from datetime import datetime

from flows.interpreter import (
    Action,
    Converse,
    Dtmf,
    Event,
    Hangup,
    HungUp,
    Interpreter,
    Listen,
    Lookup,
    LookupResult,
    NoInput,
    Say,
    SetVariables,
    StateEntered,
    Transfer,
    TransferResult,
)
from flows.model import Flow
from flows.nlu import Matcher

HELP = (
    "type what the caller says · #12 keys DTMF · .silence no input · .state snapshot · "
    ".quit hang up"
)


class Simulation:
    def __init__(self, flow: Flow, now: datetime, caller_number: str = "+15550100") -> None:
        self.it = Interpreter(flow, clock=lambda: now, caller_number=caller_number)
        self.matcher = Matcher(flow, today=lambda: now.date())
        self.listen: Listen | None = None

    @property
    def ended(self) -> bool:
        return self.it.ended

    @property
    def prompt(self) -> str:
        waiting = self.it.snap.waiting_for
        if waiting == "lookup":
            return "lookup result (JSON or `error`)> "
        if waiting == "transfer":
            return "transfer (ok/failed)> "
        return "caller> "

    def start(self) -> list[str]:
        return self._show(self.it.start())

    def feed(self, typed: str) -> list[str]:
        text = typed.strip()
        if text in (".quit", ".exit"):
            self.it.handle(HungUp())
            return ["(caller hung up)"]
        if text == ".help":
            return [HELP]
        if text == ".state":
            return [json.dumps(self.it.persistable(), indent=2, default=str)]
        if not text:
            return []
        try:
            event, note = self._event(text)
        except ValueError as exc:
            return [f"! {exc}"]
        return [*note, *self._show(self.it.handle(event))]

    def _event(self, text: str) -> tuple[Event, list[str]]:
        waiting = self.it.snap.waiting_for
        if waiting == "lookup":
            if text == "error":
                return LookupResult(False), []
            try:
                return LookupResult(True, json.loads(text)), []
            except json.JSONDecodeError:
                raise ValueError(
                    'type the JSON the service would return, e.g. {"ok": true}'
                ) from None
        if waiting == "transfer":
            if text not in ("ok", "failed"):
                raise ValueError("type ok or failed")
            return TransferResult(text == "ok"), []
        if text == ".silence":
            return NoInput(), []
        if text.startswith("#"):
            digits = text[1:].replace(" ", "")
            if not digits or any(c not in "0123456789*#" for c in digits):
                raise ValueError("DTMF is #, then keys 0-9 * #: e.g. #4111#")
            return Dtmf(digits), []
        u = self.matcher.match(text, self.listen)
        heard = f"intent {u.intent} ({u.confidence:.2f})" if u.intent else "no intent"
        if u.slots:
            heard += ", " + ", ".join(f"{k}={v!r}" for k, v in u.slots.items())
        return u, [f"  ({heard})"]

    def _show(self, actions: list[Action]) -> list[str]:
        out: list[str] = []
        for a in actions:
            out += _describe(a)
            if isinstance(a, Listen):
                self.listen = a
        if self.it.ended and not any(isinstance(a, Hangup) for a in actions):
            out.append("  [call ended]")
        return out


def _describe(a: Action) -> list[str]:
    match a:
        case StateEntered(state):
            return [f"  → {state}"]
        case Say(text, sensitive):
            return [f"bot: {text}" + ("  [sensitive]" if sensitive else "")]
        case Listen():
            return []
        case Converse(state, instructions, tools):
            return [f"  [AI turn in {state}: {instructions[:60]}… tools: {', '.join(tools)}]"]
        case Lookup(url, method, body, _):
            return [f"  [lookup {method} {url} {json.dumps(body)}]"]
        case Transfer(queue, sip, number):
            return [f"  [transfer to {queue or sip or number}]"]
        case SetVariables(values):
            return [f"  [set {', '.join(f'{k}={v!r}' for k, v in values.items())}]"]
        case Hangup():
            return ["  [call ended]"]
    return []
