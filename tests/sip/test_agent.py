"""The pjsua2 agent against sipp: what it refuses, and how it reads a request."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.peers import sipp
from harness.servers import free_udp_port
from sip.agent import SipAgent, SipCall
from sip.config import SipConfig

needs_sipp = pytest.mark.skipif(
    not sipp.available(), reason="sipp is not installed (make test does)"
)


@pytest.fixture(scope="module")
def seen() -> list[SipCall]:
    """Every call the agent's service was asked about, in order."""
    return []


@pytest.fixture(scope="module")
def agent(seen: list[SipCall]) -> Iterator[SipAgent]:
    def on_call(call: SipCall) -> int | None:
        seen.append(call)
        return 503 if call.dialled == "+449999" else None  # refuse (e.g. draining) or answer

    a = SipAgent(
        SipConfig(
            port=free_udp_port(),
            bind="127.0.0.1",
            numbers=frozenset({"+441111", "+449999"}),
            allowed_sources=("127.0.0.1/32",),
        ),
        on_call,
    )
    a.start()
    yield a
    a.stop()


@needs_sipp
def test_an_unknown_number_gets_404(agent: SipAgent, tmp_path: Path) -> None:
    r = sipp.invite_expecting(tmp_path, agent.port, "+440000", 404)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


@needs_sipp
def test_the_service_decides_about_a_known_number(
    agent: SipAgent, seen: list[SipCall], tmp_path: Path
) -> None:
    r = sipp.invite_expecting(tmp_path, agent.port, "+449999", 503, header="Retry-After: 5")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    call = seen[-1]
    assert (call.dialled, call.caller, call.source) == ("+449999", "sipp", "127.0.0.1")


@needs_sipp
def test_a_source_outside_the_trunk_gets_403(
    agent: SipAgent, seen: list[SipCall], tmp_path: Path
) -> None:
    before = len(seen)
    r = sipp.invite_expecting(tmp_path, agent.port, "+441111", 403, local_ip="127.0.0.2")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert len(seen) == before  # refused before the service


def test_one_agent_per_process(agent: SipAgent) -> None:
    with pytest.raises(RuntimeError, match="one SIP agent per process"):
        SipAgent(SipConfig(port=free_udp_port()), lambda call: None).start()


@needs_sipp
def test_no_common_codec_gets_488(agent: SipAgent, tmp_path: Path) -> None:
    r = sipp.invite_expecting(tmp_path, agent.port, "+441111", 488, codec=(18, "G729"))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


@needs_sipp
def test_beyond_capacity_the_next_caller_gets_503(agent: SipAgent, tmp_path: Path) -> None:
    """Three calls are held (the capacity); the fourth is turned away with 503, not with
    pjsua2's 486, and the held calls carry on."""
    (tmp_path / "held").mkdir()
    held = threading.Thread(
        target=lambda: results.append(
            sipp.call(
                tmp_path / "held",
                agent.port,
                "+441111",
                [sipp.PAUSE.format(ms=4000), sipp.OUR_BYE],
                calls=3,
            )
        )
    )
    results: list[subprocess.CompletedProcess[str]] = []
    held.start()
    for _ in range(100):
        if agent.active_calls == 3:
            break
        time.sleep(0.05)
    assert agent.active_calls == 3
    r = sipp.invite_expecting(tmp_path, agent.port, "+441111", 503, header="Retry-After: 5")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    held.join(30)
    assert results and results[0].returncode == 0, results[0].stderr[-2000:]


@needs_sipp
def test_options_is_answered(agent: SipAgent, tmp_path: Path) -> None:
    r = sipp.options(tmp_path, agent.port)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


@needs_sipp
def test_a_late_hangup_does_not_reach_the_next_call_with_the_same_id(
    agent: SipAgent, seen: list[SipCall], tmp_path: Path
) -> None:
    """pjsua2 hands an ended call's id to a later call. A hang-up the bridge sends for a
    call that has just ended (its runtime noticed the BYE a moment late) must not end
    the caller who now has that id: before, it was answered 603 or sent a BYE."""
    first = len(seen)
    (tmp_path / "gone").mkdir()
    r = sipp.call(tmp_path / "gone", agent.port, "+441111", [sipp.OUR_BYE])
    assert r.returncode == 0, r.stderr[-2000:]
    ended = seen[first]
    steps = [sipp.PAUSE.format(ms=1500), sipp.OUR_BYE]
    with ThreadPoolExecutor(1) as phone:
        for n in range(8):  # pjsua2 gives out ids in turn: one of these gets the ended one's
            (tmp_path / f"next{n}").mkdir()
            before = len(seen)
            held = phone.submit(sipp.call, tmp_path / f"next{n}", agent.port, "+441111", steps)
            for _ in range(100):
                if len(seen) > before and agent.active_calls:
                    break
                time.sleep(0.02)
            reused = seen[before].id == ended.id
            if reused:
                ended.hangup()  # late, from the call that is over
            r = held.result(30)
            assert r.returncode == 0, r.stderr[-2000:]
            if reused:
                return
    pytest.fail(f"no later call got id {ended.id}")


def _request(method: str, uri: str, port: int, cseq: int, to: str, body: str = "") -> bytes:
    head = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{method.lower()}{cseq}",
        "From: <sip:raw@127.0.0.1>;tag=raw1",
        f"To: {to}",
        "Call-ID: ring-gap@127.0.0.1",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:raw@127.0.0.1:{port}>",
        "Max-Forwards: 70",
    ]
    if body:
        head.append("Content-Type: application/sdp")
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


def test_the_200_never_follows_the_180_so_closely_a_proxy_could_swap_them(
    agent: SipAgent,
) -> None:
    """Kamailio's UDP workers relay a 180 and a 200 sent back to back in either order,
    and a caller that gets the 180 last aborts: the agent leaves a gap between them."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        port = s.getsockname()[1]
        uri = f"sip:+441111@127.0.0.1:{agent.port}"
        sdp = (
            f"v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {free_udp_port()} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        s.sendto(_request("INVITE", uri, port, 1, f"<{uri}>", sdp), ("127.0.0.1", agent.port))
        seen: dict[int, tuple[float, str]] = {}
        while 200 not in seen:
            text = s.recv(65535).decode()
            seen.setdefault(int(text.split()[1]), (time.monotonic(), text))
        to = next(ln[4:] for ln in seen[200][1].split("\r\n") if ln.startswith("To: "))
        for method, cseq in (("ACK", 1), ("BYE", 2)):
            s.sendto(_request(method, uri, port, cseq, to), ("127.0.0.1", agent.port))
    assert 180 in seen
    assert seen[200][0] - seen[180][0] >= 0.045
