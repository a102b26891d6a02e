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
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pjsua2 as pj

from media.format import HOUSE_RATE
from sip.addresses import from_allowed, registrar_domain, request_user, uri_user
from sip.config import MediaStats, SipConfig
from sip.media import BridgePort, guarded

log = logging.getLogger("sip.pjsua2")
# SIP events wake the poll at once; only our own jobs (hang up, transfer) wait for it.
POLL_MS = 20
# pjmedia's clock thread takes the GIL for every frame of every call: a thread waiting
# for it gets it within the switch interval (5 ms by default), which a peer hears as
# RTP jitter. A SIP process switches every 1 ms instead.
SWITCH_INTERVAL_S = 0.001
# What ``on_call`` returns to ring now and answer later (SipCall.answer) rather than at once.
RINGING = 180
AGENT_HUNG_UP = "agent hung up"  # the end reason of a bridged caller whose agent left
# A 200 OK sent right behind the 180 can overtake it in a proxy with several UDP
# workers (Kamailio's), and a caller that gets the 180 after the 200 may abort the call
# (sipp does): the 200 leaves at least this long after the 180. Nobody hears 50 ms.
RING_GAP_S = 0.05
OUT_QUEUE_FRAMES = 25  # 500 ms of bot audio handed over at most; barge-in drops it at once


class SipCall:
    """One call as the asyncio side sees it. Thread-safe; no pjsua2 objects leak out."""

    def __init__(self, agent: SipAgent, call_id: int, caller: str, dialled: str, source: str):
        self.agent, self.id = agent, call_id
        self.caller, self.dialled, self.source = caller, dialled, source
        self.outbound: queue.Queue[bytes] = queue.Queue(OUT_QUEUE_FRAMES)
        # Set by the leg before the call is answered; called on pjmedia's clock thread.
        self.on_frame: Callable[[bytes], None] = lambda _: None
        self.on_dtmf: Callable[[str], None] = lambda _: None
        self.on_ended: Callable[[str], None] = lambda _: None
        self.on_transfer: Callable[[int, bool], None] = lambda _code, _final: None
        self.on_answered: Callable[[], None] = lambda: None  # outbound: the callee answered

    def play(self, pcm: bytes) -> bool:
        """Queue one 20 ms bot frame; False when the queue is full (the leg paces itself)."""
        try:
            self.outbound.put_nowait(pcm)
            return True
        except queue.Full:
            return False

    def clear(self) -> int:
        """Drop queued bot audio; returns how many milliseconds were dropped."""
        dropped = 0
        with contextlib.suppress(queue.Empty):
            while True:
                self.outbound.get_nowait()
                dropped += 1
        return dropped * 20

    def answer(self) -> None:
        """200 OK to a call that ``on_call`` left ringing (``RINGING``)."""
        self._on_agent(lambda call: self.agent._answer(call))

    def hangup(self) -> None:
        self._on_agent(lambda call: self.agent._hangup(call))

    def refer(self, target: str) -> None:
        """Blind transfer (REFER); progress arrives through ``on_transfer``."""
        self._on_agent(lambda call: self.agent._refer(call, target))

    def bridge_to(self, target: str, on_result: Callable[[str], None]) -> None:
        """Bridged transfer: dial ``target`` and join it to this call once it answers.
        ``on_result`` (agent thread) gets "connected", "failed", or "no_slot" when
        pjsua2 has no call left to dial with."""
        self._on_agent(
            lambda call: self.agent._bridge_to(call, target, on_result),
            gone=lambda: on_result("failed"),
        )

    def cancel_bridge(self) -> None:
        """Give up dialling the agent (it did not answer in time)."""
        self._on_agent(lambda call: self.agent._cancel_bridge(call))

    def _on_agent(
        self, job: Callable[[_Call], None], gone: Callable[[], None] = lambda: None
    ) -> None:
        """Run ``job`` on the agent thread with this call's pjsua2 object, or ``gone`` if
        the call is over. pjsua2 reuses a call's id as soon as the call is gone, so the
        id alone could point a late hang-up at the next caller's call."""

        def run() -> None:
            call = self.agent._call_of(self)
            if call is None:
                gone()
            else:
                job(call)

        self.agent.submit(run)


