"""Vonage's Voice REST API through the vonage SDK: transfer (a new NCCO). A call is
ended by closing its socket (see leg.py), which needs no REST."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from vonage import Auth, HttpClientOptions, Vonage
from vonage_voice.models.connect_endpoints import PhoneEndpoint, SipEndpoint
from vonage_voice.models.ncco import Connect

from bridge import logs
from bridge.settings import Settings
from flows.interpreter import Transfer

log = logs.get_logger(__name__)


def _private_key(value: str) -> str:
    """The PEM itself, or the path of a file holding it."""
    return value if "-----BEGIN" in value else Path(value).read_text()


class VonageRest:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: Vonage | None = None
        key = settings.vonage.private_key
        if settings.vonage.application_id and key is not None:
            auth = Auth(
                application_id=settings.vonage.application_id,
                private_key=_private_key(key.get_secret_value()),
            )
            options = HttpClientOptions(
                api_host=settings.vonage.api_host, max_retries=0, timeout=10
            )
            self.client = Vonage(auth, options)

    def _endpoint(self, target: Transfer) -> PhoneEndpoint | SipEndpoint | None:
        where = target.number or target.sip or self.settings.queue_targets.get(target.queue or "")
        if not where:
            return None
        if where.startswith(("sip:", "sips:")):
            return SipEndpoint(uri=where)
        return PhoneEndpoint(number=where.lstrip("+"))

    async def transfer(self, call_uuid: str, target: Transfer, caller_id: str) -> bool:
        """Connect the caller to ``target``, presenting ``caller_id`` (our number) to it."""
        try:
            endpoint = self._endpoint(target)
            if self.client is None or endpoint is None:
                log.error(
                    "vonage transfer impossible",
                    configured=self.client is not None,
                    queue=target.queue,
                )
                return False
            digits = caller_id.lstrip("+")
            connect = (
                Connect(endpoint=[endpoint], from_=digits)
                if digits.isdigit()
                else Connect(endpoint=[endpoint], randomFromNumber=True)
            )
        except ValueError as exc:  # the SDK validates numbers and URIs
            log.error("vonage transfer target invalid", error=str(exc)[:200])
            return False
        return await self._call(self.client.voice.transfer_call_ncco, call_uuid, [connect])

    async def _call(self, fn: Callable[..., object], *args: object) -> bool:
        try:
            await asyncio.to_thread(fn, *args)
        except Exception as exc:  # the SDK raises its own HTTP errors; the flow branches on False
            log.warning("vonage REST failed", error=type(exc).__name__, detail=str(exc)[:200])
            return False
        return True
