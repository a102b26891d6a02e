"""The flow interpreter: a pure, deterministic state machine.

It consumes events (:mod:`flows.events`: what the caller said or keyed, silence, a
lookup's or a transfer's result, a hang-up) and returns actions for the bridge to
carry out (:mod:`flows.actions`: say, listen, converse, look up, transfer, hang up).
It does no I/O and keeps all its state in :class:`Snapshot`, so a call can be
resumed from a snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from flows import conditions
from flows.actions import (
    Action,
    Converse,
    Hangup,
    Listen,
    Lookup,
    Say,
    SetVariables,
    StateEntered,
    Transfer,
)
from flows.events import (
    ConverseTurn,
    Dtmf,
    Event,
    HungUp,
    LookupResult,
    NoInput,
    TransferResult,
    Utterance,
)
from flows.hours import is_open
from flows.listening import CONFIRM_SLOT as CONFIRM_SLOT  # the engines read it here
from flows.listening import confirmed, listen_for, slot_value
from flows.model import (
    AskState,
    BranchState,
    CallState,
    ConverseState,
    Flow,
    HangupState,
    LookupState,
    Retry,
    ReturnState,
    SayState,
    State,
    TransferState,
)
from flows.snapshot import MASK, Snapshot
from flows.templates import render, render_all

MAX_STEPS = 100  # states passed through without waiting; a loop beyond it ends the call
MAX_DEPTH = 16  # nested sub-flow calls; deeper is a runaway recursion and ends the call


class Interpreter:
    def __init__(
        self,
        flow: Flow,
        snapshot: Snapshot | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        **builtins: Any,
    ) -> None:
        """``clock`` answers business-hours checks; tests and replays pass a fixed one."""
        self.flow = flow
        self.clock = clock
        values = {k: v.default for k, v in flow.variables.items()} | builtins
        self.snap = snapshot or Snapshot(state=flow.start, values=values)

    @property
    def state(self) -> str:
        return self.snap.state

    @property
    def ended(self) -> bool:
        return self.snap.ended

    @property
    def sensitive_names(self) -> frozenset[str]:
        """Slots collected in sensitive states: never persisted, shown or sent in clear."""
        return frozenset(self.flow.sensitive_slots())

    def persistable(self) -> dict[str, Any]:
        """The snapshot with sensitive values masked: what may be stored or shown.

        A call resumed from it re-asks for a masked value rather than using it.
        """
        data = self.snap.to_dict()
        secret = self.sensitive_names
        data["values"] = {
            k: (MASK if k in secret and v is not None else v) for k, v in data["values"].items()
        }
        if self.flow.states[self.snap.state].sensitive:
            data["last_prompt"] = MASK
        return data

    def start(self) -> list[Action]:
        return self._enter(self.flow.start)

    def goto(self, state: str) -> list[Action]:
        """Leave whatever the call was doing for ``state`` (e.g. the flow's fallback)."""
        if self.snap.ended:
            return []
        self.snap.stack.clear()
        return self._enter(state)

    def handle(self, event: Event) -> list[Action]:
        if self.snap.ended:
            return []
        if isinstance(event, HungUp):
            self.snap.ended = True
            return []
        s = self.flow.states[self.snap.state]
        waiting = self.snap.waiting_for
        if waiting == "lookup" and isinstance(event, LookupResult) and isinstance(s, LookupState):
            if event.ok:
                self.snap.values[s.lookup.result] = event.data
                return self._enter(s.next)
            return self._enter(s.on_error)
        if waiting == "transfer" and isinstance(event, TransferResult):
            if event.ok or not isinstance(s, TransferState) or s.on_fail is None:
                self.snap.ended = True
                return []
            return self._enter(s.on_fail)
        if waiting != "caller" or not isinstance(s, AskState | ConverseState):
            return []  # an event the current state does not wait for: ignored
        if isinstance(event, NoInput):
            return self._retry(s, "no_input")
        if isinstance(event, ConverseTurn):
            return self._converse_turn(s)
        if isinstance(event, Utterance | Dtmf):
            return self._answer(s, event)
        return []

    # -- internals --------------------------------------------------------------------

    def _answer(self, s: AskState | ConverseState, event: Utterance | Dtmf) -> list[Action]:
        intent = event.intent if isinstance(event, Utterance) else None
        for h in self.flow.global_:
            if intent == h.intent:
                if h.action == "repeat":
                    return [Say(self.snap.last_prompt, s.sensitive), self._listen(s)]
                if h.goto:
                    return self._enter(h.goto)
        if self.snap.confirming and isinstance(s, AskState):
            return self._confirmation(s, event)
        key = intent if isinstance(event, Utterance) else event.digits
        if key is not None and key in s.on:
            if isinstance(event, Utterance) and intent in self.flow.intents:
                own = self.flow.intents[intent].slots
                self.snap.offered |= {k: v for k, v in event.slots.items() if k in own}
            return self._enter(s.on[key])
        if isinstance(s, AskState) and s.collect:
            value = slot_value(self.flow, s, event)
            if value is not None:
                self.snap.values[s.collect] = value
                check = s.validate_
                if check is not None and not conditions.evaluate(check.if_, self.snap.values):
                    self.snap.values.pop(s.collect)
                    return self._retry(s, "no_match", check.prompt)
                if s.confirm:
                    self.snap.confirming = True
                    return [self._say(s.confirm, s.sensitive), self._listen(s)]
                if s.next:
                    return self._enter(s.next)
        return self._retry(s, "no_match")

    def _converse_turn(self, s: AskState | ConverseState) -> list[Action]:
        """Past ``max_turns`` the conversation moves on (``next``, else the no-match way
        out); before it, nothing changes: the model goes on."""
        if not isinstance(s, ConverseState):
            return []
        key = f"{self.snap.state}:turns"
        self.snap.retries[key] = self.snap.retries.get(key, 0) + 1
        if self.snap.retries[key] < s.converse.max_turns:
            return []
        if s.next:
            return self._enter(s.next)
        return self._retry(s, "no_match")

    def _confirmation(self, s: AskState, event: Utterance | Dtmf) -> list[Action]:
        yes = confirmed(event)
        if yes is True:
            self.snap.confirming = False
            if s.next:
                return self._enter(s.next)
            return self._retry(s, "no_match")
        if yes is False:  # the read-back was wrong: forget the value and ask again
            assert s.collect is not None
            self.snap.confirming = False
            self.snap.values.pop(s.collect, None)
            return [self._say(s.ask, s.sensitive), self._listen(s)]
        return self._retry(s, "no_match")

    def listening_at(self, state: str) -> Listen:
        """What a call waiting in ``state`` listens for (tools and benchmarks ask)."""
        s = self.flow.states[state]
        if not isinstance(s, AskState | ConverseState):
            raise ValueError(f"{state} does not wait for the caller")
        return listen_for(self.flow, state, s, self.snap.confirming)

    def _take_offered(self, s: AskState) -> bool:
        """Fill the state's slot from a value the caller gave with an earlier request, if
        one is there and passes the state's ``validate``."""
        if s.collect is None or s.collect not in self.snap.offered:
            return False
        self.snap.values[s.collect] = self.snap.offered.pop(s.collect)
        check = s.validate_
        if check is not None and not conditions.evaluate(check.if_, self.snap.values):
            self.snap.values.pop(s.collect)
            return False
        return True

    def _retry(
        self, s: AskState | ConverseState, kind: str, why: str | None = None
    ) -> list[Action]:
        """A reprompt (``why`` first, when given) or, past the limit, the way out."""
        policy: Retry | None = getattr(s, kind, None) or getattr(self.flow.defaults, kind)
        key = f"{self.snap.state}:{kind}"
        count = self.snap.retries.get(key, 0) + 1
        self.snap.retries[key] = count
        if policy is None or count > policy.max:
            target = policy.then if policy and policy.then else None
            if target is None:
                self.snap.ended = True
                return [Hangup()]
            return self._enter(target)
        prompts = policy.prompts or [self.snap.last_prompt]
        text = self._render(why or prompts[min(count - 1, len(prompts) - 1)], spoken=True)
        actions: list[Action] = [Say(text, s.sensitive)]
        if isinstance(s, AskState):
            again = s.confirm if self.snap.confirming and s.confirm else s.ask
            actions.append(Say(self._render(again, spoken=True), s.sensitive))
        return [*actions, self._listen(s)]

    def _listen(self, s: AskState | ConverseState) -> Listen:
        return listen_for(self.flow, self.snap.state, s, self.snap.confirming)

    def _enter(self, name: str) -> list[Action]:
        """Enter state ``name`` and pass on through states that do not wait, until one
        waits (for the caller, a lookup, a transfer) or the call ends."""
        actions: list[Action] = []
        for _ in range(MAX_STEPS):
            self._arrive(name, actions)
            step = self._step(name, self.flow.states[name], actions)
            if step is None:
                break
            if not isinstance(step, str):
                return step
            name = step
        self.snap.ended = True  # a loop that never waits, or runaway sub-flows: end, do not spin
        return [*actions, Hangup()]

    def _arrive(self, name: str, actions: list[Action]) -> None:
        """The call is in ``name`` now, with its retry counts fresh and its `set:` done."""
        self.snap.state = name
        self.snap.waiting_for = ""
        self.snap.confirming = False
        for key in [k for k in self.snap.retries if k.startswith(f"{name}:")]:
            del self.snap.retries[key]
        actions.append(StateEntered(name))
        s = self.flow.states[name]
        if s.set:
            assigned = {k: self._render(v) if isinstance(v, str) else v for k, v in s.set.items()}
            self.snap.values.update(assigned)
            actions.append(SetVariables(assigned))

    def _step(self, name: str, s: State, actions: list[Action]) -> str | list[Action] | None:
        """What state ``s`` does once entered: the state to pass on to, the actions to
        wait with (``actions`` and its own), or None when the call cannot go on."""
        if isinstance(s, SayState):
            actions.append(self._say(s.say, s.sensitive))
            if s.next is None:  # the validator forbids this; end cleanly regardless
                self.snap.ended = True
                return [*actions, Hangup()]
            return s.next
        if isinstance(s, BranchState):
            return self._branch(s)
        if isinstance(s, AskState):
            return self._ask(s, actions)
        if isinstance(s, CallState):
            if len(self.snap.stack) >= MAX_DEPTH:
                return None
            self.snap.stack.append(s.next)
            return s.call
        if isinstance(s, ReturnState):
            if not self.snap.stack:  # returned without a call: nothing to go back to
                return None
            return self.snap.stack.pop()
        return self._wait(name, s, actions)

    def _ask(self, s: AskState, actions: list[Action]) -> str | list[Action]:
        if self._take_offered(s):  # the caller already said it
            if s.confirm:
                self.snap.confirming = True
                self.snap.waiting_for = "caller"
                return [*actions, self._say(s.confirm, s.sensitive), self._listen(s)]
            if s.next:
                return s.next
        actions.append(self._say(s.ask, s.sensitive))
        self.snap.waiting_for = "caller"
        return [*actions, self._listen(s)]

    def _wait(self, name: str, s: State, actions: list[Action]) -> str | list[Action]:
        """The states that leave the call waiting: for the caller in a conversation, for a
        lookup or a transfer, or for nothing more (a hang-up)."""
        if isinstance(s, ConverseState):
            instructions = self._render(s.converse.instructions)
            self.snap.waiting_for = "caller"
            return [
                *actions,
                Converse(name, instructions, tuple(s.converse.tools)),
                self._listen(s),
            ]
        if isinstance(s, LookupState):
            self.snap.waiting_for = "lookup"
            body = render_all(s.lookup.body, self._render)
            url = self._render(s.lookup.url)
            return [*actions, Lookup(url, s.lookup.method, body, s.lookup.timeout_ms)]
        if isinstance(s, TransferState):
            if s.say:
                actions.append(self._say(s.say, s.sensitive))
            self.snap.waiting_for = "transfer"
            t = s.transfer
            return [*actions, Transfer(t.queue, t.sip, t.number)]
        if isinstance(s, HangupState):
            if isinstance(s.hangup, str):
                actions.append(self._say(s.hangup, s.sensitive))
            self.snap.ended = True
            return [*actions, Hangup()]
        return name  # no other kind of state: entered again until MAX_STEPS ends the call

    def _say(self, template: str, sensitive: bool) -> Say:
        text = self._render(template, spoken=True)
        self.snap.last_prompt = text
        return Say(text, sensitive)

    def _branch(self, s: BranchState) -> str:
        for case in s.branch:
            if case.if_ is not None and conditions.evaluate(case.if_, self.snap.values):
                return case.goto
            if case.open is not None and is_open(case.open, self.clock()):
                return case.goto
        return s.else_

    def tool_request(self, name: str, args: dict[str, Any]) -> Lookup:
        """The HTTP request a model's call of the flow tool ``name`` makes: its url and
        body rendered over the call's variables and ``{args.*}``."""
        tool = self.flow.tools[name]
        scope = {**self.snap.values, "args": args}
        # The model's words go into a URL: quoted, so they cannot reach another path or host.
        quoted = {**self.snap.values, "args": {k: quote(str(v), safe="") for k, v in args.items()}}
        body = render_all(tool.body, lambda t: self._render(t, scope))
        return Lookup(self._render(tool.url, quoted), tool.method, body, tool.timeout_ms)

    def _render(
        self, template: str, scope: dict[str, Any] | None = None, spoken: bool = False
    ) -> str:
        """``template`` over the call's values (or ``scope``); ``spoken``: for a prompt."""
        values = self.snap.values if scope is None else scope
        return render(template, values, self.flow, lambda: self.clock().date(), spoken)
