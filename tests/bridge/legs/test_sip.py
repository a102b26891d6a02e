"""SIP calls end to end: real peers (baresip, sipp) against the bridge's pjsua2 agent."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from bridge.engines.local.grammar import Constraint, words_of
from bridge.legs import sip as sip_leg
from bridge.legs.sip import SipService, TransferPlan
from bridge.settings import Settings
from bridge.store.wav_files import load_wav
from harness.audio import VOICES, synthesize
from harness.peers import baresip, sipp
from harness.servers import free_udp_port
from media.resample import resample_signal
from sip.probe import options_ping
from tests.bridge.conversation.calls import engine
from tests.bridge.legs.conftest import Bridge, running_bridge

CARDS = Path(__file__).resolve().parents[3] / "flows" / "examples" / "card_services.yaml"
embedded = pytest.mark.parametrize("redis_url", ["embedded"], indirect=True)


def first_sound(pcm8k: np.ndarray, gap_ms: int = 400) -> np.ndarray:
    """From the first loud 20 ms frame to the first ``gap_ms`` of quiet after it."""
    frames = pcm8k[: len(pcm8k) // 160 * 160].astype(np.float64).reshape(-1, 160)
    loud = np.sqrt((frames**2).mean(axis=1)) > 200
    start = int(np.argmax(loud))
    quiet = 0
    for i in range(start, len(loud)):
        quiet = 0 if loud[i] else quiet + 1
        if quiet * 20 >= gap_ms:
            return pcm8k[max(0, start - 10) * 160 : (i + 1) * 160]
    return pcm8k[start * 160 :]


@embedded
@pytest.mark.skipif(not baresip.available(), reason="baresip is not installed (make test does)")
async def test_baresip_caller_hears_the_greeting_and_asks_for_the_balance(
    sip_bridge: Bridge, tmp_path: Path
) -> None:
    heard8k = await baresip.call(
        tmp_path / "baresip",
        f"sip:+441234567890@127.0.0.1:{sip_bridge.sip_port}",
        synthesize("what is my balance", VOICES[1]),
        lead_s=11.5,  # after the greeting and the menu prompt
        seconds=20,
    )
    calls = await sip_bridge.calls()
    assert len(calls) == 1, calls
    events = await sip_bridge.events(calls[0])
    kinds = [e["type"] for e in events]
    assert kinds[0] == "call.started" and kinds[-1] == "call.ended", kinds
    assert events[0]["carrier"] == "sip" and events[0]["to_number"] == "+441234567890"
    assert [e["intent"] for e in events if e["type"] == "flow.intent"][:1] == ["balance"]
    states = [e["state"] for e in events if e["type"] == "flow.state_entered"]
    assert states[:5] == ["greet", "menu", "for_balance", "identify", "ask_dob"], states

    # What the phone received is the bot's speech: its first two prompts are recognised
    # in the recording (a grammar of the flow's prompts, any sequence of them).
    # What the phone received is the bot's speech: the greeting, the first stretch of
    # sound in the recording, is recognised against the flow's prompts.
    prompts = [e for e in events if e["type"] == "transcript.final" and e["speaker"] == "bot"]
    # (Prompts cut at once are empty; digits, "press 1", are not words of the dictionary.)
    phrases = sorted(
        {" ".join(words_of(p["text"])) for p in prompts if not any(c.isdigit() for c in p["text"])}
        - {""}
    )
    # A decoder that has heard the line, as every call's does (a fresh one mishears).
    rec = await asyncio.to_thread(engine().recognizer)
    rec.begin(Constraint.one_of(phrases))
    greeting = first_sound(heard8k).astype(np.float64)
    # The phone's volume: it arrives about 6 dB below what the recogniser is tuned for.
    greeting *= 3000 / max(1.0, float(np.sqrt(np.mean(greeting**2))))
    pcm = np.clip(greeting, -32768, 32767).astype(np.int16)
    rec.feed(resample_signal(pcm, 8000, 16000))
    rec.feed(np.zeros(8000, np.int16))
    assert rec.finish().text == " ".join(words_of(prompts[0]["text"]))
    assert sip_bridge.app.state.services.calls.active == 0


@embedded
@pytest.mark.skipif(not sipp.available(), reason="sipp is not installed (make test does)")
async def test_rfc4733_dtmf_reaches_the_flow(sip_bridge: Bridge, tmp_path: Path) -> None:
    steps = [sipp.PAUSE.format(ms=5000), sipp.DTMF.format(digit=1), sipp.PAUSE.format(ms=4000)]
    r = await asyncio.to_thread(
        sipp.call, tmp_path, sip_bridge.sip_port, "+441234567890", [*steps, sipp.OUR_BYE]
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    events = await sip_bridge.events((await sip_bridge.calls())[0])
    assert [e["digits"] for e in events if e["type"] == "call.dtmf"][:1] == ["1"]
    states = [e["state"] for e in events if e["type"] == "flow.state_entered"]
    assert states[:3] == ["greet", "menu", "for_balance"], states
    assert events[-1]["type"] == "call.ended"


@embedded
@pytest.mark.skipif(not sipp.available(), reason="sipp is not installed (make test does)")
@pytest.mark.parametrize("sip_settings", [{"sip_rtp_timeout_s": 3.0}], indirect=True)
async def test_a_peer_that_vanishes_is_hung_up_after_the_rtp_timeout(
    sip_bridge: Bridge, tmp_path: Path
) -> None:
    # sipp answers nothing and sends no RTP after the ACK: the bridge must send BYE.
    timeout_s = sip_bridge.app.state.services.settings.sip.rtp_timeout_s
    r = await asyncio.to_thread(
        sipp.call,
        tmp_path,
        sip_bridge.sip_port,
        "+441234567890",
        [sipp.THEIR_BYE.format(timeout_ms=int(timeout_s * 1000) + 5000)],
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    events = await sip_bridge.events((await sip_bridge.calls())[0])
    assert (events[-1]["type"], events[-1]["reason"]) == ("call.ended", "rtp_timeout")
    assert sip_bridge.app.state.services.calls.active == 0


def test_settings_become_the_agents_config() -> None:
    s = Settings(
        sip_port=5080,
        sip_allowed_sources=["203.0.113.0/24"],
        number_flows={"+441234567890": "flows/examples/card_services.yaml"},
        sip_registrar="sip:pbx.example.com",
        sip_user="ivr",
        sip_password="hunter2",
        sip_rtp_timeout_s=12,
    )
    c = SipService(s, None, None).config()  # type: ignore[arg-type]
    assert (c.port, c.allowed_sources, c.numbers) == (
        5080,
        ("203.0.113.0/24",),
        frozenset({"+441234567890"}),
    )
    assert (c.registrar, c.user, c.password, c.rtp_timeout_s) == (
        "sip:pbx.example.com",
        "ivr",
        "hunter2",
        12,
    )
    assert "hunter2" not in repr(c)  # the password never reaches a log line


@pytest.mark.skipif(not baresip.available(), reason="baresip is not installed (make test does)")
async def test_callbridge_call_sip_places_an_outbound_call(tmp_path: Path) -> None:
    """`callbridge call --sip URI`: the bridge dials, the person who answers hears the
    flow and is understood."""
    speech = synthesize("what is my balance", VOICES[1])
    async with baresip.Callee(tmp_path / "callee", speech, lead_s=11.5, seconds=20) as callee:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
        env["CALLBRIDGE_DATA_DIR"] = str(tmp_path / "data")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge.cli", "call", "--sip", callee.uri,
            "--flow", str(CARDS), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, text + err.decode()[-3000:]
    assert "bot: Thank you for calling Example Bank card services." in text, text
    assert "→ for_balance" in text, text
    assert "ended: caller_hangup" in text, text


@embedded
@pytest.mark.skipif(not sipp.available(), reason="sipp is not installed (make test does)")
async def test_sip_info_dtmf_reaches_the_flow(sip_bridge: Bridge, tmp_path: Path) -> None:
    steps = [
        sipp.PAUSE.format(ms=2000),
        sipp.INFO_DTMF.format(digit=2, cseq=2),
        sipp.PAUSE.format(ms=2000),
        sipp.OUR_BYE,
    ]
    r = await asyncio.to_thread(sipp.call, tmp_path, sip_bridge.sip_port, "+441234567890", steps)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    events = await sip_bridge.events((await sip_bridge.calls())[0])
    assert [e["digits"] for e in events if e["type"] == "call.dtmf"][:1] == ["2"]
    states = [e["state"] for e in events if e["type"] == "flow.state_entered"]
    assert states[:3] == ["greet", "menu", "for_lost_card"], states


@embedded
@pytest.mark.skipif(not sipp.available(), reason="sipp is not installed (make test does)")
async def test_worker_metrics_count_sip_calls_and_rtp(sip_bridge: Bridge, tmp_path: Path) -> None:
    steps = [sipp.PAUSE.format(ms=3000), sipp.DTMF.format(digit=0), sipp.PAUSE.format(ms=1500)]
    call = asyncio.create_task(
        asyncio.to_thread(
            sipp.call, tmp_path, sip_bridge.sip_port, "+441234567890", [*steps, sipp.OUR_BYE]
        )
    )
    seen: set[str] = set()
    async with httpx.AsyncClient() as http:
        while not call.done():
            text = (await http.get(f"{sip_bridge.base}/metrics")).text
            seen |= {line for line in text.splitlines() if line.startswith("callbridge_sip_")}
            await asyncio.sleep(0.25)
        assert (await call).returncode == 0
        await asyncio.sleep(1.2)
        after = (await http.get(f"{sip_bridge.base}/metrics")).text
    assert 'callbridge_sip_calls{worker="0"} 1.0' in seen, seen
    assert 'callbridge_sip_registered{worker="0"} 0.0' in seen  # IP-trunk mode
    assert any(s.startswith('callbridge_sip_rtp_jitter_ms_max{worker="0"}') for s in seen)
    assert 'callbridge_sip_calls{worker="0"} 0.0' in after


def loud_seconds(pcm8k: np.ndarray) -> float:
    frames = pcm8k[: len(pcm8k) // 160 * 160].astype(np.float64).reshape(-1, 160)
    return float((np.sqrt((frames**2).mean(axis=1)) > 200).sum()) * 0.02


async def ask_for_a_person(
    b: Bridge, tmp_path: Path, caller_speech: np.ndarray, seconds: int, bridged: bool
) -> tuple[list[dict[str, Any]], baresip.Callee, np.ndarray]:
    """A baresip caller asks for a person; the flow's queue reaches another baresip,
    the agent, which answers at once and speaks. Returns the call's events, the agent
    and what the caller heard, once the transfer connected and the call ended."""
    agent_speech = synthesize("hello this is the card team", VOICES[0])
    async with baresip.Callee(
        tmp_path / "agent", agent_speech, lead_s=1.0, seconds=seconds + 10
    ) as agent:
        b.app.state.sip.transfers = TransferPlan(bridged=bridged, queues={"cards": agent.uri})
        heard = await baresip.call(
            tmp_path / "caller",
            f"sip:+441234567890@127.0.0.1:{b.sip_port}",
            np.concatenate([synthesize("talk to a person", VOICES[1]), caller_speech]),
            lead_s=11.5,
            seconds=seconds,
        )
    events = await b.events((await b.calls())[0])
    transfers = [e for e in events if e["type"] == "call.transfer"]
    assert [t["status"] for t in transfers] == ["requested", "connected"], transfers
    assert events[-1]["type"] == "call.ended" and events[-1]["outcome"] == "transferred"
    return events, agent, heard


@embedded
@pytest.mark.skipif(not baresip.available(), reason="baresip is not installed (make test does)")
async def test_a_bridged_transfer_joins_caller_and_agent_and_keeps_transcribing(
    sip_bridge: Bridge, tmp_path: Path
) -> None:
    """The bridge dials the agent, joins the two and stays on the line: the caller's
    words after the hand-over are still transcript events, and the agent hears them."""
    later = np.concatenate(
        [np.zeros(16000 * 8, np.int16), synthesize("my card was stolen yesterday", VOICES[1])]
    )
    events, _, _ = await ask_for_a_person(sip_bridge, tmp_path, later, 30, bridged=True)
    connected = next(e["seq"] for e in events if e.get("status") == "connected")
    after = [
        e for e in events
        if e["seq"] > connected and e["type"] == "transcript.final"
        and e["speaker"] == "caller" and e["text"]
    ]  # fmt: skip
    assert after, [e for e in events if e["type"].startswith("transcript")]
    heard_by_agent = load_wav(sorted((tmp_path / "agent" / "rec").glob("dump-*-dec.wav"))[-1])[0]
    assert loud_seconds(heard_by_agent) >= 1.0  # the caller's second sentence reached the agent
    assert sip_bridge.app.state.services.calls.active == 0


@embedded
@pytest.mark.skipif(not baresip.available(), reason="baresip is not installed (make test does)")
async def test_a_blind_transfer_refers_the_caller_to_the_agent(
    sip_bridge: Bridge, tmp_path: Path
) -> None:
    """With CALLBRIDGE_SIP_TRANSFER=refer the bridge sends REFER: the caller's phone
    calls the agent itself and the bridge leaves the call."""
    quiet = np.zeros(16000 * 6, np.int16)
    _, agent, heard = await ask_for_a_person(sip_bridge, tmp_path, quiet, 28, bridged=False)
    assert "Call with sip:caller@127.0.0.1" in agent.log, agent.log[-2000:]  # it called
    assert loud_seconds(heard) > 0


@embedded
@pytest.mark.skipif(not sipp.available(), reason="sipp is not installed (make test does)")
async def test_hold_and_resume_by_re_invite_keep_the_call_going(
    sip_bridge: Bridge, tmp_path: Path
) -> None:
    """The caller puts the bridge on hold (sendonly → we answer recvonly) and takes it off
    again; media is connected again and the caller's key still reaches the flow."""
    steps = [
        sipp.PAUSE.format(ms=1500), sipp.HOLD, sipp.PAUSE.format(ms=1500), sipp.UNHOLD,
        sipp.PAUSE.format(ms=1500), sipp.DTMF.format(digit=1), sipp.PAUSE.format(ms=3000),
        sipp.OUR_BYE,
    ]  # fmt: skip
    r = await asyncio.to_thread(sipp.call, tmp_path, sip_bridge.sip_port, "+441234567890", steps)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    events = await sip_bridge.events((await sip_bridge.calls())[0])
    assert [e["digits"] for e in events if e["type"] == "call.dtmf"][:1] == ["1"]
    states = [e["state"] for e in events if e["type"] == "flow.state_entered"]
    assert "for_balance" in states, states
    assert events[-1]["type"] == "call.ended" and events[-1]["reason"] == "caller_hangup"


