"""The dashboard: one web app for agents (live calls), supervisors (call review) and
admins (flows), served by the bridge.

:data:`ACCESS` is the one table of who may open what; every route below asks it
(``_guard``), and the authorisation test walks it for every role. Pages are
rendered on the server; live parts (transcripts, the editor's checks) are small
scripts in ``static/``.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.conversation.recording import recording_path
from bridge.flow_catalog import CatalogError, FlowCatalog
from bridge.store.models import Call, FlowVersion
from bridge.web import auth
from bridge.web.auth import LoginRequired, Principal, Role
from bridge.web.dashboard import live, review
from flows import graph, testing
from flows.loader import FlowInvalid, loads

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")

# path → (method, least role); None: anyone (the login page).
ACCESS: dict[tuple[str, str], Role | None] = {
    ("GET", "/login"): None,
    ("POST", "/login"): None,
    ("POST", "/logout"): "agent",
    ("GET", "/"): "agent",
    ("GET", "/live"): "agent",
    ("GET", "/live/{call_id}"): "agent",
    ("GET", "/api/live"): "agent",
    ("GET", "/api/calls/{call_id}/stream"): "agent",
    ("GET", "/calls"): "supervisor",
    ("GET", "/calls/{call_id}"): "supervisor",
    ("GET", "/api/calls"): "supervisor",
    ("GET", "/api/calls/{call_id}"): "supervisor",
    ("GET", "/api/calls/{call_id}/recording"): "supervisor",
    ("GET", "/flows"): "admin",
    ("GET", "/flows/edit"): "admin",
    ("GET", "/api/flows"): "admin",
    ("POST", "/api/flows/validate"): "admin",
    ("POST", "/api/flows/graph"): "admin",
    ("POST", "/api/flows/test"): "admin",
    ("POST", "/api/flows/publish"): "admin",
    ("POST", "/api/flows/activate"): "admin",
}
router = APIRouter()


async def _who(request: Request) -> Principal | None:
    """The guard of every dashboard route: the route's own entry in :data:`ACCESS`."""
    route = request.scope["route"]
    method = "GET" if request.method == "HEAD" else request.method
    role = ACCESS[(method, route.path)]  # a route missing from ACCESS is a bug: 500
    if role is None:
        return None
    who = auth.allow(request, role, page=not route.path.startswith("/api/"))
    if method != "GET":
        await auth.check_csrf(request)
    return who


Who = Annotated[Principal, Depends(_who)]


