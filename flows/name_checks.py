"""The names a flow uses: in prompts, `set:` and conditions.

Each must be a slot, variable or lookup result; it must be set on every path before
it is used; and a sensitive slot must not leak into a model's context or be spoken
back in clear.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator

from flows import conditions
from flows.model import (
    AskState,
    BranchState,
    CallState,
    ConverseState,
    Flow,
    HangupState,
    LookupState,
    ReturnState,
)
from flows.source import Problem, Source
from flows.transitions import Path, reach, successors

BUILTINS = frozenset({"caller_number", "dialled_number", "call_id"})
TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?:\.[A-Za-z0-9_.]+)?\}")


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


def names(flow: Flow, src: Source) -> list[Problem]:
    """Every name a prompt, `set:` or condition uses exists, and is set on every path
    before it is used."""
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


def sensitive_leaks(flow: Flow, src: Source) -> list[Problem]:
    """A sensitive slot is never put in a model's instructions or read back in clear."""
    secret = flow.sensitive_slots()
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
