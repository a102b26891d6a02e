"""``serve --sip-workers N``: N SIP worker processes behind Kamailio, watched.

Each worker (:mod:`bridge.sipfront.worker`) is a pjsua2 agent on a port of its own with
its own RTP port range, started with exactly this process's settings. The pool reads
their heartbeats into per-worker metrics, starts a worker that died again (Kamailio
routes around it meanwhile), and on shutdown drains them all before it stops Kamailio,
which carries the BYEs of the calls still up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field

from bridge import metrics
from bridge.conversation.registry import CallRegistry
from bridge.legs.sip import RTP_PORTS, SipHealth
from bridge.logs import get_logger
from bridge.process.children import die_with_parent
from bridge.settings import Settings
from bridge.sipfront.kamailio import Kamailio

log = get_logger(__name__)
STALE_S = 3.0  # a worker silent this long is reported down
START_TIMEOUT_S = 60.0
MAX_BACKOFF_S = 10.0
EXIT_GRACE_S = 30.0


@dataclass
class Worker:
    index: int
    port: int
    rtp_port: int
    proc: asyncio.subprocess.Process | None = None
    health: SipHealth | None = None
    last_seen: float = 0.0
    started: asyncio.Event = field(default_factory=asyncio.Event)
    restarts: int = 0

    @property
    def name(self) -> str:
        return str(self.index)

    @property
    def up(self) -> bool:
        return self.proc is not None and time.monotonic() - self.last_seen < STALE_S


class SipWorkerPool:
    def __init__(self, settings: Settings, redis_url: str, calls: CallRegistry) -> None:
        self.settings, self.redis_url, self.calls = settings, redis_url, calls
        base = settings.sip.worker_base_port or settings.sip.port + 1
        self.workers = [
            Worker(i, base + i, settings.sip.rtp_port + i * (RTP_PORTS + 2))
            for i in range(settings.sip.workers)
        ]
        host = settings.sip.worker_bind
        self.kamailio = Kamailio(
            listen_host=settings.sip.bind,
            listen_port=settings.sip.port,
            workers=[f"sip:{host}:{w.port}" for w in self.workers] + settings.sip.remote_workers,
            run_dir=settings.data_dir / "kamailio",
            binary=settings.kamailio_binary,
        )
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start every worker, wait until each reports in, then open the front door."""
        for w in self.workers:
            self._tasks.append(asyncio.create_task(self._keep(w), name=f"sip-worker-{w.index}"))
        waits = [asyncio.ensure_future(w.started.wait()) for w in self.workers]
        _, pending = await asyncio.wait(waits, timeout=START_TIMEOUT_S)
        for p in pending:
            p.cancel()
        if pending:
            await self.stop()
            raise RuntimeError(f"{len(pending)} SIP workers did not start")
        await asyncio.to_thread(self.kamailio.start)
        self._tasks.append(asyncio.create_task(self._watch(), name="sip-pool-watch"))
        self._tasks.append(asyncio.create_task(self._drain_when_asked(), name="sip-pool-drain"))
        log.info("sip pool listening", port=self.settings.sip.port, workers=len(self.workers))

    async def stop(self) -> None:
        """Drain every worker (up to the drain timeout), then stop Kamailio."""
        self._stopping = True
        self._signal_all(signal.SIGTERM)
        # Beyond the drain: pjsua2's teardown of many workers at once on a busy machine.
        deadline = time.monotonic() + self.settings.drain_timeout_s + EXIT_GRACE_S
        for w in self.workers:
            if w.proc is not None:
                try:
                    await asyncio.wait_for(w.proc.wait(), max(0.1, deadline - time.monotonic()))
                except TimeoutError:
                    log.warning("sip worker did not drain in time", worker=w.name)
                    with contextlib.suppress(ProcessLookupError):
                        w.proc.kill()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self.kamailio.stop)
        for w in self.workers:
            metrics.SIP_WORKER_UP.labels(w.name).set(0)

    @property
    def active_calls(self) -> int:
        return sum(w.health.calls for w in self.workers if w.health and w.up)

    # -- one worker's life --------------------------------------------------------------

    async def _keep(self, w: Worker) -> None:
        """Run the worker; whenever it dies (and we are not stopping) start it again."""
        failures = 0
        while not self._stopping:
            began = time.monotonic()
            try:
                await self._run(w)
            except OSError as exc:
                log.error("sip worker could not start", worker=w.name, error=str(exc))
            if self._stopping:
                return
            failures = 0 if time.monotonic() - began > 30 else failures + 1
            backoff = min(MAX_BACKOFF_S, 0.5 * 2**failures)
            log.error("sip worker died; starting it again", worker=w.name, in_s=backoff)
            w.restarts += 1
            w.started.clear()
            metrics.SIP_WORKER_RESTARTS.labels(w.name).inc()
            metrics.SIP_WORKER_UP.labels(w.name).set(0)
            await asyncio.sleep(backoff)
            self._tasks.append(asyncio.create_task(self._reload_when_up(w)))

    async def _reload_when_up(self, w: Worker) -> None:
        """Calls that died with a worker still count against it in Kamailio: once it is
        back, reset the counts (see :meth:`Kamailio.reload`)."""
        await w.started.wait()
        if await asyncio.to_thread(self.kamailio.reload):
            log.info("kamailio call counts reset after a worker restart", worker=w.name)

    async def _run(self, w: Worker) -> None:
        env = {
            **os.environ,
            **self.settings.as_environment(),
            "CALLBRIDGE_REDIS_URL": self.redis_url,
            "CALLBRIDGE_INSTANCE_ID": f"{self.settings.instance_id}-sip{w.index}",
            "CALLBRIDGE_SIP__PORT": str(w.port),
            "CALLBRIDGE_SIP__BIND": self.settings.sip.worker_bind,
            "CALLBRIDGE_SIP__RTP_PORT": str(w.rtp_port),
            "CALLBRIDGE_SIP__WORKERS": "0",
        }
        w.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bridge.cli",
            "sip-worker",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            preexec_fn=die_with_parent,
        )
        assert w.proc.stdout is not None
        async for line in w.proc.stdout:
            self._heard(w, line)
        await w.proc.wait()
        log.info("sip worker exited", worker=w.name, status=w.proc.returncode)

    def _heard(self, w: Worker, line: bytes) -> None:
        try:
            health = SipHealth(**json.loads(line))
        except (ValueError, TypeError):
            log.warning("sip worker wrote a line that is not a heartbeat", worker=w.name)
            return
        w.health, w.last_seen = health, time.monotonic()
        health.publish(w.name)
        metrics.SIP_WORKER_UP.labels(w.name).set(1)
        w.started.set()

    async def _watch(self) -> None:
        while True:
            for w in self.workers:
                metrics.SIP_WORKER_UP.labels(w.name).set(1 if w.up else 0)
            if not self.kamailio.running and not self._stopping:
                log.error("kamailio died; starting it again")
                with contextlib.suppress(RuntimeError):
                    await asyncio.to_thread(self.kamailio.start)
            await asyncio.sleep(1.0)

    async def _drain_when_asked(self) -> None:
        await self.calls.drain_started.wait()
        log.info("draining sip workers", workers=len(self.workers))
        self._stopping = True
        self._signal_all(signal.SIGTERM)

    def _signal_all(self, sig: signal.Signals) -> None:
        for w in self.workers:
            if w.proc is not None and w.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    w.proc.send_signal(sig)
