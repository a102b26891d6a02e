"""How a flow's `lookup` states reach data: HTTP (the product), or fixed answers (demos).

A lookup never raises into the call: a timeout, a refused connection, an error
status or a body that is not JSON is ``LookupResult(ok=False)`` and the flow
takes its `on_error` branch. The request body may carry sensitive values (the
last four digits of a card); it is never logged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from bridge import logs
from flows.interpreter import Lookup, LookupResult

log = logs.get_logger(__name__)
LookupFn = Callable[[Lookup], Awaitable[LookupResult]]


class HttpLookup:
    """``hosts`` maps a flow's base URL to where it lives here, e.g.
    ``{"http://crm.internal": "http://10.0.0.5:8000"}`` (CALLBRIDGE_LOOKUP_HOSTS)."""

    def __init__(self, hosts: Mapping[str, str] | None = None) -> None:
        self.hosts = dict(hosts or {})
        self.client = httpx.AsyncClient(follow_redirects=False)

    def url(self, url: str) -> str:
        for prefix, target in self.hosts.items():
            if url.startswith(prefix):
                return target.rstrip("/") + url[len(prefix) :]
        return url

    async def __call__(self, req: Lookup) -> LookupResult:
        url = self.url(req.url)
        try:
            response = await self.client.request(
                req.method,
                url,
                json=req.body if req.method == "POST" else None,
                timeout=req.timeout_ms / 1000,
            )
            response.raise_for_status()
            return LookupResult(True, response.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("lookup failed", url=url, error=type(exc).__name__)
            return LookupResult(False)

    async def aclose(self) -> None:
        await self.client.aclose()


class StaticLookup:
    """Answers from a mapping of URL → JSON (``callbridge call --lookups FILE``)."""

    def __init__(self, answers: Mapping[str, Any]) -> None:
        self.answers = dict(answers)

    async def __call__(self, req: Lookup) -> LookupResult:
        if req.url in self.answers:
            return LookupResult(True, self.answers[req.url])
        return LookupResult(False)
