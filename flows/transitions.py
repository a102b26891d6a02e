"""The ways out of each state: a flow as a graph of states.

The checks, the diagrams and the flow tests all walk it the same way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from flows.model import (
    AskState,
    BranchState,
    CallState,
    ConverseState,
    Flow,
    LookupState,
    SayState,
    TransferState,
)

Path = tuple[Any, ...]  # where in the flow file a reference is: ("states", "menu", "next")


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
    """(path, target) of the global handlers and the default retries' way out."""
    for i, h in enumerate(flow.global_):
        if h.goto:
            yield ("global", i, "goto"), h.goto
    for kind in ("no_input", "no_match"):
        retry = getattr(flow.defaults, kind)
        if retry and retry.then:
            yield ("defaults", kind, "then"), retry.then


def successors(flow: Flow, name: str) -> set[str]:
    """The states ``name`` can lead to; a waiting state also to the global handlers' targets."""
    out = {t for _, t in edges(flow, name)}
    if isinstance(flow.states[name], AskState | ConverseState):
        out |= {t for _, t in global_edges(flow)}
    return out


def reach(flow: Flow, start: str, into_calls: bool = True) -> set[str]:
    """Every state reachable from ``start``; without ``into_calls``, a `call:` leads only
    to its `next:` (the main flow, not the sub-flows it calls)."""
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
