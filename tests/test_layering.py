"""Dependencies point one way: media/ and flows/ import nothing else of the house;
sip/ may use media/; bridge/ wires everything."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOUSE = {"bridge", "sip", "media", "flows", "migrations"}
ALLOWED = {"media": set(), "flows": set(), "sip": {"media"}}


def house_imports(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in HOUSE and top != package:
                    found.add((str(path.relative_to(ROOT)), top))
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependencies_point_one_way(package: str) -> None:
    bad = {(f, t) for f, t in house_imports(package) if t not in ALLOWED[package]}
    assert not bad, f"{package}/ must not import {sorted(bad)}"
