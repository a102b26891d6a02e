"""The guard every pjsua2 callback wears: Python errors must not cross into C++."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("sip.pjsua2")


def guarded(method: Callable[..., None]) -> Callable[..., None]:
    """pjsua2 calls these from C++: an exception escaping one aborts the whole process
    (e.g. a loop that closed while the clock thread still delivers a frame). Log it and
    carry on: one call's bug must not end every call."""

    @functools.wraps(method)
    def call(*args: Any) -> None:
        try:
            method(*args)
        except Exception:
            log.exception("SIP callback %s failed", method.__name__)

    return call
