"""The house's shape, checked on the source.

Dependencies point one way: media/ and flows/ import nothing else of the house; sip/
may use media/; bridge/ wires everything. And media/ and flows/ are cores: they do no
I/O. They import no network, process, database or file module, and call no file
function, except that a function named as a loader (``load…``/``read…``) may read
files (flows/loader.py reads flow YAML).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOUSE = {"bridge", "sip", "media", "flows", "migrations"}
ALLOWED = {"media": set(), "flows": set(), "sip": {"media"}}
CORES = ("media", "flows")
OUTSIDE = {"tests", "harness", "bench"}

# Modules (and their submodules) a core never imports.
IO_MODULES = {
    # network
    *("socket", "ssl", "select", "selectors", "asyncio", "http.client", "http.server"),
    *("urllib.request", "ftplib", "smtplib", "httpx", "requests", "aiohttp", "websockets"),
    *("websocket", "grpc", "fastapi", "starlette", "uvicorn", "aiortc", "pjsua2"),
    # processes
    *("subprocess", "multiprocessing", "pty"),
    # databases and queues
    *("redis", "sqlalchemy", "alembic", "sqlite3", "dbm", "shelve", "psycopg", "psycopg2"),
    "asyncpg",
    # files and devices
    *("wave", "soundfile", "audioread", "sounddevice", "pyaudio", "shutil", "tempfile"),
    *("glob", "fileinput", "mmap", "fcntl"),
}
# Calls that touch files. Reads are allowed in a loader function; writes nowhere.
READ_FUNCS = {"open", "io.open", "os.open", "os.listdir", "os.scandir", "os.walk"}
READ_FUNCS |= {f"{np}.{f}" for np in ("np", "numpy") for f in ("load", "loadtxt", "fromfile")}
READ_FUNCS |= {f"{np}.genfromtxt" for np in ("np", "numpy")}
WRITE_FUNCS = {f"os.{f}" for f in ("remove", "unlink", "rename", "renames", "replace")}
WRITE_FUNCS |= {f"os.{f}" for f in ("mkdir", "makedirs", "rmdir", "removedirs", "truncate")}
WRITE_FUNCS |= {f"os.{f}" for f in ("write", "fdopen", "link", "symlink", "chmod", "utime")}
WRITE_FUNCS |= {f"{np}.{f}" for np in ("np", "numpy") for f in ("save", "savez", "savetxt")}
WRITE_FUNCS |= {f"{np}.{f}" for np in ("np", "numpy") for f in ("savez_compressed", "memmap")}
# Methods of a Path or an open file: names no pure object of the house uses.
READ_METHODS = {"open", "read_text", "read_bytes", "iterdir"}
WRITE_METHODS = {"write_text", "write_bytes", "unlink", "mkdir", "rmdir", "touch", "tofile"}
LOADER_PREFIXES = ("load", "read")
WRITE_MODES = set("wax+")


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


@pytest.mark.parametrize("package", sorted(HOUSE))
def test_the_product_never_imports_the_suite_or_its_harness(package: str) -> None:
    """harness/ (generated speech, SIP peers, local servers) and tests/ are for the
    suite and bench/ only; the product must run without them."""
    bad = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            bad += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in OUTSIDE]
    assert not bad, "\n".join(bad)


def _is_io_module(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in IO_MODULES)


def _dotted(node: ast.expr) -> str | None:
    """``os.remove`` for the expression ``os.remove``; None for anything not a plain name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (base := _dotted(node.value)) is not None:
        return f"{base}.{node.attr}"
    return None


def _writes(call: ast.Call) -> bool:
    """An ``open`` whose mode (a literal) writes."""
    mode = call.args[1] if len(call.args) > 1 else None
    mode = next((k.value for k in call.keywords if k.arg == "mode"), mode)
    return isinstance(mode, ast.Constant) and bool(WRITE_MODES & set(str(mode.value)))


