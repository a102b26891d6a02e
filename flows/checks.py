"""What a schema cannot see: the meaning of a flow.

Unknown and unreachable states, dead ends, waiting states without no-input or
no-match handling, template names that do not exist, slots used before any path
can have set them, bad branch conditions, and sensitive data that would leak into
a model's context or be spoken back in clear.
"""

from __future__ import annotations

import difflib
import re
from collections import deque
from collections.abc import Iterator
from typing import Any

from flows import conditions
from flows.loader import Problem, Source
from flows.model import (
    AskState,
    BranchState,
    CallState,
    ConverseState,
    Flow,
    HangupState,
    LookupState,
    ReturnState,
    SayState,
    TransferState,
)

BUILTINS = frozenset({"caller_number", "dialled_number", "call_id"})
TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?:\.[A-Za-z0-9_.]+)?\}")
Path = tuple[Any, ...]


def edges(flow: Flow, name: str) -> Iterator[tuple[Path, str]]:
    """(path of the reference, target state) for every way out of state ``name``."""
    s = flow.states[name]
    base: Path = ("states", name)
    if isinstance(s, CallState):
        yield (*base, "call"), s.call
    if isinstance(s, SayState | AskState | ConverseState | LookupState | CallState) and s.next:
        yield (*base, "next"), s.next
    if isinstance(s, AskState | ConverseState):
        for key, target in s.on.items():
            yield (*base, "on", key), target
        for kind in ("no_input", "no_match"):
            retry = getattr(s, kind, None)
            if retry and retry.then:
                yield (*base, kind, "then"), retry.then
    if isinstance(s, LookupState):
        yield (*base, "on_error"), s.on_error
    if isinstance(s, BranchState):
        for i, case in enumerate(s.branch):
            yield (*base, "branch", i, "goto"), case.goto
        yield (*base, "else"), s.else_
    if isinstance(s, TransferState) and s.on_fail:
        yield (*base, "on_fail"), s.on_fail


def global_edges(flow: Flow) -> Iterator[tuple[Path, str]]:
    for i, h in enumerate(flow.global_):
        if h.goto:
            yield ("global", i, "goto"), h.goto
    for kind in ("no_input", "no_match"):
        retry = getattr(flow.defaults, kind)
        if retry and retry.then:
            yield ("defaults", kind, "then"), retry.then


def check(flow: Flow, src: Source) -> list[Problem]:
    out: list[Problem] = []
    out += _references(flow, src)
    if out:
        return out  # the graph checks need every reference to resolve
    out += _reachability(flow, src)
    out += _stray_returns(flow, src)
    out += _dead_ends(flow, src)
    out += _handlers(flow, src)
    out += _names(flow, src)
    out += _sensitive(flow, src)
    return out


def _suggest(name: str, options: list[str]) -> str:
    near = difflib.get_close_matches(name, options, n=1)
    return f"did you mean `{near[0]}`?" if near else f"define a state `{name}` under states"


def _references(flow: Flow, src: Source) -> list[Problem]:
    states = list(flow.states)
    refs = [(("start",), flow.start)]
    if flow.fallback is not None:
        refs.append((("fallback",), flow.fallback))
    for name in flow.states:
        refs += list(edges(flow, name))
    refs += list(global_edges(flow))
    out = [
        src.problem(path, f"unknown state `{target}`", _suggest(target, states), value=True)
        for path, target in refs
        if target not in flow.states
    ]
    intent_refs: list[tuple[Path, str, bool]] = [
        (("global", i, "intent"), h.intent, True) for i, h in enumerate(flow.global_)
    ]
    for name, s in flow.states.items():
        if isinstance(s, AskState):
            intent_refs += [
                (("states", name, "intents", i), x, False) for i, x in enumerate(s.intents)
            ]
    for path, intent, is_value in intent_refs:
        if intent not in flow.intents:
            out.append(
                src.problem(
                    path,
                    f"unknown intent `{intent}`",
                    "add it under intents with examples",
                    value=is_value,
                )
            )
    sensitive = {s.collect for s in flow.states.values()
                 if isinstance(s, AskState) and s.sensitive and s.collect}  # fmt: skip
    for intent, spec in flow.intents.items():
        for i, slot in enumerate(spec.slots):
            path = ("intents", intent, "slots", i)
            if slot not in flow.slots:
                out.append(src.problem(path, f"unknown slot `{slot}`",
                                       _suggest(slot, list(flow.slots)), value=True))  # fmt: skip
            elif slot in sensitive:
                out.append(src.problem(
                    path, f"`{slot}` is collected in a sensitive state",
                    "a sensitive value is only taken where it is asked for: remove it here",
                    value=True,
                ))  # fmt: skip
    for name, s in flow.states.items():
        if isinstance(s, ConverseState):
            for i, tool in enumerate(s.converse.tools):
                if tool not in flow.tools:
                    near = difflib.get_close_matches(tool, list(flow.tools), n=1)
                    out.append(
                        src.problem(
                            ("states", name, "converse", "tools", i),
                            f"unknown tool `{tool}`",
                            f"did you mean `{near[0]}`?"
                            if near
                            else "define it under tools with its url and parameters",
                            value=True,
                        )
                    )
        if isinstance(s, AskState) and s.collect and s.collect not in flow.slots:
            out.append(
                src.problem(
                    ("states", name, "collect"),
                    f"unknown slot `{s.collect}`",
                    "declare it under slots with its type",
                    value=True,
                )
            )
    return out


