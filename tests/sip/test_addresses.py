"""Reading SIP addresses."""

from __future__ import annotations

from sip.addresses import from_allowed, registrar_domain, request_user, uri_user


def test_uri_user_in_every_header_form() -> None:
    assert uri_user('"Ann" <sip:+441234@pbx.example.com>;tag=1') == "+441234"
    assert uri_user("sips:alice@example.com:5061;transport=tls") == "alice"
    assert uri_user("<tel:+44>") == ""
    assert request_user("INVITE sip:0800123@10.0.0.1:5060 SIP/2.0\r\nVia: x\r\n") == "0800123"
    assert request_user("garbage") == ""


def test_allowed_sources_are_networks() -> None:
    assert from_allowed("203.0.113.7", ("203.0.113.0/24",))
    assert not from_allowed("198.51.100.1", ("203.0.113.0/24", "10.0.0.0/8"))
    assert not from_allowed("not-an-address", ("0.0.0.0/0",))


def test_registrar_domain() -> None:
    assert registrar_domain("sip:pbx.example.com:5060;transport=udp") == "pbx.example.com"
    assert registrar_domain("sip:10.0.0.5") == "10.0.0.5"
