"""A flow as a picture: Mermaid text, or Graphviz DOT for SVG.

Nodes are states, shaped by kind; edges are labelled with what moves the call
(an intent or key, "next", "no input", a branch condition). Global handlers are
drawn once, from a "anywhere" node, rather than from every waiting state.
"""

from __future__ import annotations

from collections.abc import Iterator

from flows.checks import edges, global_edges
from flows.model import (
    AskState,
    BranchState,
    CallState,
    ConverseState,
    Flow,
    HangupState,
    LookupState,
    ReturnState,
    TransferState,
)

ANYWHERE = "_anywhere"


def kind(flow: Flow, name: str) -> str:
    s = flow.states[name]
    for cls, label in (
        (AskState, "ask"),
        (ConverseState, "converse"),
        (LookupState, "lookup"),
        (BranchState, "branch"),
        (TransferState, "transfer"),
        (HangupState, "hangup"),
        (CallState, "call"),
        (ReturnState, "return"),
    ):
        if isinstance(s, cls):
            return label
    return "say"


def labelled_edges(flow: Flow) -> Iterator[tuple[str, str, str]]:
    """(from, to, label) for every edge, global handlers from the ANYWHERE node."""
    for name in flow.states:
        s = flow.states[name]
        for path, target in edges(flow, name):
            label = _label(s, path)
            yield name, target, label
    for path, target in global_edges(flow):
        if path[0] == "global":
            yield ANYWHERE, target, flow.global_[path[1]].intent
        else:
            yield ANYWHERE, target, f"{path[1].replace('_', ' ')} (default)"


def _label(s: object, path: tuple[object, ...]) -> str:
    tail = path[2:]
    match tail:
        case ("on", key):
            return str(key)
        case ("branch", i, "goto"):
            assert isinstance(s, BranchState)
            case = s.branch[int(str(i))]
            return case.if_ or "open hours"
        case (kind_, "then"):
            return str(kind_).replace("_", " ")
        case ("call",):
            return "call"
        case ("next",) if isinstance(s, CallState):
            return "after return"
        case (last,):
            return str(last).replace("_", " ")
    return ""


MERMAID_SHAPES = {
    "ask": ("[/", "/]"), "converse": ("([", "])"), "lookup": ("[(", ")]"),
    "branch": ("{", "}"), "transfer": ("[[", "]]"), "hangup": ("((", "))"),
    "call": ("[[", "]]"), "return": ("((", "))"), "say": ("[", "]"),
}  # fmt: skip


def _esc(text: str) -> str:
    return text.replace('"', "#quot;")


def mermaid(flow: Flow) -> str:
    lines = ["flowchart TD", f'  start(("start")) --> {flow.start}']
    for name in flow.states:
        k = kind(flow, name)
        left, right = MERMAID_SHAPES[k]
        sensitive = " 🔒" if flow.states[name].sensitive else ""
        lines.append(f'  {name}{left}"{name}{sensitive}<br/><i>{k}</i>"{right}')
    if flow.global_ or flow.defaults.no_input or flow.defaults.no_match:
        lines.append(f'  {ANYWHERE}{{{{"anywhere"}}}}')
    for a, b, label in labelled_edges(flow):
        arrow = "-.->" if a == ANYWHERE else "-->"
        lines.append(f'  {a} {arrow}|"{_esc(label)}"| {b}' if label else f"  {a} {arrow} {b}")
    return "\n".join(lines) + "\n"


DOT_SHAPES = {
    "ask": "parallelogram", "converse": "ellipse", "lookup": "cylinder", "branch": "diamond",
    "transfer": "box3d", "hangup": "doublecircle", "call": "component", "return": "circle",
    "say": "box",
}  # fmt: skip


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(flow: Flow) -> str:
    lines = [
        f"digraph {_q(flow.flow)} {{",
        '  graph [rankdir=TB, fontname="sans-serif", label='
        + _q(f"{flow.flow} v{flow.version}")
        + ", labelloc=t];",
        '  node [fontname="sans-serif", fontsize=11, style=filled, fillcolor="#f4f6fb"];',
        '  edge [fontname="sans-serif", fontsize=9];',
        '  "_start" [shape=point, width=0.15];',
        f'  "_start" -> {_q(flow.start)};',
    ]
    for name in flow.states:
        k = kind(flow, name)
        extra = ', fillcolor="#fde2e2"' if flow.states[name].sensitive else ""
        label = _q(name + "\n" + k)
        lines.append(f"  {_q(name)} [shape={DOT_SHAPES[k]}, label={label}{extra}];")
    if flow.global_ or flow.defaults.no_input or flow.defaults.no_match:
        lines.append(f'  {_q(ANYWHERE)} [shape=hexagon, label="anywhere", style=dashed];')
    for a, b, label in labelled_edges(flow):
        style = ", style=dashed" if a == ANYWHERE else ""
        lines.append(f"  {_q(a)} -> {_q(b)} [label={_q(label)}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
