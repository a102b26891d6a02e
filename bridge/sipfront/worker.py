"""One SIP worker process (``callbridge sip-worker``): a pjsua2 agent on a port of its
own that runs calls as ``serve`` does, with no web app and no store writer.

pjsua2's PyPI build answers 4 calls per process, so a machine's SIP capacity is many
such processes behind Kamailio's dispatcher (``deploy/kamailio/``):
``serve --sip-workers N`` starts and watches N of them; workers on other machines are
started by hand and listed in ``CALLBRIDGE_SIP_REMOTE_WORKERS``.

A worker writes one JSON line a second on stdout, its :class:`SipHealth`, which the
pool turns into per-worker metrics; its logs go to stderr. SIGTERM drains it: new
INVITEs get 503 (Kamailio tries another worker) while its calls finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import signal
import sys

from bridge.conversation.service import CallService, LegCount
from bridge.legs.sip import SipService
from bridge.logs import get_logger
from bridge.process.services import Services
from bridge.settings import Settings

log = get_logger(__name__)
HEARTBEAT_S = 1.0


async def run(settings: Settings) -> None:
    services = Services(settings)
    await services.start()
    calls = CallService(
        settings,
        services.calls,
        services.events.publish,
        services.recordings,
        LegCount(lambda: services.redis),
    )
    await asyncio.to_thread(calls.warm)  # before taking calls: not on a caller's line
    sip = SipService(settings, calls, services.calls)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await sip.start(report_as=None)
        log.info("sip worker running", port=sip.health().port, instance=settings.instance_id)
        drained = asyncio.ensure_future(_drain_on(stop, services, settings.drain_timeout_s))
        while not drained.done():
            _heartbeat(sip)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(drained), HEARTBEAT_S)
    finally:
        await sip.stop()
        await calls.lookup.aclose()
        await services.stop()
        log.info("sip worker stopped")


async def _drain_on(stop: asyncio.Event, services: Services, timeout: float) -> None:
    await stop.wait()
    await services.calls.drain(timeout)


def _heartbeat(sip: SipService) -> None:
    sys.stdout.write(json.dumps(dataclasses.asdict(sip.health())) + "\n")
    sys.stdout.flush()
