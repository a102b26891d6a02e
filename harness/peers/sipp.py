"""sipp as a caller that expects the bridge to refuse (or answer) an INVITE."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from harness.servers import free_udp_port

# One INVITE and its final answer, then the ACK: for a 2xx a new transaction (its own
# branch) to the callee's Contact along the Record-Route set (through Kamailio when it
# is in the path); for a refusal part of the INVITE's (its Via and request-URI).
INVITE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="sipp against callbridge">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
{headers}Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
{media}
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="{status}" rrs="true">{check}</recv>
  <send><![CDATA[
ACK {ack_uri} SIP/2.0
{via}
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0
]]></send>
"""
PCMA_MEDIA = """m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15"""
NEW_VIA = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n[routes]"
IN_DIALOG = "[next_url]"  # the callee's Contact, for requests inside the dialog
INVITE_URI = "sip:[service]@[remote_ip]:[remote_port]"
DTMF_MEDIA = """m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15"""


def available() -> bool:
    return shutil.which("sipp") is not None


def invite_expecting(
    workdir: Path,
    port: int,
    number: str,
    status: int,
    codec: tuple[int, str] = (0, "PCMU"),
    local_ip: str = "127.0.0.1",
    header: str = "",
) -> subprocess.CompletedProcess[str]:
    """Send one INVITE for ``number`` to 127.0.0.1:``port``; sipp exits 0 only if the
    final answer is ``status`` (carrying ``header``, a regular expression, if given)."""
    scenario = workdir / f"invite-{status}.xml"
    check = (
        f'<action><ereg regexp="{header}" search_in="msg" check_it="true" assign_to="h"/></action>'
        if header
        else ""
    )
    media = f"m=audio [media_port] RTP/AVP {codec[0]}\na=rtpmap:{codec[0]} {codec[1]}/8000"
    reference = '  <Reference variables="h"/>\n' if header else ""
    scenario.write_text(
        INVITE.format(
            media=media,
            status=status,
            check=check,
            via="[last_Via:]",
            ack_uri=INVITE_URI,
            headers="",
        )
        + reference
        + "</scenario>\n"
    )
    return subprocess.run(
        ["sipp", f"127.0.0.1:{port}", "-sf", str(scenario), "-s", number, "-m", "1",
         "-i", local_ip, "-p", str(free_udp_port()), "-timeout", "15", "-timeout_error",
         "-nostdin", "-trace_err", "-error_file", str(workdir / "sipp.err")],
        capture_output=True, text=True, timeout=30, cwd=workdir,
    )  # fmt: skip


PAUSE = '  <pause milliseconds="{ms}"/>\n'
DTMF = (
    '  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_{digit}.pcap"/>'
    "</action></nop>\n"
)
INFO_DTMF = """  <send retrans="500"><![CDATA[
INFO [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} INFO
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/dtmf-relay
Content-Length: [len]

Signal={digit}
Duration=160
]]></send>
  <recv response="200"/>
"""
OUR_BYE = """  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 99 BYE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>
"""
REINVITE = """  <send retrans="500"><![CDATA[
INVITE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 {version} IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a={direction}
]]></send>
  <recv response="100" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="a={answer}" search_in="body" check_it="true" assign_to="d{cseq}"/>
    </action>
  </recv>
  <Reference variables="d{cseq}"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} ACK
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0
]]></send>
"""
HOLD = REINVITE.format(cseq=2, version=2353687638, direction="sendonly", answer="recvonly")
UNHOLD = REINVITE.format(cseq=3, version=2353687639, direction="sendrecv", answer="sendrecv")
THEIR_BYE = """  <recv request="BYE" timeout="{timeout_ms}"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
"""


