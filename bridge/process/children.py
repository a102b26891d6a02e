"""Child processes the bridge runs (an embedded Redis, Kamailio, SIP workers) go when
the bridge goes, even when it is SIGKILLed and has no chance to stop them."""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A ``preexec_fn``: runs in the child between fork and exec. Linux sends the child
    SIGTERM when the thread that forked it exits, so fork from a long-lived thread."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