def successors(flow: Flow, name: str) -> set[str]:
    out = {t for _, t in edges(flow, name)}
    if isinstance(flow.states[name], AskState | ConverseState):
        out |= {t for _, t in global_edges(flow)}
    return out


def reach(flow: Flow, start: str, into_calls: bool = True) -> set[str]:
    seen = {start}
    todo = deque([start])
    while todo:
        name = todo.popleft()
        nexts = successors(flow, name)
        s = flow.states[name]
        if not into_calls and isinstance(s, CallState):
            nexts = {s.next}
        for nxt in nexts:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _reachability(flow: Flow, src: Source) -> list[Problem]:
    seen = reach(flow, flow.start)
    out = []
    if flow.fallback is not None:
        seen |= reach(flow, flow.fallback)
        if not isinstance(flow.states[flow.fallback], TransferState | HangupState):
            out.append(
                src.problem(
                    ("fallback",),
                    f"fallback `{flow.fallback}` is not a transfer or hangup state",
                    "point it at the transfer to a person (or a goodbye) callers need "
                    "when speech fails",
                    value=True,
                )
            )
    return out + [
        src.problem(
            ("states", name),
            f"state `{name}` can never be reached",
            "point a next/on/goto at it from another state, or remove it",
        )
        for name in flow.states
        if name not in seen
    ]


def _stray_returns(flow: Flow, src: Source) -> list[Problem]:
    """A `return` met outside any sub-flow would have nowhere to go back to."""
    main = reach(flow, flow.start, into_calls=False)
    return [
        src.problem(
            ("states", name, "return"),
            f"`{name}` returns, but the main flow reaches it without a `call:`",
            "reach sub-flow states only through a state with `call:` and `next:`",
        )
        for name in flow.states
        if name in main and isinstance(flow.states[name], ReturnState)
    ]


def _dead_ends(flow: Flow, src: Source) -> list[Problem]:
    out = []
    for name, s in flow.states.items():
        if isinstance(s, HangupState | TransferState | BranchState | LookupState | ReturnState):
            continue
        if not successors(flow, name) - {name}:
            out.append(
                src.problem(
                    ("states", name),
                    f"state `{name}` is a dead end",
                    "add `next:` (or `on:` answers), or end the call with a hangup state",
                )
            )
    return out


def _handlers(flow: Flow, src: Source) -> list[Problem]:
    out = []
    for name, s in flow.states.items():
        kinds = ("no_input", "no_match") if isinstance(s, AskState) else ("no_input",)
        if not isinstance(s, AskState | ConverseState):
            continue
        for kind in kinds:
            retry = getattr(s, kind, None) or getattr(flow.defaults, kind)
            if retry is None:
                out.append(
                    src.problem(
                        ("states", name),
                        f"state `{name}` has no {kind} handling",
                        f"add `{kind}:` with prompts and `then:` here, or "
                        f"`defaults: {{{kind}: ...}}` for every state",
                    )
                )
            elif retry.then is None:
                path = ("states", name, kind) if getattr(s, kind, None) else ("defaults", kind)
                out.append(
                    src.problem(
                        path,
                        f"{kind} handling without `then:`",
                        "say where the call goes after the last reprompt",
                    )
                )
    return out


def _prompts(flow: Flow, name: str) -> Iterator[tuple[Path, str]]:
    s = flow.states[name]
    base: Path = ("states", name)
    for key in ("say", "ask", "confirm"):
        text = getattr(s, key, None)
        if isinstance(text, str):
            yield (*base, key), text
    if isinstance(s, HangupState) and isinstance(s.hangup, str):
        yield (*base, "hangup"), s.hangup
    for var, value in s.set.items():
        if isinstance(value, str):
            yield (*base, "set", var), value
    if isinstance(s, AskState) and s.validate_ is not None:
        yield (*base, "validate", "prompt"), s.validate_.prompt
    for kind in ("no_input", "no_match"):
        retry = getattr(s, kind, None)
        for i, text in enumerate(retry.prompts if retry else []):
            yield (*base, kind, "prompts", i), text


