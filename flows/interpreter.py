"""The flow interpreter: a pure, deterministic state machine.

It consumes events (what the caller said or keyed, silence, a lookup's or a
transfer's result, a hang-up) and returns actions for the bridge to carry out
(say, listen, converse, look up, transfer, hang up). It does no I/O and keeps all
its state in :class:`Snapshot`, so a call can be resumed from a snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flows import conditions
from flows.model import (
    AskState,
    BranchState,
    CallState,
    ConverseState,
    Flow,
    HangupState,
    Hours,
    LookupState,
    Retry,
    ReturnState,
    SayState,
    TransferState,
)
from flows.spoken import spoken_date

# -- events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Utterance:
    text: str
    intent: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    confidence: float = 1.0


@dataclass(frozen=True)
class Dtmf:
    digits: str


@dataclass(frozen=True)
class NoInput:
    pass


@dataclass(frozen=True)
class LookupResult:
    ok: bool
    data: Any = None


@dataclass(frozen=True)
class TransferResult:
    ok: bool


@dataclass(frozen=True)
class HungUp:
    pass


@dataclass(frozen=True)
class ConverseTurn:
    """A model answered the caller itself in a converse state (its turns are counted)."""


Event = Utterance | Dtmf | NoInput | LookupResult | TransferResult | HungUp | ConverseTurn

# -- actions --------------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    text: str
    sensitive: bool = False


@dataclass(frozen=True)
class Listen:
    state: str
    intents: tuple[str, ...] = ()
    slot: str | None = None
    slot_type: str | None = None
    dtmf_max: int = 0
    timeout_ms: int | None = None
    sensitive: bool = False


@dataclass(frozen=True)
class Converse:
    state: str
    instructions: str
    tools: tuple[str, ...]


@dataclass(frozen=True)
class Lookup:
    url: str
    method: str
    body: Any
    timeout_ms: int


@dataclass(frozen=True)
class Transfer:
    queue: str | None
    sip: str | None
    number: str | None


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class StateEntered:
    state: str


@dataclass(frozen=True)
class SetVariables:
    values: dict[str, Any]


Action = Say | Listen | Converse | Lookup | Transfer | Hangup | StateEntered | SetVariables

# -- state ----------------------------------------------------------------------------

TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+)*)\}")
MAX_STEPS = 100  # states passed through without waiting; a loop beyond it ends the call
MAX_DEPTH = 16  # nested sub-flow calls; deeper is a runaway recursion and ends the call
CONFIRM_SLOT = "_confirm"  # the yes/no answer to a read-back, in Utterance.slots
MASK = "[sensitive]"


@dataclass
class Snapshot:
    state: str
    values: dict[str, Any] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)  # "state:no_input" -> count
    last_prompt: str = ""
    ended: bool = False
    waiting_for: str = ""  # "", "caller", "lookup", "transfer"
    confirming: bool = False  # the collected value was read back; yes/no expected
    offered: dict[str, Any] = field(default_factory=dict)  # slot values given with a request
    stack: list[str] = field(default_factory=list)  # sub-flow return states

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        return cls(**data)


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
        return frozenset(
            s.collect
            for s in self.flow.states.values()
            if isinstance(s, AskState) and s.sensitive and s.collect
        )

    def persistable(self) -> dict[str, Any]:
        """The snapshot with sensitive values masked: what may be stored or shown.

        A call resumed from it re-asks for a masked value rather than using it.
        """
        data = self.snap.to_dict()
        secret = self.sensitive_names
        data["values"] = {k: (MASK if k in secret and v is not None else v)
                          for k, v in data["values"].items()}  # fmt: skip
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
            value = self._slot_value(s, event)
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
        if isinstance(event, Dtmf):
            yes = {"1": True, "2": False}.get(event.digits.rstrip("#*"))
        else:
            yes = event.slots.get(CONFIRM_SLOT)
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

    def _slot_value(self, s: AskState, event: Utterance | Dtmf) -> Any:
        assert s.collect is not None
        if isinstance(event, Dtmf):
            digits = event.digits.rstrip("#*")
            spec = self.flow.slots[s.collect]
            if spec.type not in ("digits", "number") or not digits.isdigit():
                return None  # a date or a name cannot be keyed in
            if spec.length is not None and len(digits) != spec.length:
                return None
            return digits if spec.type == "digits" else int(digits)
        return event.slots.get(s.collect)

    def listening_at(self, state: str) -> Listen:
        """What a call waiting in ``state`` listens for (tools and benchmarks ask)."""
        s = self.flow.states[state]
        if not isinstance(s, AskState | ConverseState):
            raise ValueError(f"{state} does not wait for the caller")
        return replace(self._listen(s), state=state)

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
        no_input = s.no_input or self.flow.defaults.no_input
        timeout = no_input.timeout_ms if no_input else None
        if isinstance(s, ConverseState):
            return Listen(self.snap.state, tuple(s.on), timeout_ms=timeout)
        if self.snap.confirming:
            handlers = tuple(h.intent for h in self.flow.global_)
            return Listen(self.snap.state, handlers, CONFIRM_SLOT, "yes_no", 1, timeout,
                          s.sensitive)  # fmt: skip
        slot_type = self.flow.slots[s.collect].type if s.collect else None
        intents = tuple(dict.fromkeys([*s.intents, *(h.intent for h in self.flow.global_)]))
        dtmf_max = s.dtmf.max_digits if s.dtmf else (1 if any(k.isdigit() for k in s.on) else 0)
        return Listen(
            self.snap.state, intents, s.collect, slot_type, dtmf_max, timeout, s.sensitive
        )

    def _enter(self, name: str) -> list[Action]:
        actions: list[Action] = []
        for _ in range(MAX_STEPS):
            self.snap.state = name
            self.snap.waiting_for = ""
            self.snap.confirming = False
            for key in [k for k in self.snap.retries if k.startswith(f"{name}:")]:
                del self.snap.retries[key]
            actions.append(StateEntered(name))
            s = self.flow.states[name]
            if s.set:
                assigned = {k: self._render(v) if isinstance(v, str) else v
                            for k, v in s.set.items()}  # fmt: skip
                self.snap.values.update(assigned)
                actions.append(SetVariables(assigned))
            if isinstance(s, SayState):
                actions.append(self._say(s.say, s.sensitive))
                if s.next is None:  # the validator forbids this; end cleanly regardless
                    self.snap.ended = True
                    return [*actions, Hangup()]
                name = s.next
                continue
            if isinstance(s, BranchState):
                name = self._branch(s)
                continue
            if isinstance(s, AskState):
                if self._take_offered(s):  # the caller already said it
                    if s.confirm:
                        self.snap.confirming = True
                        self.snap.waiting_for = "caller"
                        return [*actions, self._say(s.confirm, s.sensitive), self._listen(s)]
                    if s.next:
                        name = s.next
                        continue
                actions.append(self._say(s.ask, s.sensitive))
                self.snap.waiting_for = "caller"
                return [*actions, self._listen(s)]
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
                body = _render_obj(s.lookup.body, self._render)
                return [*actions, Lookup(self._render(s.lookup.url), s.lookup.method, body,
                                         s.lookup.timeout_ms)]  # fmt: skip
            if isinstance(s, TransferState):
                if s.say:
                    actions.append(self._say(s.say, s.sensitive))
                self.snap.waiting_for = "transfer"
                t = s.transfer
                return [*actions, Transfer(t.queue, t.sip, t.number)]
            if isinstance(s, CallState):
                if len(self.snap.stack) >= MAX_DEPTH:
                    break
                self.snap.stack.append(s.next)
                name = s.call
                continue
            if isinstance(s, ReturnState):
                if not self.snap.stack:  # returned without a call: nothing to go back to
                    break
                name = self.snap.stack.pop()
                continue
            if isinstance(s, HangupState):
                if isinstance(s.hangup, str):
                    actions.append(self._say(s.hangup, s.sensitive))
                self.snap.ended = True
                return [*actions, Hangup()]
        self.snap.ended = True  # a loop that never waits, or runaway sub-flows: end, do not spin
        return [*actions, Hangup()]

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
        body = _render_obj(tool.body, lambda t: self._render(t, scope))
        return Lookup(self._render(tool.url, quoted), tool.method, body, tool.timeout_ms)

    def _render(
        self, template: str, scope: dict[str, Any] | None = None, spoken: bool = False
    ) -> str:
        """``template`` over the call's values; ``spoken``: for a prompt, so date slots
        read as the flow's callers say dates (lookups get them as ISO dates)."""
        values = self.snap.values if scope is None else scope

        def value(m: re.Match[str]) -> str:
            name = m.group(1)
            v: Any = values.get(name)
            for part in filter(None, m.group(2).split(".")):
                v = v.get(part) if isinstance(v, dict) else None
            slot = self.flow.slots.get(name)
            if spoken and not m.group(2) and slot is not None and slot.type == "date":
                return spoken_date(str(v), self.flow.locale, self.clock().date())
            return "" if v is None else str(v)

        return TEMPLATE.sub(value, template)


def is_open(hours: Hours, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(hours.timezone))
    if local.date().isoformat() in hours.closed_dates:
        return False
    span = hours.open.get(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()])  # type: ignore[call-overload]
    if not span:
        return False
    start, end = span.split("-")
    return start.strip() <= local.strftime("%H:%M") < end.strip()


def _render_obj(obj: Any, render: Any) -> Any:
    if isinstance(obj, str):
        return render(obj)
    if isinstance(obj, dict):
        return {k: _render_obj(v, render) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_render_obj(v, render) for v in obj]
    return obj
