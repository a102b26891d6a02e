"""Liveness, readiness and metrics: what load balancers and Prometheus poll."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Redis and the database are reachable and the process takes calls",
    responses={503: {"description": "A dependency is down, or the process is draining"}},
)
async def readyz(request: Request) -> JSONResponse:
    services = request.app.state.services
    checks = await services.ready()
    checks["calls"] = "draining" if services.calls.draining else "accepting"
    ok = all(v in ("ok", "accepting") for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "checks": checks},
        status_code=200 if ok else 503,
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
