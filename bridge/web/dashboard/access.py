"""Who may open what: the one table every dashboard route and stream is checked against.

:data:`ACCESS` maps each route (method, path) to the least role that may use it; the
single dependency :data:`Who` looks up the route it guards, so a route cannot be
added without an entry (it fails closed), and the authorisation test walks the table
for every role.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.store.users import Principal, Role
from bridge.web import auth

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


async def who(request: Request) -> Principal | None:
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


Who = Annotated[Principal, Depends(who)]


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
