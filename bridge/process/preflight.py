"""What ``callbridge serve`` checks before it starts anything: a misconfiguration is one
clear line that names the setting, and the process exits with nothing left running
(no embedded Redis, no half-migrated database, no SIP workers).

Checked in the order an operator fixes them: the data dir (and that no other bridge
runs on it), the HTTP port, the SIP port, the database URL, the Redis URL.
"""

from __future__ import annotations

import errno
import socket
import tempfile
from collections.abc import Callable

import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from bridge.process.embedded_redis import EmbeddedRedis, redis_answers
from bridge.settings import Settings, mask_url

CONNECT_S = 5  # for the database and Redis to answer


class Misconfigured(Exception):
    """One line for the operator: the setting, and what is wrong with it."""


def check(settings: Settings) -> None:
    """Raise :class:`Misconfigured` at the first setting the bridge cannot start with."""
    steps: list[Callable[[Settings], None]] = [
        _data_dir,
        _another_bridge,
        _port,
        _sip_port,
        _database,
        _redis,
    ]
    for step in steps:
        step(settings)


def _data_dir(s: Settings) -> None:
    try:
        s.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=s.data_dir):
            pass
    except OSError as exc:
        why = "a part of the path is a file" if exc.errno == errno.ENOTDIR else exc.strerror
        raise Misconfigured(f"CALLBRIDGE_DATA_DIR: cannot use {s.data_dir}: {why}") from None


def _port(s: Settings) -> None:
    if not s.port:
        return
    family = socket.AF_INET6 if ":" in s.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((s.host, s.port))
        except OSError as exc:
            raise Misconfigured(
                f"CALLBRIDGE_PORT: cannot listen on {s.host}:{s.port}: {exc.strerror}"
            ) from None


def _sip_port(s: Settings) -> None:
    """The SIP agent's UDP port (the public one: Kamailio's, with SIP workers)."""
    if not s.sip.port:
        return
    family = socket.AF_INET6 if ":" in s.sip.bind else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((s.sip.bind, s.sip.port))
        except OSError as exc:
            raise Misconfigured(
                f"CALLBRIDGE_SIP_PORT: cannot listen on {s.sip.bind}:{s.sip.port} (UDP): "
                f"{exc.strerror} (0 turns SIP off)"
            ) from None


def _database(s: Settings) -> None:
    url = s.effective_database_url
    shown = mask_url(url)
    try:
        parsed = make_url(url)
        wait = {"connect_timeout": CONNECT_S} if parsed.get_backend_name() == "postgresql" else {}
        engine = create_engine(parsed, connect_args=wait)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        why = f"{shown} is not usable: {_first(exc)}"
        raise Misconfigured(f"CALLBRIDGE_DATABASE_URL: {why}") from None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        why = f"cannot connect to {shown}: {_first(exc)}"
        raise Misconfigured(f"CALLBRIDGE_DATABASE_URL: {why}") from None
    finally:
        engine.dispose()


def _another_bridge(s: Settings) -> None:
    """Before the ports: a second bridge on the same data dir would find them taken too,
    and the data dir is what the operator has to change."""
    if s.redis_url is not None:
        return
    embedded = EmbeddedRedis(s.data_dir)
    if embedded.socket.exists() and redis_answers(embedded.url):
        raise Misconfigured(
            f"CALLBRIDGE_DATA_DIR: a bridge is already running on this data dir "
            f"({s.data_dir}; its Redis answers at {embedded.socket}): stop it or use "
            "another data dir"
        )


def _redis(s: Settings) -> None:
    if s.redis_url is None:
        return
    url = s.redis_url.get_secret_value()
    try:
        client = redis.Redis.from_url(
            url, socket_timeout=CONNECT_S, socket_connect_timeout=CONNECT_S
        )
        client.ping()
        client.close()
    except (redis.RedisError, ValueError, OSError) as exc:
        why = f"no Redis answers at {mask_url(url)}: {_first(exc)}"
        raise Misconfigured(f"CALLBRIDGE_REDIS_URL: {why}") from None


def _first(exc: BaseException) -> str:
    """The first line of an error, without SQLAlchemy's background links."""
    line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return line[:300]
