"""sipp as a caller that expects the bridge to refuse (or answer) an INVITE."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.servers import free_udp_port

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="one INVITE, one final answer">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP {payload}
a=rtpmap:{payload} {codec}/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="{status}"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0
]]></send>
</scenario>
"""


def available() -> bool:
    return shutil.which("sipp") is not None


def invite_expecting(
    workdir: Path,
    port: int,
    number: str,
    status: int,
    codec: tuple[int, str] = (0, "PCMU"),
    local_ip: str = "127.0.0.1",
) -> subprocess.CompletedProcess[str]:
    """Send one INVITE for ``number`` to 127.0.0.1:``port``; sipp exits 0 only if the
    final answer is ``status``."""
    scenario = workdir / f"invite-{status}.xml"
    scenario.write_text(SCENARIO.format(status=status, payload=codec[0], codec=codec[1]))
    return subprocess.run(
        ["sipp", f"127.0.0.1:{port}", "-sf", str(scenario), "-s", number, "-m", "1",
         "-i", local_ip, "-p", str(free_udp_port()), "-timeout", "15", "-timeout_error",
         "-nostdin", "-trace_err", "-error_file", str(workdir / "sipp.err")],
        capture_output=True, text=True, timeout=30, cwd=workdir,
    )  # fmt: skip
