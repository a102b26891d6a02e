"""SIP calls (pjsua2, :mod:`sip.agent`) bridged to CallRuntimes.

The agent thread asks :meth:`SipService.screen` about each INVITE (answer, or a
status to refuse with); an answered call gets a :class:`SipLeg` on the event loop.
Caller frames come from pjmedia's clock thread through a :class:`FrameInbox`
and are the call's clock, as with the carriers; bot frames go back through the
call's bounded queue, which the clock thread drains every 20 ms, so the leg keeps
it a few frames deep and ``clear`` empties it on barge-in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from bridge import logs, metrics
from bridge.conversation.registry import CallRegistry, Draining
from bridge.conversation.runtime import CallRuntime
from bridge.conversation.service import CallService
from bridge.events.schema import Envelope
from bridge.settings import Settings
from flows.interpreter import Transfer
from sip.addresses import registrar_domain, uri_user
from sip.agent import AGENT_HUNG_UP, RINGING, SipAgent, SipCall
from sip.config import SipConfig

log = logs.get_logger(__name__)
LEAD_FRAMES = 3  # bot frames queued ahead of pjmedia's clock
TRANSFER_TIMEOUT_S = 30.0
RTP_PORTS = 40  # local RTP ports one agent may use above its first (4 calls need 8)
END_REASONS = {"RTP timeout": "rtp_timeout", AGENT_HUNG_UP: "agent_hangup"}


@dataclass(frozen=True)
class TransferPlan:
    """How a SIP call reaches a person. Bridged (the default): the bridge dials the
    agent and joins both legs, staying in the media path so the call is still
    transcribed; blind: a REFER hands the caller over and the bridge leaves."""

    bridged: bool = True
    queues: dict[str, str] = field(default_factory=dict)  # queue → number or SIP URI
    trunk_host: str = ""  # where numbers are dialled (else back where the call came from)

    def uri(self, target: Transfer, source: str) -> str:
        value = target.sip or target.number or self.queues.get(target.queue or "", "")
        if not value or value.startswith(("sip:", "sips:", "tel:")):
            return value
        return f"sip:{value}@{self.trunk_host or source}"


class FrameInbox:
    """Caller frames from pjmedia's clock thread to the event loop. The clock serves every
    call of the agent in one burst each 20 ms: the loop is woken once per burst, not
    once per frame, and each leg takes its frames in the order they came."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._frames: deque[tuple[SipLeg, bytes | None]] = deque()
        self._armed = False  # a drain is scheduled and has not started yet

    def put(self, leg: SipLeg, pcm: bytes | None) -> None:
        """Any thread. ``None`` tells the leg its SIP call is over, after its frames."""
        self._frames.append((leg, pcm))  # appended before the flag is read: never lost
        if not self._armed:
            self._armed = True
            self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._armed = False
        frames = self._frames
        while frames:
            leg, pcm = frames.popleft()
            leg.feed(pcm)


