"""App factory. The app owns the process's :class:`~bridge.process.services.Services`:
they start in the lifespan and stop, after the calls in flight drained, at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import FastAPI

from bridge import __version__
from bridge.conversation.service import CallService, LegCount
from bridge.logs import get_logger
from bridge.process.services import Services
from bridge.settings import Settings
from bridge.store.flow_catalog import FlowCatalog
from bridge.store.users import Users
from bridge.web import auth, dashboard, health
from bridge.web.body_limit import BodyLimit

log = get_logger(__name__)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    services = services or Services(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        await asyncio.to_thread(app.state.call_service.warm)
        app.state.users = Users(services.engine)
        app.state.flow_catalog = FlowCatalog(services.engine)
        sip = _sip(services, app.state.call_service)
        if sip is not None:
            await sip.start()
        app.state.sip = sip
        try:
            yield
        finally:
            calls = services.calls
            # DrainingServer has drained already; else (a test's server, say) here.
            if not calls.draining and not await calls.drain(services.settings.drain_timeout_s):
                await calls.cut_all("drain_timeout")
            if sip is not None:
                await sip.stop()
            await app.state.twilio_rest.aclose()
            await app.state.call_service.lookup.aclose()
            await services.stop()

    app = FastAPI(
        title="callbridge",
        version=__version__,
        summary="Telephony contact-center bridge: HTTP API, carrier webhooks, dashboard.",
        lifespan=lifespan,
    )
    app.state.services = services
    app.add_middleware(BodyLimit)
    app.include_router(health.router)
    _carriers(app, services)
    s = services.settings
    secret = auth.session_secret(
        s.data_dir, s.session_secret and s.session_secret.get_secret_value()
    )
    dashboard.mount(app, secret, https=app.state.public_url.startswith("https://"))
    return app


class SipSide(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def _sip(services: Services, call_service: CallService) -> SipSide | None:
    """The SIP side: none (port 0), a worker pool behind Kamailio (``sip_workers``), or
    one agent in this process on the public port (also when Kamailio is missing)."""
    s = services.settings
    if not s.sip.port:
        return None
    if s.sip.workers:
        from bridge.sipfront import kamailio

        if kamailio.available(s.kamailio_binary):
            from bridge.sipfront.pool import SipWorkerPool

            return SipWorkerPool(s, services.redis_url, services.calls)
        log.warning(
            "kamailio is not installed: one SIP agent in this process instead of workers",
            sip_workers=s.sip.workers,
        )
    from bridge.legs.sip import SipService  # pjsua2 loads only where SIP is on

    return SipService(s, call_service, services.calls)


def _carriers(app: FastAPI, services: Services) -> None:
    """Carrier legs share one CallService; each checks its own signatures."""
    from bridge.legs.tokens import Tokens
    from bridge.legs.twilio.rest import TwilioRest
    from bridge.legs.twilio.routes import Urls
    from bridge.legs.twilio.routes import router as twilio
    from bridge.legs.vonage.rest import VonageRest
    from bridge.legs.vonage.routes import router as vonage

    s = services.settings
    public = s.public_url or f"http://{s.host}:{s.port}"
    app.state.call_service = CallService(
        s,
        services.calls,
        lambda e: services.events.publish(e),
        services.recordings,
        LegCount(lambda: getattr(services, "redis", None)),  # made when services start
    )
    app.state.twilio_tokens = Tokens()
    app.state.twilio_urls = Urls.of(public)
    app.state.twilio_rest = TwilioRest(s)
    app.state.twilio_forks = set()  # calls whose listen-only fork is connected
    app.include_router(twilio)
    app.state.public_url = public.rstrip("/")
    app.state.vonage_tokens = Tokens()
    app.state.vonage_rest = VonageRest(s)
    app.include_router(vonage)
