"""Branch conditions: a small, safe expression language (a subset of Python syntax).

``card.status == "lost" and attempts < 3`` — names, attribute access, literals,
comparisons, ``and``/``or``/``not``, ``in``. Nothing else parses: no calls, no
indexing, no arithmetic that could surprise an admin.
"""

from __future__ import annotations

import ast
from typing import Any

_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Compare,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Name, ast.Load, ast.Attribute, ast.Constant, ast.List, ast.Tuple,
)  # fmt: skip


# YAML's spellings of the constants read naturally to admins; Python's work too.
CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


class ConditionError(ValueError):
    pass


def parse(text: str) -> ast.Expression:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"cannot read condition {text!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ConditionError(
                f"{type(node).__name__} is not allowed in a condition: use names, literals, "
                "comparisons, and/or/not"
            )
    return tree


def names(text: str) -> set[str]:
    """The top-level names a condition reads (``card`` for ``card.status``)."""
    found = {n.id for n in ast.walk(parse(text)) if isinstance(n, ast.Name)}
    return found - CONSTANTS.keys()


def evaluate(text: str, scope: dict[str, Any]) -> bool:
    """Evaluate against ``scope``; a missing name or attribute is None, never an error."""
    return bool(_eval(parse(text).body, scope))


def _eval(node: ast.AST, scope: dict[str, Any]) -> Any:
    match node:
        case ast.Constant(value=v):
            return v
        case ast.Name(id=name):
            return CONSTANTS[name] if name in CONSTANTS else scope.get(name)
        case ast.Attribute(value=base, attr=attr):
            obj = _eval(base, scope)
            return obj.get(attr) if isinstance(obj, dict) else None
        case ast.List(elts=elts) | ast.Tuple(elts=elts):
            return [_eval(e, scope) for e in elts]
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not _eval(operand, scope)
        case ast.BoolOp(op=ast.And(), values=values):
            return all(_eval(v, scope) for v in values)
        case ast.BoolOp(op=ast.Or(), values=values):
            return any(_eval(v, scope) for v in values)
        case ast.Compare(left=left, ops=ops, comparators=rights):
            a = _eval(left, scope)
            for op, right in zip(ops, rights, strict=True):
                b = _eval(right, scope)
                if not _compare(op, a, b):
                    return False
                a = b
            return True
    raise ConditionError(f"unsupported expression {ast.dump(node)}")  # parse() prevents this


def _compare(op: ast.cmpop, a: Any, b: Any) -> bool:
    try:
        match op:
            case ast.Eq():
                return bool(a == b)
            case ast.NotEq():
                return bool(a != b)
            case ast.Lt():
                return bool(a < b)
            case ast.LtE():
                return bool(a <= b)
            case ast.Gt():
                return bool(a > b)
            case ast.GtE():
                return bool(a >= b)
            case ast.In():
                return a in b
            case ast.NotIn():
                return a not in b
    except TypeError:
        return False  # comparing None or mismatched types: the condition is false
    return False
