"""Problems in a flow file, each pointing at file:line:column of the node it is about.

:class:`Source` is the parsed YAML tree with its positions; every layer of checking
(syntax, schema, meaning) reports through it, so this module depends on none of
them. Lines and columns are 1-based.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    col: int
    message: str
    fix: str = ""

    def __str__(self) -> str:
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"{self.file}:{self.line}:{self.col}: {self.message}.{fix}"


class FlowInvalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


@dataclass
class Source:
    """The parsed YAML tree with its positions, to point at any node by path."""

    file: str
    tree: Any

    def position(self, path: tuple[Any, ...]) -> tuple[int, int]:
        node, line, col = self.tree, 0, 0
        for key in path:
            if isinstance(node, CommentedMap) and key in node:
                line, col = node.lc.key(key)
                node = node[key]
            elif isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
                line, col = node.lc.item(key)
                node = node[key]
            elif isinstance(node, CommentedMap | CommentedSeq):
                continue  # a pydantic-only step (a union tag): skip it
            else:
                break
        return line + 1, col + 1

    def value_position(self, path: tuple[Any, ...]) -> tuple[int, int]:
        """The position of a mapping value rather than its key."""
        *parent, key = path
        node = self.tree
        for k in parent:
            node = node[k]
        if isinstance(node, CommentedMap) and key in node:
            line, col = node.lc.value(key)
            return line + 1, col + 1
        if isinstance(node, CommentedSeq) and isinstance(key, int):
            line, col = node.lc.item(key)
            return line + 1, col + 1
        return self.position(tuple(path))

    def problem(
        self, path: tuple[Any, ...], message: str, fix: str = "", *, value: bool = False
    ) -> Problem:
        """A problem at the node ``path`` leads to (its value's place, with ``value``)."""
        line, col = self.value_position(path) if value else self.position(path)
        return Problem(self.file, line, col, message, fix)
