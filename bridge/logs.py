"""Structured logging: JSON lines for machines, readable lines on a terminal.

``call_id`` is bound with :func:`bind_call` (a contextvar), so every line logged
while handling a call carries it, whichever module logs. A redaction processor
masks secrets and card numbers before anything is rendered.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

_SECRET_KEY = re.compile(
    r"(password|passwd|secret|token|api_key|apikey|authorization|private_key)", re.I
)
# 13 to 19 digits, optionally grouped by spaces or dashes: a payment card number (PAN).
_PAN = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")


def mask_pan(text: str) -> str:
    """Keep only the last four digits of anything shaped like a card number."""

    def _mask(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group())
        return "*" * (len(digits) - 4) + digits[-4:]

    return _PAN.sub(_mask, text)


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if _SECRET_KEY.search(key) and value not in (None, ""):
            event_dict[key] = "********"
        elif isinstance(value, str):
            event_dict[key] = mask_pan(value)
    return event_dict


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at emit time (it may be swapped, e.g. by tests)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def configure(level: str = "info", fmt: str = "auto") -> None:
    """Configure structlog and route the standard library's logging through it."""
    json_lines = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info if json_lines else structlog.dev.set_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn installs its own handlers; let its records flow through ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)


@contextmanager
def bind_call(call_id: str) -> Iterator[None]:
    """Bind ``call_id`` into every log line emitted inside the block (this task only)."""
    tokens = structlog.contextvars.bind_contextvars(call_id=call_id)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
