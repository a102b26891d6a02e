"""Bringing up pjsua2 for the agent thread: the endpoint, its UDP transport, the account
calls arrive on, and pjlib's logging routed into the process's.

Every function here must run on the agent thread: pjsua2 wants one thread to create
the endpoint and poll it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pjsua2 as pj

from media.format import HOUSE_RATE
from sip.addresses import registrar_domain
from sip.config import SipConfig
from sip.guard import guarded

log = logging.getLogger("sip.pjsua2")


class LogWriter(pj.LogWriter):
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


def init_endpoint(ep: pj.Endpoint, config: SipConfig, writer: LogWriter) -> None:
    """Create and configure the library: one thread polls it and runs every callback,
    the conference bridge runs at the house rate, pjlib logs through ``writer``."""
    with _quiet_stdout():  # pjlib announces itself before any log setting applies
        ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.maxCalls = config.max_calls
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.userAgent = "callbridge"
    cfg.medConfig.clockRate = HOUSE_RATE
    cfg.medConfig.sndClockRate = HOUSE_RATE
    cfg.medConfig.ecTailLen = 0
    cfg.medConfig.noVad = True
    cfg.logConfig.level = config.log_level
    cfg.logConfig.consoleLevel = config.log_level
    cfg.logConfig.writer = writer  # into the process's logging, not raw stdout
    cfg.logConfig.decor = 0
    ep.libInit(cfg)


def open_transport(ep: pj.Endpoint, config: SipConfig) -> int:
    """The UDP transport; returns the port it is bound to."""
    tcfg = pj.TransportConfig()
    tcfg.port = config.port
    tcfg.boundAddress = config.bind
    if config.public_address:
        tcfg.publicAddress = config.public_address
    tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    return int(ep.transportGetInfo(tid).localName.rsplit(":", 1)[-1])


def start_endpoint(ep: pj.Endpoint, media_nice: int) -> None:
    ep.libStart()
    ep.audDevManager().setNullDev()  # starts the conference's clock thread
    _prioritise_media_threads(media_nice)


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


class Account(pj.Account):
    """The account calls arrive on; it hands them, and the registrar's answers, on."""

    def __init__(
        self,
        on_incoming: Callable[[Account, pj.OnIncomingCallParam], None],
        on_registration: Callable[[int, str, int], None],
    ) -> None:
        super().__init__()
        self.on_incoming, self.on_registration = on_incoming, on_registration

    @guarded
    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self.on_incoming(self, prm)

    @guarded
    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        self.on_registration(prm.code, prm.reason, prm.expiration)


def account_config(c: SipConfig, port: int) -> pj.AccountConfig:
    """An IP trunk's account (calls come to our address) or a registering one."""
    acfg = pj.AccountConfig()
    acfg.mediaConfig.transportConfig.port = c.rtp_port
    acfg.mediaConfig.transportConfig.portRange = c.rtp_port_range
    if not c.registrar:  # IP trunk: calls come to our address, nobody to register with
        host = c.public_address or "127.0.0.1"
        acfg.idUri = f"sip:{c.user}@{host}:{port}"
        return acfg
    acfg.idUri = f"sip:{c.user}@{registrar_domain(c.registrar)}"
    acfg.regConfig.registrarUri = c.registrar
    acfg.regConfig.timeoutSec = c.register_expiry_s
    acfg.regConfig.retryIntervalSec = 30
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", c.user, 0, c.password))
    return acfg


def sip_header(name: str, value: str) -> pj.SipHeader:
    h = pj.SipHeader()
    h.hName, h.hValue = name, value
    return h