class SipLeg:
    def __init__(
        self,
        call: SipCall,
        loop: asyncio.AbstractEventLoop,
        transfers: TransferPlan | None = None,
        inbox: FrameInbox | None = None,
    ) -> None:
        self.call, self.loop = call, loop
        self.transfers = transfers or TransferPlan()
        inbox = inbox or FrameInbox(loop)
        self.runtime: CallRuntime | None = None
        self.transferred = False
        self.ended = asyncio.Event()  # the SIP call is over (or never got going)
        self.end_reason = "caller_hangup"
        self._early: list[bytes] = []  # frames before the runtime started
        self._done = asyncio.Event()  # this leg is finished with its runtime
        self._transfer: asyncio.Future[bool] | None = None
        # pjsua2 threads → this loop
        call.on_frame = lambda pcm: inbox.put(self, pcm)
        call.on_dtmf = lambda digit: loop.call_soon_threadsafe(self._dtmf, digit)
        call.on_ended = lambda reason: self._sip_ended(reason, inbox)
        call.on_transfer = lambda code, final: loop.call_soon_threadsafe(
            self._transfer_status, code, final
        )

    # -- LegControl -------------------------------------------------------------------

    def clear(self) -> int:
        return self.call.clear()

    async def transfer(self, target: Transfer) -> bool:
        uri = self.transfers.uri(target, self.call.source)
        if not uri:
            log.warning("sip transfer has nowhere to go", queue=target.queue)
            return False
        if self.transfers.bridged:
            status = await self._bridged(uri)
            if status != "no_slot":
                self.transferred = status == "connected"
                return self.transferred
            log.warning("no SIP call left to dial the agent with: blind transfer instead")
        self._transfer = self.loop.create_future()
        self.call.refer(uri)
        try:
            ok = await asyncio.wait_for(self._transfer, TRANSFER_TIMEOUT_S)
        except TimeoutError:
            ok = False
        self.transferred = ok
        if ok:  # the caller is talking to the agent on a call of its own: we leave
            self.call.hangup()
        return ok

    async def _bridged(self, uri: str) -> str:
        result: asyncio.Future[str] = self.loop.create_future()

        self.call.bridge_to(
            uri, lambda status: self.loop.call_soon_threadsafe(_settle, result, status)
        )
        try:
            return await asyncio.wait_for(asyncio.shield(result), TRANSFER_TIMEOUT_S)
        except TimeoutError:
            self.call.cancel_bridge()
            return "failed"

    async def hangup(self) -> None:
        self.call.hangup()

    # -- from the agent ---------------------------------------------------------------

    def _dtmf(self, digit: str) -> None:
        if self.runtime is not None and len(digit) == 1 and digit in "0123456789*#ABCD":
            self.runtime.dtmf(digit)

    def _sip_ended(self, reason: str, inbox: FrameInbox) -> None:  # on the agent thread
        self.end_reason = END_REASONS.get(reason, "caller_hangup")
        inbox.put(self, None)  # after the frames that came before it

    def _transfer_status(self, code: int, final: bool) -> None:
        fut = self._transfer
        if fut is None or fut.done():
            return
        if code >= 300:
            fut.set_result(False)
        elif final and code >= 200:
            fut.set_result(True)

    # -- the call -----------------------------------------------------------------------

    async def run(self, runtime: CallRuntime) -> None:
        """Until the SIP call or the conversation is over; the frames arrive in feed()."""
        self.runtime = runtime
        early, self._early = self._early, []
        for pcm in early:
            self.feed(pcm)
        try:
            await self._done.wait()
        finally:
            runtime.caller_hung_up(self.end_reason)

    def feed(self, pcm: bytes | None) -> None:
        """One caller frame (the call's clock), or None: the SIP call is over."""
        if pcm is None:
            log.info("sip call ended", reason=self.end_reason)
            self.ended.set()
            self._done.set()
            return
        runtime = self.runtime
        if runtime is None or self._done.is_set():
            if runtime is None and not self.ended.is_set():
                self._early.append(pcm)
            return
        try:
            runtime.caller_frame(np.frombuffer(pcm, dtype=np.int16))
            while self.call.outbound.qsize() < LEAD_FRAMES:
                bot = runtime.bot_frame()
                if bot is None:
                    break
                self.call.play(bot.tobytes())
        except Exception:  # one call's bug ends that call, not the others in the inbox
            log.exception("sip call frame failed")
            self.call.hangup()
            self._done.set()
            return
        if runtime.ended.is_set():
            self.call.hangup()
            self._done.set()


@dataclass(frozen=True)
class SipHealth:
    """One SIP agent's state, as a worker reports it once a second."""

    port: int
    calls: int
    registered: bool
    rtp_loss_ratio: float  # the worst among live calls
    rtp_jitter_ms: float
    draining: bool = False

    def publish(self, worker: str) -> None:
        metrics.SIP_CALLS.labels(worker).set(self.calls)
        metrics.SIP_REGISTERED.labels(worker).set(1 if self.registered else 0)
        metrics.SIP_RTP_LOSS.labels(worker).set(self.rtp_loss_ratio)
        metrics.SIP_RTP_JITTER.labels(worker).set(self.rtp_jitter_ms)


def _settle(future: asyncio.Future[str], value: str) -> None:
    if not future.done():
        future.set_result(value)


