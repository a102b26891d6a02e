"""Twilio's REST Call resource, through the twilio SDK: transfer. A call is ended by
closing its stream (see leg.py), which needs no REST."""

from __future__ import annotations

from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from bridge import logs
from bridge.settings import Settings

log = logs.get_logger(__name__)


class TwilioRest:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.account_sid = settings.twilio.account_sid or ""
        self._client: Client | None = None
        self._http: AsyncTwilioHttpClient | None = None  # the client's: ours to close

    @property
    def client(self) -> Client | None:
        """Made on first use: its aiohttp session belongs to the running event loop."""
        token = self.settings.twilio.auth_token
        if self._client is None and self.account_sid and token is not None:
            self._http = AsyncTwilioHttpClient()
            self._client = Client(
                self.account_sid, token.get_secret_value(), http_client=self._http
            )
            self._client.api.base_url = self.settings.twilio.api_url  # a test server in tests
        return self._client

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def update(
        self, call_sid: str, *, twiml: str | None = None, status: str | None = None
    ) -> bool:
        """Replace the call's TwiML or end it; False (and a log line) when Twilio refuses."""
        client = self.client
        if client is None:
            log.error("twilio REST unavailable: set CALLBRIDGE_TWILIO_ACCOUNT_SID and _AUTH_TOKEN")
            return False
        kwargs = {k: v for k, v in (("twiml", twiml), ("status", status)) if v is not None}
        try:
            await client.api.v2010.accounts(self.account_sid).calls(call_sid).update_async(**kwargs)
        except TwilioRestException as exc:
            if exc.status == 404 and exc.code == 20404:
                return True  # the call is already over
            log.warning("twilio REST refused", call_sid=call_sid, status=exc.status, code=exc.code)
            return False
        except Exception as exc:  # network: the flow takes its failure branch
            log.warning("twilio REST failed", call_sid=call_sid, error=type(exc).__name__)
            return False
        return True
