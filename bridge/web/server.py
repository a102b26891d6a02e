"""``callbridge serve``: uvicorn with a drain step before connections are closed.

Uvicorn's own shutdown closes every open WebSocket at once, which would cut the
carrier media streams of calls in flight. We stop listening first, let the calls
finish (bounded by ``drain_timeout_s``; a second Ctrl-C skips the wait), and only
then let uvicorn close what is left.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import sys
from types import FrameType
from typing import Any

import uvicorn

from bridge.logs import get_logger
from bridge.process.services import Services
from bridge.settings import Settings
from bridge.web.app import create_app

log = get_logger(__name__)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, services: Services) -> None:
        super().__init__(config)
        self.services = services

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.services.calls.start_draining()
        # uvicorn re-raises the signal after shutting down; a drained stop is a clean
        # exit (status 0), not a death by signal.
        self._captured_signals.clear()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            settle_heap()
            self._announce()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Still listening while the calls drain: /healthz answers 200 and /readyz 503
        # ("draining"), so an orchestrator tells draining from dead; new calls are
        # refused by the routes (Draining).
        calls = self.services.calls
        calls.start_draining()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.services.settings.drain_timeout_s
        # Polled: force_exit is a plain flag set by uvicorn's signal handler.
        while calls.active and loop.time() < deadline and not self.force_exit:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        if calls.active:
            await calls.cut_all("drain_timeout")
        await super().shutdown(sockets)

    def _announce(self) -> None:
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        base = f"http://{shown}:{port}"
        s = self.services
        redis = "embedded" if s.embedded_redis else "external"
        log.info("callbridge listening", url=base)
        lines = [
            f"callbridge is running on {base}",
            f"  health   {base}/healthz",
            f"  ready    {base}/readyz",
            f"  metrics  {base}/metrics",
            f"  API      {base}/docs  (OpenAPI: {base}/openapi.json)",
            f"  dashboard {base}/login  (add people: callbridge users add NAME --role ROLE)",
            f"  flow     {s.settings.default_flow}",
            f"  data     {s.settings.data_dir}  (redis: {redis})",
            "Press Ctrl-C to stop.",
        ]
        print("\n".join(lines), flush=True)


def settle_heap() -> None:
    """Once started: hide the start-up heap (modules, flows, schemas) from the cyclic
    collector and collect young objects less often. Every call's media runs on a 20 ms
    beat, which feels each full collection of a big heap as a late frame; calls create
    few reference cycles. Measured with bench/carriers.py: about 10% less CPU per call
    and a lower p99 at 300 streams."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def uvicorn_config(settings: Settings, app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # our structlog setup owns the handlers
        lifespan="on",
        timeout_graceful_shutdown=int(settings.drain_timeout_s) + 5,
        # Carrier media is base64 G.711 or raw PCM: compressing it costs more CPU per
        # frame than everything else the bridge does with it, for a few bytes saved.
        ws_per_message_deflate=False,
    )


def serve(settings: Settings) -> None:
    services = Services(settings)
    app = create_app(services=services)
    DrainingServer(uvicorn_config(settings, app), services).run()
    # Drained, flushed and stopped: everything durable is written. Leave now, without
    # the interpreter's teardown, where the speech engines' native threads (Whisper,
    # onnxruntime) could still crash the exit (SIGSEGV/SIGABRT seen after a call),
    # turning a clean stop into a failed one for the orchestrator.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
