"""Admins: flows and their versions, the editor's checks, graph and test runs, publishing
and making a version live again (roll back or forward)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.store.flow_catalog import CatalogError, FlowCatalog
from bridge.store.models import FlowVersion
from bridge.web.dashboard.access import Who
from bridge.web.dashboard.render import engine as _engine
from bridge.web.dashboard.render import page as _page
from flows import graph, testing
from flows.loader import FlowInvalid, Problem, loads

router = APIRouter()


def _rows(problems: list[Problem]) -> list[dict[str, Any]]:
    return [{"line": p.line, "col": p.col, "message": p.message, "fix": p.fix} for p in problems]


class Source(BaseModel):
    source: str = Field(max_length=512_000)
    file: str = Field("flow.yaml", max_length=200)


class Tests(Source):
    tests: str = Field(max_length=512_000)


class Activate(BaseModel):
    name: str = Field(max_length=128)
    version: int = Field(ge=1)


def _catalog(request: Request) -> FlowCatalog:
    return request.app.state.flow_catalog


def _versions(request: Request) -> list[dict[str, Any]]:
    with Session(_engine(request)) as s:
        rows = s.scalars(select(FlowVersion).order_by(FlowVersion.name, FlowVersion.version.desc()))
        return [
            {
                "name": r.name,
                "version": r.version,
                "active": r.active,
                "published_by": r.published_by,
                "published_at": r.published_at.isoformat() if r.published_at else None,
            }
            for r in rows
        ]


@router.get("/flows", response_class=HTMLResponse)
async def flows_page(request: Request, who: Who) -> HTMLResponse:
    versions = await asyncio.to_thread(_versions, request)
    return _page(request, "flows.html", who, versions=versions)


@router.get("/api/flows")
async def flows_api(request: Request, who: Who) -> list[dict[str, Any]]:
    return await asyncio.to_thread(_versions, request)


def _source_of(request: Request, name: str, version: int | None) -> str:
    with Session(_engine(request)) as s:
        q = select(FlowVersion.source).where(FlowVersion.name == name)
        q = q.where(FlowVersion.version == version) if version else q.where(FlowVersion.active)
        found = s.scalars(q).first()
    if found is not None:
        return found
    default = request.app.state.services.settings.default_flow
    return Path(default).read_text() if Path(default).exists() else ""


def _tests_of(request: Request, source: str) -> str:
    """The test conversations kept beside the default flow, when it is the one edited."""
    default = Path(request.app.state.services.settings.default_flow)
    tests = testing.find_test_file(default)
    if not tests.exists() or not default.exists():
        return ""
    try:
        same = loads(source, "edited.yaml").flow == loads(default.read_text(), str(default)).flow
    except FlowInvalid:
        same = False
    return tests.read_text() if same else ""


@router.get("/flows/edit", response_class=HTMLResponse)
async def editor_page(
    request: Request, who: Who, name: str = "", version: int | None = None
) -> HTMLResponse:
    source = await asyncio.to_thread(_source_of, request, name, version)
    tests = await asyncio.to_thread(_tests_of, request, source)
    return _page(request, "editor.html", who, source=source, name=name, tests=tests)


def _problems(source: str, file: str) -> list[dict[str, Any]]:
    try:
        loads(source, file)
    except FlowInvalid as exc:
        return _rows(exc.problems)
    return []


@router.post("/api/flows/validate")
async def validate(request: Request, body: Source, who: Who) -> dict[str, Any]:
    problems = await asyncio.to_thread(_problems, body.source, body.file)
    return {"ok": not problems, "problems": problems}


@router.post("/api/flows/graph")
async def flow_graph(request: Request, body: Source, who: Who) -> Response:
    try:
        flow = loads(body.source, body.file)
    except FlowInvalid:
        raise HTTPException(422, "the flow has errors; fix them to see its graph") from None
    dot = shutil.which("dot")
    if dot is None:
        return Response(graph.mermaid(flow), media_type="text/plain")
    svg = await asyncio.to_thread(
        subprocess.run,
        [dot, "-Tsvg"],
        input=graph.dot(flow).encode(),
        capture_output=True,
        timeout=10,
        check=False,
    )
    if svg.returncode != 0:
        raise HTTPException(500, "graphviz could not draw the flow")
    return Response(svg.stdout, media_type="image/svg+xml")


def _run_tests(source: str, tests: str) -> dict[str, Any]:
    try:
        flow = loads(source, "flow.yaml")
        result = testing.run_text(tests, "tests.yaml", flow=flow)
    except FlowInvalid as exc:
        return {"ok": False, "tests": 0, "failures": [str(p) for p in exc.problems]}
    cov = result.coverage
    return {
        "ok": not result.failures,
        "tests": result.tests,
        "failures": [str(f) for f in result.failures],
        "states_pct": round(cov.state_pct, 1),
        "transitions_pct": round(cov.transition_pct, 1),
    }


@router.post("/api/flows/test")
async def run_tests(request: Request, body: Tests, who: Who) -> dict[str, Any]:
    return await asyncio.to_thread(_run_tests, body.source, body.tests)


@router.post("/api/flows/publish")
async def publish(request: Request, body: Source, who: Who) -> JSONResponse:
    try:
        published = await asyncio.to_thread(
            _catalog(request).publish, body.source, body.file, who.username
        )
    except FlowInvalid as exc:
        return JSONResponse({"ok": False, "problems": _rows(exc.problems)}, status_code=422)
    except CatalogError as exc:
        return JSONResponse({"ok": False, "error": str(exc)}, status_code=409)
    return JSONResponse({"ok": True, "name": published.name, "version": published.version})


@router.post("/api/flows/activate")
async def activate(request: Request, body: Activate, who: Who) -> dict[str, Any]:
    try:
        done = await asyncio.to_thread(
            _catalog(request).activate, body.name, body.version, who.username
        )
    except CatalogError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"ok": True, "name": done.name, "version": done.version}
