"""A SIP user agent on pjsua2, in a thread of its own.

pjsua2 wants one thread to create the endpoint and poll it; with
``mainThreadOnly`` every SIP callback runs there too. Frame callbacks run on
pjmedia's clock thread instead (every 20 ms per call): they only move bytes
through thread-safe queues. The asyncio side never calls pjsua2 directly: it
hands commands to :meth:`SipAgent.submit`, which the agent thread runs between
polls, and it hears about calls through the ``on_call`` callback (called on the
agent thread; the caller bridges it to its loop).

Audio crosses as 20 ms frames of the house format (16-bit PCM at 16 kHz): the
conference bridge runs at 16 kHz, so pjmedia does the G.711 and resampling work
in C for SIP calls.

This module is the agent: its thread, and the calls it holds. A call's handle for
the asyncio side is :mod:`sip.call`; its pjsua2 object, :mod:`sip.call_leg`; its
audio port, :mod:`sip.media`; the endpoint's bring-up, :mod:`sip.endpoint`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pjsua2 as pj

from sip.addresses import from_allowed, request_user, uri_user
from sip.call import SipCall
from sip.call_leg import AGENT_HUNG_UP as AGENT_HUNG_UP  # where the legs look for it
from sip.call_leg import Bridge, CallLeg, cancel_bridge, unbridge
from sip.config import MediaStats, SipConfig
from sip.endpoint import (
    Account,
    LogWriter,
    account_config,
    init_endpoint,
    open_transport,
    sip_header,
    start_endpoint,
)

log = logging.getLogger("sip.pjsua2")
# SIP events wake the poll at once; only our own jobs (hang up, transfer) wait for it.
POLL_MS = 20
# pjmedia's clock thread takes the GIL for every frame of every call: a thread waiting
# for it gets it within the switch interval (5 ms by default), which a peer hears as
# RTP jitter. A SIP process switches every 1 ms instead.
SWITCH_INTERVAL_S = 0.001
# What ``on_call`` returns to ring now and answer later (SipCall.answer) rather than at once.
RINGING = 180
# A 200 OK sent right behind the 180 can overtake it in a proxy with several UDP
# workers (Kamailio's), and a caller that gets the 180 after the 200 may abort the call
# (sipp does): the 200 leaves at least this long after the 180. Nobody hears 50 ms.
RING_GAP_S = 0.05


_lock = threading.Lock()
_running: SipAgent | None = None


@dataclass
class SipAgent:
    """Runs the endpoint in a thread; ``on_call`` decides about each new call.

    ``on_call(call)`` runs on the agent thread and returns None to answer at once
    (after setting the call's callbacks), ``RINGING`` to ring until
    :meth:`SipCall.answer`, or a SIP status code to refuse with.
    """

    config: SipConfig
    on_call: Callable[[SipCall], int | None]
    _jobs: queue.SimpleQueue[Callable[[], None]] = field(default_factory=queue.SimpleQueue)
    _calls: dict[int, CallLeg] = field(default_factory=dict)
    _refused: dict[int, CallLeg] = field(default_factory=dict)  # held until pjsua2 lets go
    _ended: list[CallLeg] = field(default_factory=list)
    _answers: list[CallLeg] = field(default_factory=list)  # rang too recently to answer yet
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _error: BaseException | None = None
    port: int = 0  # the bound port, once started
    registered: threading.Event = field(default_factory=threading.Event)
    _account: Account | None = None
    registration: tuple[int, str] = (0, "")  # the registrar's last answer
    media: dict[int, MediaStats] = field(default_factory=dict)  # per live call, every 0.5 s

    # -- life cycle (any thread) --------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        global _running
        with _lock:
            if _running is not None:  # pjsua2 has one Endpoint per process; a second aborts
                raise RuntimeError("one SIP agent per process: pjsua2 has a single endpoint")
            _running = self
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self._thread = threading.Thread(target=self._run, name="sip-agent", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the SIP agent did not start")
        if self._error is not None:
            self.stop()
            raise RuntimeError(f"the SIP agent could not start: {self._error}") from self._error

    def stop(self, timeout: float = 10.0) -> None:
        global _running
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with _lock:
            if _running is self:
                _running = None

    def dial(self, call: SipCall, uri: str) -> None:
        """Place an outbound call to ``uri`` for ``call`` (its callbacks set first);
        ``on_answered`` or ``on_ended`` tells how it went."""
        self.submit(lambda: self._dial(call, uri))

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the agent thread (where pjsua2 may be called)."""
        self._jobs.put(job)

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    # -- what a SipCall asks (CallControl; any thread) ----------------------------------

    def answer(self, call: SipCall) -> None:
        self._on_agent(call, self._answer)

    def hangup(self, call: SipCall) -> None:
        self._on_agent(call, CallLeg.end)

    def refer(self, call: SipCall, target: str) -> None:
        self._on_agent(call, lambda leg: leg.xfer(target, pj.CallOpParam()))

    def bridge_to(self, call: SipCall, target: str, on_result: Callable[[str], None]) -> None:
        self._on_agent(
            call,
            lambda leg: self._bridge_to(leg, target, on_result),
            gone=lambda: on_result("failed"),
        )

    def cancel_bridge(self, call: SipCall) -> None:
        self._on_agent(call, cancel_bridge)

    def _on_agent(
        self,
        handle: SipCall,
        job: Callable[[CallLeg], None],
        gone: Callable[[], None] = lambda: None,
    ) -> None:
        """Run ``job`` on the agent thread with the call's pjsua2 object, or ``gone`` if
        the call is over. pjsua2 reuses a call's id as soon as the call is gone, so the
        id alone could point a late hang-up at the next caller's call."""

        def run() -> None:
            call = self._call_of(handle)
            if call is None:
                gone()
            else:
                job(call)

        self.submit(run)

    # -- the agent thread ---------------------------------------------------------------

    def _run(self) -> None:
        ep, writer = pj.Endpoint(), LogWriter()
        try:
            init_endpoint(ep, self.config, writer)
            self.port = open_transport(ep, self.config)
            start_endpoint(ep, self.config.media_nice)
            account = Account(self._incoming, self._registration)
            account.create(account_config(self.config, self.port), True)
            self._account = account
        except Exception as exc:  # pjsua2 raises pj.Error; its text is in .reason
            self._error = RuntimeError(getattr(exc, "reason", "") or repr(exc))
            ep.libDestroy()  # here, on the thread pjlib knows, not in a finaliser elsewhere
            self._ready.set()
            return
        self._ready.set()
        try:
            self._poll(ep)
        finally:
            self._calls.clear()
            self._account = None
            del account
            gc.collect()  # pjsua2 objects must go before the library (pjproject #4353)
            ep.libDestroy()

    def _poll(self, ep: pj.Endpoint) -> None:
        """Until stopped: SIP events, our jobs, due answers, ended calls, and every 0.5 s
        the RTP check; then hang up whatever is left."""
        next_check = 0.0
        while not self._stop.is_set():
            ep.libHandleEvents(POLL_MS)
            self._run_jobs()
            self._answer_due()
            self._release()
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + 0.5
                self._check_rtp()
        ep.hangupAllCalls()
        for _ in range(50):
            ep.libHandleEvents(10)
        self._release()

    def _registration(self, code: int, reason: str, expires: int) -> None:
        self.registration = (code, reason)
        if 200 <= code < 300 and expires > 0:
            self.registered.set()
        else:
            self.registered.clear()
            log.warning("SIP registration failed: %s %s", code, reason)

    def _run_jobs(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                job = self._jobs.get_nowait()
                with contextlib.suppress(pj.Error):  # a call that ended meanwhile
                    job()

    def _release(self) -> None:
        while self._ended:
            call = self._ended.pop()
            key = call.key
            if self._calls.get(key) is call:  # ids are reused once a call is gone
                del self._calls[key]
            call.teardown()

    # -- calls (the agent thread) ------------------------------------------------------

    def _incoming(self, account: Account, prm: pj.OnIncomingCallParam) -> None:
        call = CallLeg(account, prm.callId, self._finished)
        info = call.getInfo()
        source = prm.rdata.srcAddress.rsplit(":", 1)[0]
        dialled = request_user(prm.rdata.wholeMsg) or uri_user(info.localUri)
        handle = SipCall(self, prm.callId, uri_user(info.remoteUri), dialled, source)
        status = self._screen(handle)
        if status is None:
            status = self.on_call(handle)
        op = pj.CallOpParam()
        if status is not None and status != RINGING:
            # pjsua2 2.15 drops the headers of an answer given inside onIncomingCall, so
            # the refusal is sent from the next job run, where Retry-After survives.
            self._refused[prm.callId] = call
            self.submit(lambda: self._refuse(call, status))
            return
        call.handle = handle
        self._calls[prm.callId] = call
        op.statusCode = 180
        call.answer(op)
        call.rang_at = time.monotonic()
        if status is None:
            self._answer(call)

    def _call_of(self, handle: SipCall) -> CallLeg | None:
        """The live pjsua2 call behind ``handle``, if it is still that call's."""
        call = self._calls.get(handle.id)
        return call if call is not None and call.handle is handle else None

    def _answer(self, call: CallLeg) -> None:
        if time.monotonic() - call.rang_at < RING_GAP_S:
            self._answers.append(call)  # answered by _answer_due, a poll or three later
            return
        op = pj.CallOpParam()
        op.statusCode = 200
        call.answer(op)

    def _answer_due(self) -> None:
        if not self._answers:
            return
        waiting, self._answers = self._answers, []
        for call in waiting:
            if self._calls.get(call.key) is call:  # not ended (or its id reused) meanwhile
                with contextlib.suppress(pj.Error):
                    self._answer(call)

    def _check_rtp(self) -> None:
        """Hang up calls whose peer sent no RTP for ``rtp_timeout_s`` (it vanished, or
        its network did): pjmedia conceals the gap, so the packet count is the truth."""
        now = time.monotonic()
        media: dict[int, MediaStats] = {}
        for call in list(self._calls.values()):
            if call.port is None or call.ended_reason:
                continue
            stats = call.rtp_received()
            if stats is None:
                continue
            media[call.key] = stats
            if call.rtp_stalled(stats.packets, now, self.config.rtp_timeout_s):
                call.end("RTP timeout")
        self.media = media  # replaced whole: readers on other threads see one snapshot

    def _screen(self, call: SipCall) -> int | None:
        allowed = self.config.allowed_sources
        if allowed and not from_allowed(call.source, allowed):
            return 403
        numbers = self.config.numbers
        if numbers is not None and call.dialled not in numbers:
            return 404
        if len(self._calls) >= self.config.capacity:
            return 503
        return None

    def _refuse(self, call: CallLeg, status: int) -> None:
        op = pj.CallOpParam()
        op.statusCode = status
        if status == 503:  # busy or draining: tell a load balancer or trunk when to retry
            op.txOption.headers.append(sip_header("Retry-After", str(self.config.retry_after_s)))
        call.answer(op)  # a final answer of 3xx-6xx ends the INVITE; DISCONNECTED follows

    def _bridge_to(self, caller: CallLeg, uri: str, on_result: Callable[[str], None]) -> None:
        if caller.bridge is not None:
            on_result("failed")
            return
        if len(self._calls) + len(self._refused) >= self.config.max_calls:
            on_result("no_slot")
            return
        bridge = Bridge(caller, on_result)
        leg = CallLeg(self._account, pj.PJSUA_INVALID_ID, self._finished)
        leg.bridge = bridge
        try:
            leg.makeCall(uri, pj.CallOpParam(True))
        except pj.Error as exc:
            log.warning("bridged transfer: cannot dial %s: %s", uri, exc.reason)
            on_result("failed")
            return
        bridge.agent, caller.bridge = leg, bridge
        leg.key = leg.getId()
        self._calls[leg.key] = leg

    def _finished(self, call: CallLeg, reason: str) -> None:
        if self._refused.get(call.key) is call:
            del self._refused[call.key]
        unbridge(call)
        if call.handle is not None:
            call.handle.on_ended(reason)
        self._ended.append(call)

    def _dial(self, handle: SipCall, uri: str) -> None:
        call = CallLeg(self._account, pj.PJSUA_INVALID_ID, self._finished)
        call.handle = handle
        try:
            call.makeCall(uri, pj.CallOpParam(True))
        except pj.Error as exc:
            handle.on_ended(f"dial failed: {exc.reason}")
            return
        handle.id = call.key = call.getId()
        self._calls[handle.id] = call