def _active_audio(call: pj.Call) -> pj.AudioMedia | None:
    info = call.getInfo()  # held: iterating a temporary's media vector reads freed memory
    for mi in info.media:
        if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status in (
            pj.PJSUA_CALL_MEDIA_ACTIVE,
            pj.PJSUA_CALL_MEDIA_REMOTE_HOLD,
        ):
            return call.getAudioMedia(mi.index)
    return None


@dataclass(eq=False)
class _Bridge:
    """A bridged transfer: the caller's leg and the agent's leg we dialled, their audio
    joined in pjmedia's conference bridge. The caller's audio still reaches our port,
    so the call is still transcribed; the bot's port no longer reaches the caller."""

    caller: _Call
    on_result: Callable[[str], None]  # "connected" or "failed", once
    agent: _Call | None = None
    connected: bool = False


class _Call(pj.Call):
    def __init__(self, agent: SipAgent, account: pj.Account, call_id: int) -> None:
        super().__init__(account, call_id)
        self.agent = agent
        self.handle: SipCall | None = None
        self.port: BridgePort | None = None
        self.bridge: _Bridge | None = None
        self.key = call_id  # pjsua2's id, kept: getId() says nothing once the call is gone
        self.ended_reason = ""  # ours, when we hung up for a reason of our own
        self.rx_packets = -1  # RTP packets received, at the last check
        self.rx_checked = 0.0  # monotonic time the count last moved
        self.rang_at = 0.0  # monotonic time of our 180

    def teardown(self) -> None:
        """The call is over: take its port out of pjmedia's conference now, on the agent
        thread, while the Python object is whole (see :meth:`BridgePort.destroy`)."""
        port, self.port = self.port, None
        self.handle = self.bridge = None
        if port is not None:
            port.destroy()

    @guarded
    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        bridge = self.bridge
        if bridge is not None and self is bridge.agent:
            self.agent._join(bridge)
            return
        handle = self.handle
        audio = _active_audio(self) if handle is not None else None
        if handle is None or audio is None:
            return
        if self.port is None:
            fmt = pj.MediaFormatAudio()
            fmt.init(pj.PJMEDIA_FORMAT_PCM, HOUSE_RATE, 1, 20_000, 16)
            self.port = BridgePort(handle)
            self.port.createPort(f"cb{self.getId()}", fmt)
        # Media can change on re-INVITE (hold, codec change): connect both ways again.
        audio.startTransmit(self.port)
        if bridge is not None and bridge.connected:
            self.agent._join(bridge)
        else:
            self.port.startTransmit(audio)

    @guarded
    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        if self.handle is not None:
            self.handle.on_dtmf(prm.digit)

    @guarded
    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        if self.handle is not None:
            self.handle.on_transfer(prm.statusCode, prm.finalNotify)

    @guarded
    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and self.handle is not None:
            self.handle.on_answered()
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.agent._finished(self, self.ended_reason or info.lastReason or "ended")


class _Account(pj.Account):
    def __init__(self, agent: SipAgent) -> None:
        super().__init__()
        self.agent = agent

    @guarded
    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self.agent._incoming(self, prm)

    @guarded
    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        self.agent._registration(prm.code, prm.reason, prm.expiration)


