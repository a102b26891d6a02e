"""The calls this process holds, and the drain that lets them finish on shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bridge import metrics
from bridge.logs import get_logger

log = get_logger(__name__)


class Draining(RuntimeError):
    """The process is shutting down and takes no new calls."""


class CallRegistry:
    def __init__(self) -> None:
        self._active: set[str] = set()
        self._cutters: dict[str, Callable[[str], Awaitable[None]]] = {}
        self._empty = asyncio.Event()
        self._empty.set()
        self.draining = False
        self.drain_started = asyncio.Event()  # for parts that drain with us (SIP workers)

    @property
    def active(self) -> int:
        return len(self._active)

    def begin(self, call_id: str) -> None:
        """Admit a new call, or raise :class:`Draining` so the leg can reject it (503)."""
        if self.draining:
            raise Draining("shutting down: not taking new calls")
        self._active.add(call_id)
        self._empty.clear()
        metrics.ACTIVE_CALLS.set(len(self._active))

    def on_cut(self, call_id: str, cut: Callable[[str], Awaitable[None]]) -> None:
        """How to end this call from our side, with a reason (see :meth:`cut_all`)."""
        self._cutters[call_id] = cut

    async def cut_all(self, reason: str) -> None:
        """End every call still held, from our side: the drain ran out of time. Each
        is hung up and stored with ``reason``, not left to look like the caller's."""
        cutters = [cut for call_id, cut in self._cutters.items() if call_id in self._active]
        if cutters:
            log.warning(
                "ending the calls still in flight", active_calls=len(cutters), reason=reason
            )
        for failed in await asyncio.gather(
            *(cut(reason) for cut in cutters), return_exceptions=True
        ):
            if isinstance(failed, BaseException):
                log.error("a call could not be ended", error=repr(failed))

    def end(self, call_id: str) -> None:
        self._cutters.pop(call_id, None)
        self._active.discard(call_id)
        metrics.ACTIVE_CALLS.set(len(self._active))
        if not self._active:
            self._empty.set()

    def start_draining(self) -> None:
        if not self.draining:
            self.draining = True
            self.drain_started.set()
            metrics.DRAINING.set(1)
            log.info("draining: no new calls", active_calls=len(self._active))

    async def drain(self, timeout: float) -> bool:
        """Stop taking calls and wait for those in flight; False if ``timeout`` ran out."""
        self.start_draining()
        try:
            await asyncio.wait_for(self._empty.wait(), timeout)
        except TimeoutError:
            log.warning("drain timeout: calls still in flight", active_calls=len(self._active))
            return False
        return True
