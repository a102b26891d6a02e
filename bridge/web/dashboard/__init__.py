"""The dashboard: one web app for agents (live calls), supervisors (call review) and
admins (flows, in :mod:`.admin`), served by the bridge.

Every route is guarded by its entry in :data:`.access.ACCESS`. Pages are rendered on
the server (:mod:`.render`); live parts (transcripts, the editor's checks) are small
scripts in ``static/``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import StreamingResponse

from bridge.conversation.recording import recording_path
from bridge.store import review
from bridge.store.audit import audit
from bridge.store.models import Call
from bridge.store.users import Principal, Users
from bridge.store.wav_files import wait_written
from bridge.web import auth
from bridge.web.auth import LoginRequired
from bridge.web.dashboard import admin, live
from bridge.web.dashboard.access import ACCESS, HttpSessions, Who
from bridge.web.dashboard.render import HERE
from bridge.web.dashboard.render import engine as _engine
from bridge.web.dashboard.render import page as _page

__all__ = ["ACCESS", "ROUTERS", "mount"]

router = APIRouter()
ROUTERS = (router, admin.router)


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
    for r in ROUTERS:
        app.include_router(r)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


# -- log in and out ---------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/", error: str = "") -> HTMLResponse:
    return _page(request, "login.html", auth.principal(request), next=_local(next), error=error)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    await auth.check_csrf(request)
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    users: Users = request.app.state.users
    who = await asyncio.to_thread(users.check, name, password)
    target = _local(str(form.get("next", "/")))
    if who is None:
        await asyncio.to_thread(audit, _engine(request), name[:128], "login.failed", "")
        return RedirectResponse(f"/login?error=1&next={target}", status_code=303)
    request.session.clear()  # a new session id and CSRF token on every login
    request.session["user"] = who.username
    await asyncio.to_thread(audit, _engine(request), who.username, "login", "")
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
        audit, _engine(request), who.username, "transcript.view", f"call:{call_id}", live=True
    )
    return _page(request, "live_call.html", who, call_id=call_id)


@router.get("/api/calls/{call_id}/stream")
async def call_stream(request: Request, call_id: str, who: Who) -> StreamingResponse:
    after = request.headers.get("last-event-id") or request.query_params.get("after")
    if not after or not _stream_id(after):
        started = await asyncio.to_thread(_started_at, _engine(request), call_id)
        after = live.start_id(started)
    services = request.app.state.services
    stream = services.settings.events.stream
    hub = getattr(request.app.state, "live_hub", None)
    if hub is None:
        hub = request.app.state.live_hub = live.LiveHub(services.redis, stream)
    body = live.call_events(hub, services.redis, stream, call_id, after)
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
        audit, _engine(request), who.username, "transcript.view", f"call:{call_id}"
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


RECORDING_WAIT_S = 2.0


def _recording(request: Request, call_id: str) -> Path:
    return recording_path(request.app.state.services.settings.data_dir, call_id)


@router.get("/api/calls/{call_id}/recording")
async def recording(request: Request, call_id: str, who: Who) -> FileResponse:
    path = _recording(request, call_id)
    if not path.exists():
        raise HTTPException(404, "no recording of this call")
    # A call that ended a moment ago: its writer thread finishes the file (header and
    # all) within milliseconds; one still in progress is served as far as it goes.
    await asyncio.to_thread(wait_written, path, RECORDING_WAIT_S)
    return FileResponse(path, media_type="audio/wav")