def _file_call(call: ast.Call) -> tuple[str, bool] | None:
    """What a call does to files, if anything: (its name, whether it writes)."""
    name = _dotted(call.func)
    if name in READ_FUNCS or name in WRITE_FUNCS:
        return f"{name}()", name in WRITE_FUNCS or _writes(call)
    if isinstance(call.func, ast.Attribute):
        method = call.func.attr
        if method in READ_METHODS or method in WRITE_METHODS:
            return f".{method}()", method in WRITE_METHODS or _writes(call)
    return None


class _IoFinder(ast.NodeVisitor):
    def __init__(self, file: str) -> None:
        self.file = file
        self.found: list[str] = []
        self._functions: list[str] = []  # the enclosing functions, outermost first

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if _is_io_module(alias.name):
                self.found.append(f"{self.file}:{node.lineno}: imports {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        names = [f"{module}.{a.name}" for a in node.names]
        for name in [module] if _is_io_module(module) else names:
            if _is_io_module(name) or name in READ_FUNCS | WRITE_FUNCS:
                self.found.append(f"{self.file}:{node.lineno}: imports {name}")

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._functions.append(node.name)
        self.generic_visit(node)
        self._functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        what = _file_call(node)
        if what is not None and not self._may(what[1]):
            where = f" in {self._functions[-1]}()" if self._functions else ""
            self.found.append(f"{self.file}:{node.lineno}{where}: calls {what[0]}")
        self.generic_visit(node)

    def _may(self, writes: bool) -> bool:
        """A read inside a loader function (any enclosing one) is allowed."""
        if writes:
            return False
        loaders = [f for f in self._functions if f.lstrip("_").startswith(LOADER_PREFIXES)]
        return bool(loaders)


def io_violations(source: str, file: str) -> list[str]:
    """Every I/O import and file call of ``source``, as ``file:line[ in f()]: what``."""
    finder = _IoFinder(file)
    finder.visit(ast.parse(source, file))
    return finder.found


@pytest.mark.parametrize("package", CORES)
def test_cores_do_no_io(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad += io_violations(path.read_text(), str(path.relative_to(ROOT)))
    assert not bad, f"{package}/ does I/O (it belongs in bridge/):\n" + "\n".join(bad)


BAD = [
    ("import wave", "x.py:1: imports wave"),
    ("import os, socket", "x.py:1: imports socket"),
    ("from urllib.request import urlopen", "x.py:1: imports urllib.request"),
    ("from sqlalchemy.orm import Session", "x.py:1: imports sqlalchemy.orm"),
    ("import asyncio.subprocess", "x.py:1: imports asyncio.subprocess"),
    ("from os import remove", "x.py:1: imports os.remove"),
    ("data = open('x.wav', 'rb').read()", "x.py:1: calls open()"),
    ("def mix(p):\n    return p.read_bytes()", "x.py:2 in mix(): calls .read_bytes()"),
    ("def load(p):\n    p.write_text('')", "x.py:2 in load(): calls .write_text()"),
    ("def read_x(p):\n    return open(p, mode='w')", "x.py:2 in read_x(): calls open()"),
    ("import os\ndef f():\n    os.remove('x')", "x.py:3 in f(): calls os.remove()"),
    ("import numpy as np\ndef f(a):\n    np.save('a', a)", "x.py:3 in f(): calls np.save()"),
    ("class R:\n    async def go(self, p):\n        p.unlink()", "x.py:3 in go(): calls .unlink()"),
]
GOOD = [
    "from urllib.parse import quote",
    "import numpy as np\nimport threading",
    "from pathlib import Path\ndef find(p):\n    return Path(p).with_suffix('.yaml')",
    "def load(path):\n    return Path(path).read_text(encoding='utf-8')",
    "def _load_model(path):\n    with open(path, 'rb') as f:\n        return f.read()",
    "def read_wav(p):\n    def inner():\n        return p.open().read()\n    return inner()",
    "x = 'a'.replace('a', 'b')\nis_open = case.open is not None",
]


@pytest.mark.parametrize(("source", "message"), BAD)
def test_the_io_check_names_file_line_and_call(source: str, message: str) -> None:
    assert message in io_violations(source, "x.py")


@pytest.mark.parametrize("source", GOOD)
def test_the_io_check_leaves_pure_code_and_loaders_alone(source: str) -> None:
    assert io_violations(source, "x.py") == []