def call(
    workdir: Path,
    port: int,
    number: str,
    steps: list[str],
    timeout_s: int = 60,
    calls: int = 1,
    headers: tuple[str, ...] = (),
    answer_has: str = "",
    media: str = DTMF_MEDIA,
    total: int = 0,
    rate: int = 0,
) -> subprocess.CompletedProcess[str]:
    """``calls`` concurrent calls (``total`` in all, ``rate`` new ones a second): INVITE
    with PCMU and telephone-event (and ``headers``), then ``steps`` (PAUSE, DTMF, REINVITE,
    OUR_BYE, THEIR_BYE snippets); sipp exits 0 only if all happened and the 200 OK matched
    ``answer_has`` (a regular expression)."""
    scenario = workdir / "call.xml"
    check = (
        f'<action><ereg regexp="{answer_has}" search_in="msg" check_it="true" '
        'assign_to="h"/></action>'
        if answer_has
        else ""
    )
    head = INVITE.format(
        media=media,
        status=200,
        check=check,
        via=NEW_VIA,
        ack_uri=IN_DIALOG,
        headers="".join(h + "\n" for h in headers),
    )
    if answer_has:
        steps = [*steps, '  <Reference variables="h"/>\n']
    scenario.write_text(head + "".join(steps) + "</scenario>\n")
    return subprocess.run(
        ["sipp", f"127.0.0.1:{port}", "-sf", str(scenario), "-s", number,
         "-m", str(total or calls), "-l", str(calls), "-r", str(rate or calls),
         "-i", "127.0.0.1", "-p", str(free_udp_port()), "-mp", str(free_udp_port()),
         "-timeout", str(timeout_s), "-timeout_error", "-nostdin", "-trace_err",
         "-error_file", str(workdir / "sipp.err")],
        capture_output=True, text=True, timeout=timeout_s + 15, cwd=workdir,
    )  # fmt: skip


REGISTRAR = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a registrar that challenges once">
  <recv request="REGISTER"/>
  <send><![CDATA[
SIP/2.0 401 Unauthorized
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
WWW-Authenticate: Digest realm="test.example", nonce="4f2a9b", algorithm=MD5
Content-Length: 0
]]></send>
  <recv request="REGISTER">
    <action><verifyauth assign_to="good" username="{user}" password="{password}"/></action>
  </recv>
  <nop hide="true" test="good" next="accept"/>
  <send><![CDATA[
SIP/2.0 403 Forbidden
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <nop hide="true" next="done"/>
  <label id="accept"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Contact:];expires=300
Expires: 300
Content-Length: 0
]]></send>
  <label id="done"/>
  <pause milliseconds="300"/>
</scenario>
"""


def registrar(workdir: Path, port: int, user: str, password: str) -> subprocess.Popen[str]:
    """A registrar on 127.0.0.1:``port`` that accepts ``user`` with ``password`` (digest,
    after one challenge) and refuses anything else with 403; serves one registration."""
    scenario = workdir / "registrar.xml"
    scenario.write_text(REGISTRAR.format(user=user, password=password))
    return subprocess.Popen(
        ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port), "-m", "1",
         "-timeout", "20", "-timeout_error", "-nostdin", "-trace_err",
         "-error_file", str(workdir / "sipp.err")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=workdir,
    )  # fmt: skip


OPTIONS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="OPTIONS ping">
  <send retrans="500"><![CDATA[
OPTIONS sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>
</scenario>
"""


def options(workdir: Path, port: int) -> subprocess.CompletedProcess[str]:
    """One OPTIONS ping, as Kamailio's dispatcher sends to see a worker is alive."""
    scenario = workdir / "options.xml"
    scenario.write_text(OPTIONS)
    return subprocess.run(
        ["sipp", f"127.0.0.1:{port}", "-sf", str(scenario), "-m", "1", "-i", "127.0.0.1",
         "-p", str(free_udp_port()), "-timeout", "10", "-timeout_error", "-nostdin"],
        capture_output=True, text=True, timeout=20, cwd=workdir,
    )  # fmt: skip


RINGING_AGENT = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="an agent whose phone rings and is never picked up">
  <recv request="INVITE">
    <action><ereg regexp="CSeq: *([0-9]+) INVITE" search_in="msg" assign_to="all,cseq"/></action>
  </recv>
  <Reference variables="all"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:agent@[local_ip]:[local_port]>
Content-Length: 0
]]></send>
  <recv request="CANCEL" timeout="{timeout_ms}"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <send><![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq: [$cseq] INVITE
Content-Length: 0
]]></send>
  <recv request="ACK"/>
</scenario>
"""


def ringing_agent(workdir: Path, port: int, timeout_s: int = 30) -> subprocess.Popen[str]:
    """A sipp UAS on 127.0.0.1:``port`` that rings (180) and never answers; it exits 0
    only if the INVITE was cancelled (CANCEL, then our 487 acknowledged)."""
    scenario = workdir / "ringing.xml"
    scenario.write_text(RINGING_AGENT.format(timeout_ms=timeout_s * 1000))
    return subprocess.Popen(
        ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port), "-m", "1",
         "-timeout", str(timeout_s + 10), "-timeout_error", "-nostdin", "-trace_err",
         "-error_file", str(workdir / "ringing.err")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=workdir,
    )  # fmt: skip
