"""A SIP OPTIONS ping over UDP: is a SIP server there and answering? (No pjsua2: it
works beside a running agent, from any thread.)"""

from __future__ import annotations

import socket
import uuid


def options_ping(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether a SIP server answers an OPTIONS on UDP ``host:port`` with 200."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.bind(("127.0.0.1" if host.startswith("127.") else "", 0))
        local_port = sock.getsockname()[1]
        tag = uuid.uuid4().hex[:10]
        request = (
            f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK{tag};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@callbridge.invalid>;tag={tag}\r\n"
            f"To: <sip:{host}:{port}>\r\n"
            f"Call-ID: {tag}@callbridge.invalid\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        try:
            sock.sendto(request.encode(), (host, port))
            answer = sock.recv(4096)
        except OSError:  # timeout, or port unreachable
            return False
    return answer.startswith(b"SIP/2.0 200")
