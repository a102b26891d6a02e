"""App factory. The app owns the process's :class:`~bridge.services.Services`:
they start in the lifespan and stop, after the calls in flight drained, at shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bridge import __version__
from bridge.services import Services
from bridge.settings import Settings
from bridge.web import health


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    services = services or Services(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            if not services.calls.draining:  # DrainingServer has not drained already
                await services.calls.drain(services.settings.drain_timeout_s)
            await services.stop()

    app = FastAPI(
        title="callbridge",
        version=__version__,
        summary="Telephony contact-center bridge: HTTP API, carrier webhooks, dashboard.",
        lifespan=lifespan,
    )
    app.state.services = services
    app.include_router(health.router)
    return app
