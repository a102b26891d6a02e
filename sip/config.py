"""What a SIP agent is told (:class:`SipConfig`) and what it measures (:class:`MediaStats`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MediaStats:
    """One call's incoming RTP, from pjmedia's stream statistics."""

    packets: int
    lost: int
    jitter_ms: float

    @property
    def loss_ratio(self) -> float:
        return self.lost / max(1, self.packets + self.lost)


@dataclass(frozen=True)
class SipConfig:
    port: int = 5060
    bind: str = "0.0.0.0"
    public_address: str = ""  # what goes into Contact/SDP when behind NAT
    # IP-trunk mode: INVITEs are accepted only from these networks (empty: from anyone).
    allowed_sources: tuple[str, ...] = ()
    # Dialled numbers (request-URI user parts) this agent answers; None: any.
    numbers: frozenset[str] | None = None
    max_calls: int = 4  # pjsua2's compiled limit (PJSUA_MAX_CALLS) in the PyPI wheel
    # Calls answered at once; one slot less than pjsua2 has, so the call after the last
    # gets our 503 (a load balancer moves on) instead of pjsua2's stateless 486.
    capacity: int = 3
    # Registration mode (a PBX or a trunk that wants it): register as ``user`` at
    # ``registrar`` (a SIP URI), answering digest challenges with ``password``.
    registrar: str = ""
    user: str = "callbridge"
    password: str = field(default="", repr=False)
    register_expiry_s: int = 300
    # A peer that stops sending RTP this long (it vanished, or its network did) is hung up.
    rtp_timeout_s: float = 30.0
    retry_after_s: int = 5  # in a 503 at capacity or while draining
    # First local RTP port, and how many above it calls may use: processes on one host
    # get ranges of their own so they never race for the same ports.
    rtp_port: int = 4000
    rtp_port_range: int = 0
    media_nice: int = -10  # pjmedia's clock and media threads (0: leave them as they are)
    log_level: int = 1