class SipService:
    """Owns the process's SIP agent and starts a call runtime for each answered call."""

    def __init__(self, settings: Settings, calls: CallService, draining: object) -> None:
        self.settings, self.calls = settings, calls
        self._draining = draining
        self.loop: asyncio.AbstractEventLoop | None = None
        self.inbox: FrameInbox | None = None
        self.agent: SipAgent | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        registrar = settings.sip.registrar
        self.transfers = TransferPlan(
            bridged=settings.sip.transfer == "bridged",
            queues=dict(settings.queue_targets),
            trunk_host=registrar_domain(registrar) if registrar else "",
        )

    def config(self) -> SipConfig:
        s = self.settings
        numbers = frozenset(s.number_flows) if s.number_flows else None
        return SipConfig(
            port=s.sip.port,
            bind=s.sip.bind,
            public_address=s.sip.public_address,
            allowed_sources=tuple(s.sip.allowed_sources),
            numbers=numbers,
            rtp_timeout_s=s.sip.rtp_timeout_s,
            rtp_port=s.sip.rtp_port,
            media_nice=s.sip.media_nice,
            rtp_port_range=RTP_PORTS,
            registrar=s.sip.registrar,
            user=s.sip.user,
            password=s.sip.password.get_secret_value() if s.sip.password else "",
        )

    async def start(self, report_as: str | None = "0") -> None:
        """Start the agent; with ``report_as``, its health goes to this process's metrics
        under that worker name once a second (a pool's workers report to the pool)."""
        self.loop = asyncio.get_running_loop()
        self.inbox = FrameInbox(self.loop)
        self.agent = SipAgent(self.config(), self.screen)
        await asyncio.to_thread(self.agent.start)
        log.info("sip listening", port=self.agent.port)
        if report_as is not None:
            self._tasks.add(self.loop.create_task(self._report(report_as)))

    def health(self) -> SipHealth:
        agent = self.agent
        assert agent is not None
        media = list(agent.media.values())
        return SipHealth(
            port=agent.port,
            calls=agent.active_calls,
            registered=agent.registered.is_set(),
            rtp_loss_ratio=max((m.loss_ratio for m in media), default=0.0),
            rtp_jitter_ms=max((m.jitter_ms for m in media), default=0.0),
            draining=bool(getattr(self._draining, "draining", False)),
        )

    async def _report(self, worker: str) -> None:
        metrics.SIP_WORKER_UP.labels(worker).set(1)
        while True:
            self.health().publish(worker)
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.agent is not None:
            await asyncio.to_thread(self.agent.stop)

    def screen(self, call: SipCall) -> int | None:
        """On the agent thread: ring (answered once the call runtime is up) or refuse."""
        if getattr(self._draining, "draining", False):
            return 503
        assert self.loop is not None and self.inbox is not None
        leg = SipLeg(call, self.loop, self.transfers, self.inbox)
        self.loop.call_soon_threadsafe(self._begin, leg)
        # Ring while the call's flow and engine get ready; 200 OK once they are, so the
        # greeting is not clipped and a 180 never trails the 200 through a proxy.
        return RINGING

    def _begin(self, leg: SipLeg) -> None:
        task = asyncio.get_running_loop().create_task(self._call(leg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, leg: SipLeg) -> None:
        call = leg.call
        try:
            runtime = await self.calls.start(
                leg, carrier="sip", caller=call.caller, dialled=call.dialled
            )
        except Draining:
            call.hangup()
            return
        except Exception:
            log.exception("sip call could not start")
            call.hangup()
            return
        call.answer()
        with contextlib.suppress(asyncio.CancelledError):
            await leg.run(runtime)


async def call_out(
    settings: Settings, uri: str, emit: Callable[[Envelope], None], answer_timeout_s: float = 60
) -> CallRuntime | None:
    """Place one outbound call to ``uri`` and run the default flow on it once answered
    (``callbridge call --sip``). Returns None when nobody answered."""
    loop = asyncio.get_running_loop()
    service = CallService(settings, CallRegistry(), emit)
    await asyncio.to_thread(service.warm)  # before dialling: not while the callee waits
    config = replace(SipService(settings, service, None).config(), port=0, numbers=None)
    agent = SipAgent(config, lambda call: 603)  # this agent only calls out
    await asyncio.to_thread(agent.start)
    try:
        call = SipCall(agent, -1, caller=settings.sip.user, dialled=uri_user(uri), source="")
        leg = SipLeg(call, loop)
        answered = asyncio.Event()
        call.on_answered = lambda: loop.call_soon_threadsafe(answered.set)
        agent.dial(call, uri)
        waits = {asyncio.ensure_future(answered.wait()), asyncio.ensure_future(leg.ended.wait())}
        _, pending = await asyncio.wait(
            waits, timeout=answer_timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        for w in pending:
            w.cancel()
        if not answered.is_set():
            log.warning("sip call not answered", uri=uri)
            call.hangup()
            return None
        runtime = await service.start(leg, carrier="sip", caller=call.caller, dialled=call.dialled)
        await leg.run(runtime)
        return runtime
    finally:
        await asyncio.to_thread(agent.stop)
