"""Load a flow file and check it, with every problem pointing at file:line:column.

Three layers, each reported the same way (:mod:`flows.source`): YAML syntax
(ruamel.yaml's marks), the schema (the pydantic models, errors mapped back to the
node they are about), and the meaning of the flow (:mod:`flows.checks`). Lines and
columns are 1-based.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent

from flows.checks import check
from flows.model import STATE_KINDS, Flow
from flows.source import FlowInvalid, Problem, Source

# A flow nests a few levels (states, a state, a lookup's body...); thousands of
# brackets would exhaust Python's recursion in the composer and the checks after it.
MAX_NESTING = 50


def parse_yaml(text: str, file: str) -> Source:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        _check_nesting(yaml, text, file)
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        # An unterminated quote or bracket is reported where the scanner gave up; the
        # place the admin must look is where the scalar began (the context mark).
        scanning = (exc.context or "").startswith("while scanning")
        mark = (exc.context_mark if scanning else None) or exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = (exc.problem or str(exc)).strip()
        raise FlowInvalid(
            [
                Problem(
                    file,
                    line,
                    col,
                    f"YAML syntax: {what}",
                    "check indentation, colons and quotes on this line",
                )
            ]
        ) from None
    if not isinstance(tree, CommentedMap):
        raise FlowInvalid(
            [
                Problem(
                    file,
                    1,
                    1,
                    "a flow file must be a mapping",
                    "start with `flow: NAME`, `start: STATE` and `states:`",
                )
            ]
        )
    return Source(file, tree)


def _check_nesting(yaml: YAML, text: str, file: str) -> None:
    """Reject nesting deeper than :data:`MAX_NESTING`, at the line where it goes too
    deep (the parser's events come one by one: no recursion here)."""
    depth = 0
    for event in yaml.parse(text):
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                mark = event.start_mark
                raise FlowInvalid(
                    [
                        Problem(
                            file,
                            mark.line + 1,
                            mark.column + 1,
                            f"nested more than {MAX_NESTING} levels deep",
                            "a flow needs a few levels: flatten this value",
                        )
                    ]
                )
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def _fix_for(err: dict[str, Any], src: Source) -> str:
    kind, loc = err["type"], err["loc"]
    field = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        allowed = _allowed_keys(err)
        near = difflib.get_close_matches(str(field), allowed, n=1)
        hint = f"did you mean `{near[0]}`?" if near else f"allowed here: {', '.join(allowed)}"
        return f"remove `{field}` or correct it; {hint}"
    if kind == "missing":
        return f"add `{field}:`"
    if kind == "state_kind":
        return "give the state exactly one of: " + ", ".join(STATE_KINDS)
    if kind == "string_pattern_mismatch":
        return "names use letters, digits and underscores, and do not start with a digit"
    if kind == "literal_error":
        return f"use one of: {err.get('ctx', {}).get('expected', '')}"
    return ""


def _allowed_keys(err: dict[str, Any]) -> list[str]:
    from flows import model

    loc = err["loc"]
    owners: dict[str, type] = {
        "say": model.SayState,
        "ask": model.AskState,
        "converse": model.ConverseState,
        "lookup": model.LookupState,
        "branch": model.BranchState,
        "transfer": model.TransferState,
        "hangup": model.HangupState,
        "call": model.CallState,
        "return": model.ReturnState,
    }
    cls: type = model.Flow
    for step in loc[:-1]:
        if step in owners:
            cls = owners[step]
            continue
        f = getattr(cls, "model_fields", {}).get(step)
        if f is None:
            f = next(
                (v for v in getattr(cls, "model_fields", {}).values() if v.alias == step), None
            )
        ann = getattr(f, "annotation", None)
        for cand in (ann, *getattr(ann, "__args__", ())):
            if isinstance(cand, type) and hasattr(cand, "model_fields"):
                cls = cand
                break
    fields = getattr(cls, "model_fields", {})
    return sorted(v.alias or k for k, v in fields.items())


def load(path: str | Path) -> Flow:
    """Load and fully check a flow file; raises :class:`FlowInvalid` listing every problem."""
    p = Path(path)
    return loads(p.read_text(encoding="utf-8"), str(p))


def loads(text: str, file: str = "<flow>") -> Flow:
    src = parse_yaml(text, file)
    try:
        flow = Flow.model_validate(src.tree)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = _untag(tuple(err["loc"]))
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = f"unknown key `{loc[-1]}`"
            elif err["type"] == "missing":
                msg = f"missing `{loc[-1]}`"
                loc = loc[:-1]
            where = ".".join(str(x) for x in _untag(tuple(err["loc"])))
            problems.append(src.problem(loc, f"{where}: {msg}", _fix_for(err, src)))
        raise FlowInvalid(sorted(set(problems))) from None
    problems = check(flow, src)
    if problems:
        raise FlowInvalid(sorted(set(problems)))
    return flow


_TAGS = set(STATE_KINDS)


def _untag(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the union tag pydantic puts after a state's name: states.menu.ask.on → states.menu.on"""
    if len(loc) > 2 and loc[0] == "states" and loc[2] in _TAGS:
        return loc[:2] + loc[3:]
    return loc


def validate(path: str | Path) -> list[Problem]:
    """Every problem in a flow file (empty when it is valid)."""
    try:
        load(path)
    except FlowInvalid as exc:
        return exc.problems
    except OSError as exc:
        return [Problem(str(path), 1, 1, f"cannot read the file: {exc.strerror}")]
    return []
