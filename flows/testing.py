"""Declarative test conversations for a flow, with state and transition coverage.

A test file sits beside its flow (``card_services.test.yaml``)::

    flow: card_services.yaml
    clock: 2026-11-24T12:00:00Z          # business hours and relative dates
    variables: { caller_number: "+447700900123" }
    tests:
      - name: balance by voice
        steps:
          - expect: { state: menu, prompt: "balance" }
          - caller: what's my balance      # through the offline matcher
          - dtmf: "4111#"
          - silence                        # a no-input timeout
          - lookup: { verified: true }     # the pending lookup answers (or: lookup: error)
          - transfer: failed               # or: ok
          - expect: { state: anything_else, slots: { dob: "1982-07-04" }, ended: false }

``expect`` checks what the last input produced: ``state``, ``prompt`` (text any
prompt contains), ``slots`` (collected values and variables), ``intent``,
``lookup`` (text the URL contains), ``transfer`` (queue, number or SIP URI) and
``ended``. Every failure points at its step's line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flows.checks import reach, successors
from flows.interpreter import (
    Action,
    Dtmf,
    Event,
    HungUp,
    Interpreter,
    Listen,
    Lookup,
    LookupResult,
    NoInput,
    Say,
    StateEntered,
    Transfer,
    TransferResult,
    Utterance,
)
from flows.loader import FlowInvalid, Problem, Source, load, parse_yaml
from flows.model import CallState, Flow, ReturnState
from flows.nlu import Matcher

INPUTS = ("caller", "dtmf", "silence", "lookup", "transfer", "hangup")
EXPECTS = ("state", "prompt", "slots", "intent", "lookup", "transfer", "ended")


@dataclass(frozen=True)
class Failure:
    file: str
    line: int
    col: int
    test: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.test}: {self.message}"


@dataclass
class Coverage:
    states: set[str]
    transitions: set[tuple[str, str]]
    states_hit: set[str] = field(default_factory=set)
    transitions_hit: set[tuple[str, str]] = field(default_factory=set)

    @property
    def state_pct(self) -> float:
        return 100.0 * len(self.states_hit & self.states) / max(len(self.states), 1)

    @property
    def transition_pct(self) -> float:
        hit = self.transitions_hit & self.transitions
        return 100.0 * len(hit) / max(len(self.transitions), 1)

    def lines(self) -> Iterator[str]:
        n, t = len(self.states_hit & self.states), len(self.states)
        yield f"  states      {n:>3}/{t:<3} {self.state_pct:5.1f}%"
        missed = sorted(self.states - self.states_hit)
        if missed:
            yield f"    never entered: {', '.join(missed)}"
        n, t = len(self.transitions_hit & self.transitions), len(self.transitions)
        yield f"  transitions {n:>3}/{t:<3} {self.transition_pct:5.1f}%"
        untaken = sorted(self.transitions - self.transitions_hit)
        if untaken:
            yield "    never taken: " + ", ".join(f"{a}→{b}" for a, b in untaken)


@dataclass
class SuiteResult:
    file: str
    flow: Flow
    tests: int
    failures: list[Failure]
    coverage: Coverage


def transitions(flow: Flow) -> set[tuple[str, str]]:
    """Every move between states the flow allows, as the interpreter makes them.

    A `call:` moves into its sub-flow; the sub-flow's `return` moves to the caller's `next`.
    """
    out: set[tuple[str, str]] = set()
    for name, s in flow.states.items():
        for target in successors(flow, name):
            if isinstance(s, CallState) and target == s.next and target != s.call:
                for r in reach(flow, s.call):
                    if isinstance(flow.states[r], ReturnState):
                        out.add((r, s.next))
                continue
            out.add((name, target))
    return out


def find_test_file(path: Path) -> Path:
    """A test file as given, or the ``NAME.test.yaml`` beside a flow file ``NAME.yaml``."""
    if path.name.endswith(".test.yaml"):
        return path
    return path.with_name(path.name.removesuffix(".yaml") + ".test.yaml")


def run_file(path: str | Path) -> SuiteResult:
    """Run every test conversation in a test file; raises FlowInvalid on a malformed file."""
    p = find_test_file(Path(path))
    return run_text(read_test_file(p), str(p), base=p.parent)


def read_test_file(p: Path) -> str:
    """A flow's test file as text; one that cannot be read is a flow problem."""
    try:
        return p.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowInvalid(
            [
                Problem(
                    str(p),
                    1,
                    1,
                    f"cannot read the file: {exc.strerror}",
                    "a flow's tests live in NAME.test.yaml beside it",
                )
            ]
        ) from None


def run_text(text: str, file: str, flow: Flow | None = None, base: Path = Path()) -> SuiteResult:
    """Run the test conversations in ``text``, on ``flow`` when given (an editor's unsaved
    flow), else on the file its ``flow:`` names, relative to ``base``."""
    src = parse_yaml(text, file)
    tree = src.tree
    for key in ("flow", "tests"):
        if not isinstance(tree, dict) or key not in tree:
            raise FlowInvalid([src.problem((), f"missing `{key}`", _HINT)])
    if flow is None:
        flow = load(base / str(tree["flow"]))
    clock = _clock(src, tree.get("clock"), ("clock",))
    builtins = dict(tree.get("variables") or {})
    cov = Coverage(set(flow.states), transitions(flow))
    failures: list[Failure] = []
    for i, case in enumerate(tree["tests"]):
        failures += _run_case(flow, src, ("tests", i), case, clock, builtins, cov)
    return SuiteResult(file, flow, len(tree["tests"]), failures, cov)


_HINT = "a test file has `flow: FILE.yaml` and `tests:` (see docs/flows.md)"


