"""Who may open what: every dashboard route and stream, for every role and for nobody."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from bridge.store.users import RANK
from bridge.web.dashboard import ACCESS, ROUTERS
from tests.bridge.web.dashboard.conftest import Dashboard

EMBEDDED = pytest.mark.parametrize("redis_url", ["embedded"], indirect=True)
PUBLIC = {("GET", "/login"), ("POST", "/login")}
BODIES = {
    "/api/flows/validate": {"source": "flow: x"},
    "/api/flows/graph": {"source": "flow: x"},
    "/api/flows/publish": {"source": "flow: x"},
    "/api/flows/test": {"source": "flow: x", "tests": "tests: []"},
    "/api/flows/activate": {"name": "nope", "version": 1},
}


def test_every_dashboard_route_is_in_the_access_table() -> None:
    routes = {(m, r.path) for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)
              for m in r.methods}  # fmt: skip
    assert routes == set(ACCESS)


@EMBEDDED
async def test_the_authorisation_matrix(dashboard: Dashboard) -> None:
    call = dashboard.call()
    call.start()
    call.end()
    results: dict[tuple[str, str, str], int] = {}
    for role in [None, "agent", "supervisor", "admin"]:
        c = await dashboard.client(role)
        token = await dashboard.csrf(c)
        for (method, path), need in ACCESS.items():
            if (method, path) in PUBLIC or path == "/logout":
                continue
            url = path.replace("{call_id}", call.id)
            headers = {"X-CSRF-Token": token} if method == "POST" else {}
            if path.endswith("/stream"):
                async with c.stream("GET", url, headers=headers) as r:
                    status = r.status_code
            else:
                r = await c.request(method, url, json=BODIES.get(path), headers=headers)
                status = r.status_code
            results[(str(role), method, path)] = status
            assert need is not None
            if role is None:
                expected = {303} if not path.startswith("/api/") else {401}
                assert status in expected, (role, method, path, status)
                if status == 303:
                    assert r.headers["location"].startswith("/login")
            elif RANK[role] < RANK[need]:
                assert status == 403, (role, method, path, status)
            else:
                assert status not in (401, 403) and status < 500, (role, method, path, status)
        await c.aclose()
    # The matrix covered every guarded route for every role.
    assert len(results) == 4 * (len(ACCESS) - len(PUBLIC) - 1)


@EMBEDDED
async def test_unsafe_requests_need_the_csrf_token(dashboard: Dashboard) -> None:
    c = await dashboard.client("admin")
    r = await c.post("/api/flows/validate", json={"source": "flow: x"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = await c.post("/api/flows/validate", json={"source": "flow: x"},
                     headers={"X-CSRF-Token": "forged"})  # fmt: skip
    assert r.status_code == 403
    await c.aclose()


@EMBEDDED
async def test_a_wrong_password_logs_nobody_in_and_is_audited(dashboard: Dashboard) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from bridge.store.models import AuditEntry

    c = await dashboard.client(None)
    page = await c.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = await c.post("/login", data={"username": "ann", "password": "wrong", "csrf": csrf})
    assert r.status_code == 303 and "error=1" in r.headers["location"]
    assert (await c.get("/api/live")).status_code == 401
    with Session(dashboard.services.engine) as s:
        actions = [a.action for a in s.scalars(select(AuditEntry))]
    assert "login.failed" in actions
    # A redirect after login never leaves the site.
    r = await c.post("/login", data={"username": "ann", "password": "correct horse battery",
                                     "csrf": csrf, "next": "//evil.example/x"})  # fmt: skip
    assert r.headers["location"] == "/live"
    await c.aclose()


@EMBEDDED
async def test_a_disabled_user_is_out_at_the_next_request(dashboard: Dashboard) -> None:
    c = await dashboard.client("agent")
    assert (await c.get("/api/live")).status_code == 200
    dashboard.app.state.users.disable("ann")
    assert (await c.get("/api/live")).status_code == 401
    await c.aclose()