def _produced(flow: Flow, name: str, target: str) -> set[str]:
    """Names a state sets on its way to ``target``."""
    s = flow.states[name]
    if isinstance(s, AskState) and s.collect and target == s.next:
        return {s.collect}
    if isinstance(s, LookupState) and target == s.next:
        return {s.lookup.result}
    return set()


def _definitely_set(flow: Flow) -> dict[str, set[str]]:
    """For each state, the names every path from the start has set on entry (must-analysis)."""
    universe = set(flow.slots) | {
        s.lookup.result for s in flow.states.values() if isinstance(s, LookupState)
    }
    into: dict[str, set[str]] = {n: set(universe) for n in flow.states}
    into[flow.start] = set()
    # A sub-flow returns with what every path to its `return` states has set.
    returns = {
        s.call: [r for r in reach(flow, s.call) if isinstance(flow.states[r], ReturnState)]
        for s in flow.states.values()
        if isinstance(s, CallState)
    }
    changed = True
    while changed:
        changed = False
        for name in flow.states:
            s = flow.states[name]
            for target in successors(flow, name):
                if target == flow.start:
                    continue
                produced = _produced(flow, name, target)
                if isinstance(s, CallState) and target == s.next and returns[s.call]:
                    produced = set.intersection(*(into[r] for r in returns[s.call]))
                new = into[target] & (into[name] | produced)
                if new != into[target]:
                    into[target] = new
                    changed = True
    return into


def _names(flow: Flow, src: Source) -> list[Problem]:
    out = []
    known = set(flow.slots) | set(flow.variables) | BUILTINS
    known |= {s.lookup.result for s in flow.states.values() if isinstance(s, LookupState)}
    ready = _definitely_set(flow)
    for name in flow.states:
        s = flow.states[name]
        avail = ready[name] | set(flow.variables) | BUILTINS
        for path, text in _prompts(flow, name):
            for used in TEMPLATE.findall(text):
                if used not in known:
                    out.append(
                        src.problem(
                            path,
                            f"`{{{used}}}` is not a slot, variable or lookup result",
                            _suggest_name(used, known),
                            value=True,
                        )
                    )
                elif used not in avail and not (
                    path[-1] == "confirm" and isinstance(s, AskState) and used == s.collect
                ):
                    out.append(
                        src.problem(
                            path,
                            f"`{{{used}}}` is used before any path sets it",
                            "collect it (or look it up) in a state that comes "
                            "before this one on every path",
                            value=True,
                        )
                    )
        for var in s.set:
            if var not in flow.variables:
                out.append(
                    src.problem(
                        ("states", name, "set", var),
                        f"`{var}` is not a declared variable",
                        _suggest_name(var, set(flow.variables)),
                    )
                )
        for path, cond in _conditions(s, ("states", name)):
            out += _condition_problems(src, path, cond, known)
    return out


def _conditions(s: object, base: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(s, BranchState):
        for i, case in enumerate(s.branch):
            if case.if_ is not None:
                yield (*base, "branch", i, "if"), case.if_
    if isinstance(s, AskState) and s.validate_ is not None:
        yield (*base, "validate", "if"), s.validate_.if_


def _condition_problems(src: Source, path: Path, cond: str, known: set[str]) -> list[Problem]:
    try:
        used_names = conditions.names(cond)
    except conditions.ConditionError as exc:
        return [src.problem(path, str(exc), 'e.g. card.status == "lost"', value=True)]
    return [
        src.problem(
            path,
            f"`{used}` in the condition is not a slot, variable or lookup result",
            _suggest_name(used, known),
            value=True,
        )
        for used in sorted(used_names - known)
    ]


def _suggest_name(name: str, known: set[str]) -> str:
    near = difflib.get_close_matches(name, sorted(known), n=1)
    return f"did you mean `{near[0]}`?" if near else "declare it under slots or variables"


def _sensitive(flow: Flow, src: Source) -> list[Problem]:
    secret = {
        s.collect
        for s in flow.states.values()
        if isinstance(s, AskState) and s.sensitive and s.collect
    }
    out = []
    for name, s in flow.states.items():
        if isinstance(s, ConverseState):
            for used in sorted(set(TEMPLATE.findall(s.converse.instructions)) & secret):
                out.append(
                    src.problem(
                        ("states", name, "converse", "instructions"),
                        f"sensitive slot `{used}` would be sent to the model",
                        "keep sensitive values out of converse instructions; "
                        "pass a lookup's masked result instead",
                        value=True,
                    )
                )
            continue
        if s.sensitive:
            continue
        for path, text in _prompts(flow, name):
            for used in sorted(set(TEMPLATE.findall(text)) & secret):
                out.append(
                    src.problem(
                        path,
                        f"sensitive slot `{used}` would be spoken and transcribed in clear",
                        "mark this state sensitive or do not read the value back",
                        value=True,
                    )
                )
    return out
