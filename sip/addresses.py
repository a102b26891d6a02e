"""Reading SIP addresses: who called, which number they dialled, where from."""

from __future__ import annotations

import ipaddress
import re

_USER = re.compile(r"sips?:([^@;>]+)@")


def uri_user(uri: str) -> str:
    """The user part of a SIP URI in any header form (``"Name" <sip:123@host>;tag=x``)."""
    m = _USER.search(uri)
    return m.group(1) if m else ""


def registrar_domain(uri: str) -> str:
    """The host of a registrar's URI (``sip:pbx.example.com:5060;transport=udp``)."""
    return uri.split(":", 1)[-1].split(";", 1)[0].split(":", 1)[0]


def request_user(whole_msg: str) -> str:
    """The user part of the request-URI: the number the caller dialled."""
    first = whole_msg.split("\r\n", 1)[0].split(" ")
    return uri_user(first[1] + ">") if len(first) > 1 else ""


def from_allowed(source: str, allowed: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(source.strip("[]"))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in allowed)