@embedded
@pytest.mark.skipif(not sipp.available(), reason="sipp is not installed (make test does)")
async def test_session_timers_are_negotiated(sip_bridge: Bridge, tmp_path: Path) -> None:
    """RFC 4028: a caller that asks for session timers gets Session-Expires back."""
    r = await asyncio.to_thread(
        sipp.call, tmp_path, sip_bridge.sip_port, "+441234567890",
        [sipp.PAUSE.format(ms=500), sipp.OUR_BYE],
        headers=("Supported: timer", "Session-Expires: 1800;refresher=uac"),
        answer_has="Session-Expires: *1800",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


@embedded
async def test_malformed_sip_is_dropped_and_the_agent_keeps_answering(sip_bridge: Bridge) -> None:
    junk = [
        b"\x00\xff garbage \r\n\r\n",
        b"INVITE sip:+441234567890@127.0.0.1 SIP/2.0\r\nVia: nonsense\r\n\r\n",
        b"INVITE sip:x@127.0.0.1 SIP/2.0\r\nCall-ID: 1\r\nCSeq: abc INVITE\r\n"
        b"Content-Length: 99999\r\n\r\nv=0",
        b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n" + b"X-Long: " + b"a" * 60000 + b"\r\n\r\n",
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for packet in junk:
            sock.sendto(packet, ("127.0.0.1", sip_bridge.sip_port))
    await asyncio.sleep(0.5)
    assert await asyncio.to_thread(options_ping, "127.0.0.1", sip_bridge.sip_port)
    assert sip_bridge.app.state.services.calls.active == 0


@embedded
@pytest.mark.skipif(not sipp.available(), reason="sipp is not installed (make test does)")
async def test_an_agent_who_does_not_answer_is_cancelled_and_the_flow_goes_on(
    sip_bridge: Bridge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bridged transfer rings an agent who never picks up: at the transfer timeout the
    bridge sends CANCEL, and the caller hears the flow's on_fail state."""
    monkeypatch.setattr(sip_leg, "TRANSFER_TIMEOUT_S", 3.0)
    agent_port = free_udp_port()
    agent = sipp.ringing_agent(tmp_path, agent_port)
    sip_bridge.app.state.sip.transfers = TransferPlan(
        queues={"cards": f"sip:agent@127.0.0.1:{agent_port}"}
    )
    steps = [sipp.PAUSE.format(ms=5000), sipp.DTMF.format(digit=0), sipp.THEIR_BYE.format(
        timeout_ms=30000
    )]  # fmt: skip
    r = await asyncio.to_thread(sipp.call, tmp_path, sip_bridge.sip_port, "+441234567890", steps)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out, err = await asyncio.to_thread(agent.communicate, timeout=30)
    assert agent.returncode == 0, out[-2000:] + err[-2000:]
    events = await sip_bridge.events((await sip_bridge.calls())[0])
    transfers = [e["status"] for e in events if e["type"] == "call.transfer"]
    assert transfers == ["requested", "failed"], transfers
    states = [e["state"] for e in events if e["type"] == "flow.state_entered"]
    assert states[-2:] == ["to_agent", "sorry"], states


@embedded
@pytest.mark.skipif(not sipp.available(), reason="sipp is not installed (make test does)")
async def test_an_a_law_caller_is_answered_in_a_law(sip_bridge: Bridge, tmp_path: Path) -> None:
    """A European trunk offers only PCMA: the answer's SDP says PCMA and the call runs."""
    steps = [sipp.PAUSE.format(ms=4000), sipp.DTMF.format(digit=1), sipp.PAUSE.format(ms=3000)]
    r = await asyncio.to_thread(
        sipp.call, tmp_path, sip_bridge.sip_port, "+441234567890", [*steps, sipp.OUR_BYE],
        media=sipp.PCMA_MEDIA, answer_has="m=audio [0-9]+ RTP/AVP 8",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    events = await sip_bridge.events((await sip_bridge.calls())[0])
    states = [e["state"] for e in events if e["type"] == "flow.state_entered"]
    assert "for_balance" in states, states


@embedded
async def test_without_kamailio_the_bridge_answers_sip_itself(
    tmp_path: Path, redis_url: str, stream_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_bridge(
        tmp_path, redis_url, stream_name, monkeypatch,
        sip_port=free_udp_port(), sip_bind="127.0.0.1", sip_workers=4,
        kamailio_binary=str(tmp_path / "no-kamailio-here"),
    ) as b:  # fmt: skip
        assert isinstance(b.app.state.sip, SipService)
        assert await asyncio.to_thread(options_ping, "127.0.0.1", b.sip_port)