def _clock(src: Source, value: Any, path: tuple[Any, ...]) -> datetime:
    if value is None:
        return datetime(2026, 1, 6, 12, 0, tzinfo=UTC)  # a Tuesday noon: open hours
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise FlowInvalid(
            [src.problem(path, f"`{value}` is not a date and time", "e.g. 2026-11-24T12:00:00Z")]
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _Fail(Exception):
    pass


def _run_case(
    flow: Flow,
    src: Source,
    path: tuple[Any, ...],
    case: Any,
    default_clock: datetime,
    builtins: dict[str, Any],
    cov: Coverage,
) -> list[Failure]:
    name = str(case.get("name", f"test {path[-1] + 1}")) if isinstance(case, dict) else "?"
    if not isinstance(case, dict) or not isinstance(case.get("steps"), list):
        raise FlowInvalid([src.problem(path, "a test needs `name:` and a list of `steps:`")])
    clock = _clock(src, case.get("clock"), (*path, "clock")) if "clock" in case else default_clock
    it = Interpreter(flow, clock=lambda: clock, **builtins, **dict(case.get("variables") or {}))
    matcher = Matcher(flow, today=lambda: clock.date())
    run = _Run(it, cov)
    run.apply(it.start())
    for j, step in enumerate(case["steps"]):
        step_path = (*path, "steps", j)
        kind, arg = _step(src, step_path, step)
        try:
            if kind == "expect":
                run.expect(arg)
            else:
                run.apply(it.handle(run.event(kind, arg, matcher)))
        except _Fail as exc:
            line, col = src.position(step_path)
            return [Failure(src.file, line, col, name, str(exc))]
    return []


def _step(src: Source, path: tuple[Any, ...], step: Any) -> tuple[str, Any]:
    if step in ("silence", "hangup"):
        return step, None
    if isinstance(step, dict) and len(step) == 1:
        kind, arg = next(iter(step.items()))
        if kind in INPUTS or kind == "expect":
            if kind == "expect" and (
                not isinstance(arg, dict) or set(arg) - set(EXPECTS) or not arg
            ):
                raise FlowInvalid(
                    [
                        src.problem(
                            path,
                            "`expect:` takes a mapping of checks",
                            "use: " + ", ".join(EXPECTS),
                        )
                    ]
                )
            return kind, arg
    raise FlowInvalid(
        [
            src.problem(
                path,
                "a step is one of: " + ", ".join(("expect", *INPUTS)),
                "e.g. `- caller: what is my balance` or `- expect: { state: menu }`",
            )
        ]
    )


@dataclass
class _Run:
    it: Interpreter
    cov: Coverage
    window: list[Action] = field(default_factory=list)
    listen: Listen | None = None
    intent: str | None = None
    last_state: str | None = None

    def apply(self, actions: list[Action]) -> None:
        self.window = actions
        prev = self.last_state
        for a in actions:
            if isinstance(a, StateEntered):
                self.cov.states_hit.add(a.state)
                if prev is not None:
                    self.cov.transitions_hit.add((prev, a.state))
                prev = a.state
            elif isinstance(a, Listen):
                self.listen = a
        self.last_state = prev

    def event(self, kind: str, arg: Any, matcher: Matcher) -> Event:
        waiting = self.it.snap.waiting_for
        if self.it.ended and kind != "hangup":
            raise _Fail(f"the call has ended; nothing takes `{kind}`")
        wants = {
            "caller": "caller",
            "dtmf": "caller",
            "silence": "caller",
            "lookup": "lookup",
            "transfer": "transfer",
        }.get(kind)
        if wants is not None and wants != waiting:
            raise _Fail(
                f"`{kind}` given, but the flow in `{self.it.state}` waits for "
                f"{'the ' + waiting if waiting else 'nothing'}"
            )
        if kind == "caller":
            u: Utterance = matcher.match(str(arg), self.listen)
            self.intent = u.intent
            return u
        if kind == "dtmf":
            return Dtmf(str(arg))
        if kind == "silence":
            return NoInput()
        if kind == "lookup":
            return LookupResult(False) if arg == "error" else LookupResult(True, arg)
        if kind == "transfer":
            if arg not in ("ok", "failed"):
                raise _Fail("`transfer:` is `ok` or `failed`")
            return TransferResult(arg == "ok")
        return HungUp()

    def expect(self, want: dict[str, Any]) -> None:
        it, said = self.it, [a.text for a in self.window if isinstance(a, Say)]
        for key, value in want.items():
            if key == "state" and it.state != value:
                raise _Fail(f"expected state `{value}`, the flow is in `{it.state}`")
            if key == "prompt" and not any(str(value).lower() in t.lower() for t in said):
                heard = " | ".join(said) or "nothing"
                raise _Fail(f"expected a prompt containing {value!r}; heard: {heard}")
            if key == "slots":
                for slot, v in dict(value).items():
                    got = it.snap.values.get(slot)
                    if got != v:
                        raise _Fail(f"expected `{slot}` = {v!r}, it is {got!r}")
            if key == "intent" and self.intent != value:
                raise _Fail(f"expected intent `{value}`, matched {self.intent!r}")
            if key == "ended" and it.ended != bool(value):
                raise _Fail("expected the call to have ended" if value else "the call ended")
            if key == "lookup":
                urls = [a.url for a in self.window if isinstance(a, Lookup)]
                if not any(str(value) in u for u in urls):
                    raise _Fail(f"expected a lookup of {value!r}; looked up: {urls or 'nothing'}")
            if key == "transfer":
                targets = [
                    x
                    for a in self.window
                    if isinstance(a, Transfer)
                    for x in (a.queue, a.number, a.sip)
                    if x
                ]
                if str(value) not in targets:
                    raise _Fail(f"expected a transfer to {value!r}; got {targets or 'none'}")
