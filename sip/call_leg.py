"""The pjsua2 side of a call: :class:`CallLeg`, its callbacks, and the joining and
parting of two legs in a bridged transfer (:class:`Bridge`).

Everything here runs on the agent thread (pjsua2's callbacks and the agent's jobs).
A leg tells its agent it has ended through ``on_disconnected``; it knows nothing
else of the agent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import pjsua2 as pj

from media.format import HOUSE_RATE
from sip.call import SipCall
from sip.config import MediaStats
from sip.guard import guarded
from sip.media import BridgePort

log = logging.getLogger("sip.pjsua2")
AGENT_HUNG_UP = "agent hung up"  # the end reason of a bridged caller whose agent left


def active_audio(call: pj.Call) -> pj.AudioMedia | None:
    info = call.getInfo()  # held: iterating a temporary's media vector reads freed memory
    for mi in info.media:
        if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status in (
            pj.PJSUA_CALL_MEDIA_ACTIVE,
            pj.PJSUA_CALL_MEDIA_REMOTE_HOLD,
        ):
            return call.getAudioMedia(mi.index)
    return None


@dataclass(eq=False)
class Bridge:
    """A bridged transfer: the caller's leg and the agent's leg we dialled, their audio
    joined in pjmedia's conference bridge. The caller's audio still reaches our port,
    so the call is still transcribed; the bot's port no longer reaches the caller."""

    caller: CallLeg
    on_result: Callable[[str], None]  # "connected" or "failed", once
    agent: CallLeg | None = None
    connected: bool = False


def join(bridge: Bridge) -> None:
    """Both legs have media: caller ↔ agent, and the bot stops reaching the caller."""
    assert bridge.agent is not None
    agent, caller = active_audio(bridge.agent), active_audio(bridge.caller)
    if agent is None or caller is None:
        return
    caller.startTransmit(agent)
    agent.startTransmit(caller)
    if bridge.caller.port is not None:
        bridge.caller.port.stopTransmit(caller)
    if not bridge.connected:
        bridge.connected = True
        bridge.on_result("connected")


def unbridge(call: CallLeg) -> None:
    """One leg of a bridged transfer ended: end the other (or report the failure)."""
    bridge, call.bridge = call.bridge, None
    if bridge is None:
        return
    if call is bridge.agent:
        bridge.caller.bridge = None
        if not bridge.connected:
            bridge.on_result("failed")  # busy, no answer, or cancelled
        else:
            bridge.caller.end(AGENT_HUNG_UP)
    elif bridge.agent is not None:
        bridge.agent.bridge = None
        bridge.agent.end()


def cancel_bridge(caller: CallLeg) -> None:
    """Give up dialling the agent of ``caller``'s bridged transfer, unless it answered."""
    bridge = caller.bridge
    if bridge is not None and not bridge.connected and bridge.agent is not None:
        bridge.agent.end()


class CallLeg(pj.Call):
    """One pjsua2 call: a caller's, one we dialled, or the agent's leg of a bridge."""

    def __init__(
        self,
        account: pj.Account,
        call_id: int,
        on_disconnected: Callable[[CallLeg, str], None],
    ) -> None:
        super().__init__(account, call_id)
        self.on_disconnected = on_disconnected
        self.handle: SipCall | None = None
        self.port: BridgePort | None = None
        self.bridge: Bridge | None = None
        self.key = call_id  # pjsua2's id, kept: getId() says nothing once the call is gone
        self.ended_reason = ""  # ours, when we hung up for a reason of our own
        self.rx_packets = -1  # RTP packets received, at the last check
        self.rx_checked = 0.0  # monotonic time the count last moved
        self.rang_at = 0.0  # monotonic time of our 180

    def end(self, reason: str = "") -> None:
        """Hang up; ``reason`` (ours) becomes the call's end reason."""
        if reason:
            log.warning("hanging up: %s", reason)
            self.ended_reason = reason
        self.hangup(pj.CallOpParam())

    def rtp_received(self) -> MediaStats | None:
        """The incoming RTP so far; None when pjsua2 has no stream to tell of."""
        try:
            rx = self.getStreamStat(0).rtcp.rxStat
            return MediaStats(rx.pkt, rx.loss, rx.jitterUsec.last / 1000)
        except pj.Error:
            return None

    def rtp_stalled(self, packets: int, now: float, timeout_s: float) -> bool:
        """Whether the packet count has not moved for ``timeout_s`` (noting it if it has)."""
        if packets != self.rx_packets:
            self.rx_packets, self.rx_checked = packets, now
            return False
        return now - self.rx_checked >= timeout_s

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
            join(bridge)
            return
        handle = self.handle
        audio = active_audio(self) if handle is not None else None
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
            join(bridge)
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
            self.on_disconnected(self, self.ended_reason or info.lastReason or "ended")