class _LogWriter(pj.LogWriter):
    def write(self, entry: pj.LogEntry) -> None:
        level = logging.WARNING if entry.level <= 2 else logging.DEBUG
        log.log(level, "%s", entry.msg.strip())


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


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
    _calls: dict[int, _Call] = field(default_factory=dict)
    _refused: dict[int, _Call] = field(default_factory=dict)  # held until pjsua2 lets go
    _ended: list[_Call] = field(default_factory=list)
    _answers: list[_Call] = field(default_factory=list)  # rang too recently to answer yet
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _error: BaseException | None = None
    port: int = 0  # the bound port, once started
    registered: threading.Event = field(default_factory=threading.Event)
    _account: _Account | None = None
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

    # -- the agent thread ---------------------------------------------------------------

    def _run(self) -> None:
        ep = pj.Endpoint()
        writer = _LogWriter()
        try:
            with _quiet_stdout():  # pjlib announces itself before any log setting applies
                ep.libCreate()
            cfg = pj.EpConfig()
            cfg.uaConfig.maxCalls = self.config.max_calls
            cfg.uaConfig.threadCnt = 0
            cfg.uaConfig.mainThreadOnly = True
            cfg.uaConfig.userAgent = "callbridge"
            cfg.medConfig.clockRate = HOUSE_RATE
            cfg.medConfig.sndClockRate = HOUSE_RATE
            cfg.medConfig.ecTailLen = 0
            cfg.medConfig.noVad = True
            cfg.logConfig.level = self.config.log_level
            cfg.logConfig.consoleLevel = self.config.log_level
            cfg.logConfig.writer = writer  # into the process's logging, not raw stdout
            cfg.logConfig.decor = 0
            ep.libInit(cfg)
            tcfg = pj.TransportConfig()
            tcfg.port = self.config.port
            tcfg.boundAddress = self.config.bind
            if self.config.public_address:
                tcfg.publicAddress = self.config.public_address
            tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
            self.port = ep.transportGetInfo(tid).localName.rsplit(":", 1)[-1]
            self.port = int(self.port)
            ep.libStart()
            ep.audDevManager().setNullDev()  # starts the conference's clock thread
            _prioritise_media_threads(self.config.media_nice)
            account = _Account(self)
            account.create(self._account_config(), True)
            self._account = account
        except Exception as exc:  # pjsua2 raises pj.Error; its text is in .reason
            self._error = RuntimeError(getattr(exc, "reason", "") or repr(exc))
            ep.libDestroy()  # here, on the thread pjlib knows, not in a finaliser elsewhere
            self._ready.set()
            return
        self._ready.set()
        try:
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
        finally:
            self._calls.clear()
            self._account = None
            del account
            gc.collect()  # pjsua2 objects must go before the library (pjproject #4353)
            ep.libDestroy()

    def _account_config(self) -> pj.AccountConfig:
        c, acfg = self.config, pj.AccountConfig()
        acfg.mediaConfig.transportConfig.port = c.rtp_port
        acfg.mediaConfig.transportConfig.portRange = c.rtp_port_range
        if not c.registrar:  # IP trunk: calls come to our address, nobody to register with
            host = c.public_address or "127.0.0.1"
            acfg.idUri = f"sip:{c.user}@{host}:{self.port}"
            return acfg
        acfg.idUri = f"sip:{c.user}@{registrar_domain(c.registrar)}"
        acfg.regConfig.registrarUri = c.registrar
        acfg.regConfig.timeoutSec = c.register_expiry_s
        acfg.regConfig.retryIntervalSec = 30
        acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", c.user, 0, c.password))
        return acfg

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

    def _incoming(self, account: _Account, prm: pj.OnIncomingCallParam) -> None:
        call = _Call(self, account, prm.callId)
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

    def _call_of(self, handle: SipCall) -> _Call | None:
        """The live pjsua2 call behind ``handle``, if it is still that call's."""
        call = self._calls.get(handle.id)
        return call if call is not None and call.handle is handle else None

    def _answer(self, call: _Call) -> None:
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
            try:
                rx = call.getStreamStat(0).rtcp.rxStat
                packets = rx.pkt
                media[call.key] = MediaStats(packets, rx.loss, rx.jitterUsec.last / 1000)
            except pj.Error:
                continue
            if packets != call.rx_packets:
                call.rx_packets, call.rx_checked = packets, now
            elif now - call.rx_checked >= self.config.rtp_timeout_s:
                self._hangup(call, "RTP timeout")
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

    def _refuse(self, call: _Call, status: int) -> None:
        op = pj.CallOpParam()
        op.statusCode = status
        if status == 503:  # busy or draining: tell a load balancer or trunk when to retry
            op.txOption.headers.append(_header("Retry-After", str(self.config.retry_after_s)))
        call.answer(op)  # a final answer of 3xx-6xx ends the INVITE; DISCONNECTED follows

    def _bridge_to(self, caller: _Call, uri: str, on_result: Callable[[str], None]) -> None:
        if caller.bridge is not None:
            on_result("failed")
            return
        if len(self._calls) + len(self._refused) >= self.config.max_calls:
            on_result("no_slot")
            return
        bridge = _Bridge(caller, on_result)
        leg = _Call(self, self._account, pj.PJSUA_INVALID_ID)
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

    def _join(self, bridge: _Bridge) -> None:
        """Both legs have media: caller ↔ agent, and the bot stops reaching the caller."""
        assert bridge.agent is not None
        agent, caller = _active_audio(bridge.agent), _active_audio(bridge.caller)
        if agent is None or caller is None:
            return
        caller.startTransmit(agent)
        agent.startTransmit(caller)
        if bridge.caller.port is not None:
            bridge.caller.port.stopTransmit(caller)
        if not bridge.connected:
            bridge.connected = True
            bridge.on_result("connected")

    def _cancel_bridge(self, caller: _Call) -> None:
        bridge = caller.bridge
        if bridge is not None and not bridge.connected and bridge.agent is not None:
            self._hangup(bridge.agent)

    def _unbridge(self, call: _Call) -> None:
        """One leg of a bridged transfer ended: end the other (or report the failure)."""
        bridge, call.bridge = call.bridge, None
        if bridge is None:
            return
        if call is bridge.agent:
            bridge.caller.bridge = None
            if not bridge.connected:
                bridge.on_result("failed")  # busy, no answer, or cancelled
            else:
                self._hangup(bridge.caller, AGENT_HUNG_UP)
        elif bridge.agent is not None:
            bridge.agent.bridge = None
            self._hangup(bridge.agent)

    def _finished(self, call: _Call, reason: str) -> None:
        if self._refused.get(call.key) is call:
            del self._refused[call.key]
        self._unbridge(call)
        if call.handle is not None:
            call.handle.on_ended(reason)
        self._ended.append(call)

    def _dial(self, handle: SipCall, uri: str) -> None:
        call = _Call(self, self._account, pj.PJSUA_INVALID_ID)
        call.handle = handle
        try:
            call.makeCall(uri, pj.CallOpParam(True))
        except pj.Error as exc:
            handle.on_ended(f"dial failed: {exc.reason}")
            return
        handle.id = call.key = call.getId()
        self._calls[handle.id] = call

    def _hangup(self, call: _Call, reason: str = "") -> None:
        if reason:
            log.warning("hanging up: %s", reason)
            call.ended_reason = reason
        call.hangup(pj.CallOpParam())

    def _refer(self, call: _Call, target: str) -> None:
        call.xfer(target, pj.CallOpParam())


def _prioritise_media_threads(nice: int) -> None:
    """Put pjmedia's clock thread (it sends every call's RTP each 20 ms) and its media
    thread (it receives) ahead of the rest of the machine, as media servers do: on a
    busy host a late clock tick is jitter every caller hears. Best effort: lowering a
    nice value needs root or CAP_SYS_NICE; without it they keep the process's."""
    if nice >= 0:
        return
    for task in Path("/proc/self/task").iterdir():
        try:
            if (task / "comm").read_text().strip() in ("clock", "media"):
                os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
        except PermissionError:
            log.info("media threads keep normal priority (no permission to raise it)")
            return
        except (OSError, ValueError):  # the thread went meanwhile
            continue


def _header(name: str, value: str) -> pj.SipHeader:
    h = pj.SipHeader()
    h.hName, h.hValue = name, value
    return h