class HttpSessions:
    """Sessions for HTTP requests only: a carrier's media socket has no dashboard session,
    and its every frame should not pass through one more layer."""

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        self.app, self.sessions = app, SessionMiddleware(app, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.sessions(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def mount(app: FastAPI, secret: str, https: bool) -> None:
    app.add_middleware(
        HttpSessions,
        secret_key=secret,
        session_cookie="callbridge",
        max_age=12 * 3600,
        same_site="strict",
        https_only=https,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


def _page(request: Request, template: str, who: Principal | None, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, template, {"who": who, "csrf": auth.csrf_token(request), **context}
    )


def _engine(request: Request) -> Any:
    return request.app.state.services.engine


# -- log in and out ---------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/", error: str = "") -> HTMLResponse:
    return _page(request, "login.html", auth.principal(request), next=_local(next), error=error)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    await auth.check_csrf(request)
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    users: auth.Users = request.app.state.users
    who = await asyncio.to_thread(users.check, name, password)
    target = _local(str(form.get("next", "/")))
    if who is None:
        await asyncio.to_thread(auth.audit, _engine(request), name[:128], "login.failed", "")
        return RedirectResponse(f"/login?error=1&next={target}", status_code=303)
    request.session.clear()  # a new session id and CSRF token on every login
    request.session["user"] = who.username
    await asyncio.to_thread(auth.audit, _engine(request), who.username, "login", "")
    return RedirectResponse(target if target != "/" else _home(who), status_code=303)


@router.post("/logout")
async def logout(request: Request, who: Who) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _local(target: str) -> str:
    """Only paths on this site: no open redirect through ``next``."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _home(who: Principal) -> str:
    return {"agent": "/live", "supervisor": "/calls", "admin": "/flows"}[who.role]


@router.get("/")
async def home(request: Request, who: Who) -> Response:
    return RedirectResponse(_home(who), status_code=303)


# -- agents: live calls -----------------------------------------------------------------


@router.get("/live", response_class=HTMLResponse)
async def live_page(request: Request, who: Who) -> HTMLResponse:
    return _page(request, "live.html", who)


@router.get("/api/live")
async def live_list(request: Request, who: Who) -> list[dict[str, Any]]:
    return await asyncio.to_thread(review.live_calls, _engine(request))


@router.get("/live/{call_id}", response_class=HTMLResponse)
async def live_call_page(request: Request, call_id: str, who: Who) -> HTMLResponse:
    await asyncio.to_thread(
        auth.audit, _engine(request), who.username, "transcript.view", f"call:{call_id}", live=True
    )
    return _page(request, "live_call.html", who, call_id=call_id)


@router.get("/api/calls/{call_id}/stream")
async def call_stream(request: Request, call_id: str, who: Who) -> StreamingResponse:
    after = request.headers.get("last-event-id") or request.query_params.get("after")
    if not after or not _stream_id(after):
        started = await asyncio.to_thread(_started_at, _engine(request), call_id)
        after = live.start_id(started)
    services = request.app.state.services
    body = live.call_events(services.redis, services.settings.event_stream, call_id, after)
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _stream_id(value: str) -> bool:
    a, _, b = value.partition("-")
    return a.isdigit() and b.isdigit()


def _started_at(engine: Any, call_id: str) -> datetime | None:
    with Session(engine) as s:
        return s.scalars(select(Call.started_at).where(Call.id == call_id)).first()


# -- supervisors: call review -----------------------------------------------------------


def _filters(request: Request) -> review.Filters:
    q = request.query_params

    def date(key: str) -> datetime | None:
        try:
            return datetime.fromisoformat(q[key]) if q.get(key) else None
        except ValueError:
            raise HTTPException(422, f"{key}: not a date (YYYY-MM-DD)") from None

    def seconds(key: str) -> int | None:
        value = q.get(key)
        if not value:
            return None
        if not value.isdigit():
            raise HTTPException(422, f"{key}: whole seconds")
        return int(value)

    return review.Filters(
        since=date("since"),
        until=date("until"),
        number=q.get("number", "")[:64],
        flow=q.get("flow", "")[:128],
        outcome=q.get("outcome", "")[:64],
        min_s=seconds("min_s"),
        max_s=seconds("max_s"),
        q=q.get("q", "")[:200],
    )


@router.get("/calls", response_class=HTMLResponse)
async def calls_page(request: Request, who: Who) -> HTMLResponse:
    f = _filters(request)
    calls = await asyncio.to_thread(review.find_calls, _engine(request), f)
    return _page(request, "calls.html", who, calls=calls, f=f, query=dict(request.query_params))


@router.get("/api/calls")
async def calls_api(request: Request, who: Who) -> list[dict[str, Any]]:
    return await asyncio.to_thread(review.find_calls, _engine(request), _filters(request))


async def _detail(request: Request, call_id: str, who: Principal) -> dict[str, Any]:
    detail = await asyncio.to_thread(review.call_detail, _engine(request), call_id)
    if detail is None:
        raise HTTPException(404, "no such call")
    await asyncio.to_thread(
        auth.audit, _engine(request), who.username, "transcript.view", f"call:{call_id}"
    )
    detail["has_recording"] = _recording(request, call_id).exists()
    return detail


@router.get("/calls/{call_id}", response_class=HTMLResponse)
async def call_page(request: Request, call_id: str, who: Who) -> HTMLResponse:
    detail = await _detail(request, call_id, who)
    return _page(request, "call.html", who, call=detail)


@router.get("/api/calls/{call_id}")
async def call_api(request: Request, call_id: str, who: Who) -> dict[str, Any]:
    return await _detail(request, call_id, who)


def _recording(request: Request, call_id: str) -> Path:
    return recording_path(request.app.state.services.settings.data_dir, call_id)


@router.get("/api/calls/{call_id}/recording")
async def recording(request: Request, call_id: str, who: Who) -> FileResponse:
    path = _recording(request, call_id)
    if not path.exists():
        raise HTTPException(404, "no recording of this call")
    return FileResponse(path, media_type="audio/wav")


# -- admins: flows ----------------------------------------------------------------------


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
        return [
            {"line": p.line, "col": p.col, "message": p.message, "fix": p.fix} for p in exc.problems
        ]
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
        problems = [
            {"line": p.line, "col": p.col, "message": p.message, "fix": p.fix} for p in exc.problems
        ]
        return JSONResponse({"ok": False, "problems": problems}, status_code=422)
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
