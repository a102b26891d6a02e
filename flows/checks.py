"""What a schema cannot see: the meaning of a flow.

Unknown and unreachable states, dead ends, waiting states without no-input or
no-match handling, template names that do not exist, slots used before any path
can have set them, bad branch conditions, and sensitive data that would leak into
a model's context or be spoken back in clear.
"""

from __future__ import annotations

import difflib

from flows.model import (
    AskState,
    BranchState,
    ConverseState,
    Flow,
    HangupState,
    LookupState,
    ReturnState,
    TransferState,
)
from flows.name_checks import names, sensitive_leaks
from flows.source import Problem, Source
from flows.transitions import Path, edges, global_edges, reach, successors


def check(flow: Flow, src: Source) -> list[Problem]:
    out: list[Problem] = []
    out += _references(flow, src)
    if out:
        return out  # the graph checks need every reference to resolve
    out += _reachability(flow, src)
    out += _stray_returns(flow, src)
    out += _dead_ends(flow, src)
    out += _handlers(flow, src)
    out += names(flow, src)
    out += sensitive_leaks(flow, src)
    return out


def _suggest(name: str, options: list[str]) -> str:
    near = difflib.get_close_matches(name, options, n=1)
    return f"did you mean `{near[0]}`?" if near else f"define a state `{name}` under states"


def _references(flow: Flow, src: Source) -> list[Problem]:
    """Every state, intent, slot and tool a flow names is defined."""
    return [
        *_state_references(flow, src),
        *_intent_references(flow, src),
        *_intent_slots(flow, src),
        *_state_tools_and_slots(flow, src),
    ]


def _state_references(flow: Flow, src: Source) -> list[Problem]:
    states = list(flow.states)
    refs = [(("start",), flow.start)]
    if flow.fallback is not None:
        refs.append((("fallback",), flow.fallback))
    for name in flow.states:
        refs += list(edges(flow, name))
    refs += list(global_edges(flow))
    return [
        src.problem(path, f"unknown state `{target}`", _suggest(target, states), value=True)
        for path, target in refs
        if target not in flow.states
    ]


def _intent_references(flow: Flow, src: Source) -> list[Problem]:
    intent_refs: list[tuple[Path, str, bool]] = [
        (("global", i, "intent"), h.intent, True) for i, h in enumerate(flow.global_)
    ]
    for name, s in flow.states.items():
        if isinstance(s, AskState):
            intent_refs += [
                (("states", name, "intents", i), x, False) for i, x in enumerate(s.intents)
            ]
    return [
        src.problem(
            path, f"unknown intent `{intent}`", "add it under intents with examples", value=is_value
        )
        for path, intent, is_value in intent_refs
        if intent not in flow.intents
    ]


def _intent_slots(flow: Flow, src: Source) -> list[Problem]:
    """An intent's slots are declared, and none is taken only in a sensitive state."""
    sensitive = flow.sensitive_slots()
    out = []
    for intent, spec in flow.intents.items():
        for i, slot in enumerate(spec.slots):
            path = ("intents", intent, "slots", i)
            if slot not in flow.slots:
                fix = _suggest(slot, list(flow.slots))
                out.append(src.problem(path, f"unknown slot `{slot}`", fix, value=True))
            elif slot in sensitive:
                out.append(
                    src.problem(
                        path,
                        f"`{slot}` is collected in a sensitive state",
                        "a sensitive value is only taken where it is asked for: remove it here",
                        value=True,
                    )
                )
    return out


def _state_tools_and_slots(flow: Flow, src: Source) -> list[Problem]:
    """A converse state's tools and an ask state's slot are declared."""
    out = []
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
