"""Shared fixtures. Tests talk to real servers: the embedded Redis and SQLite, and
the machine's Redis and PostgreSQL (started here when absent; PostgreSQL tests are
skipped, with the reason, only when no server is reachable)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bridge.process.embedded_redis import EmbeddedRedis
from bridge.store import migrate

# SIP is on by default in the product (port 5060); tests that want it ask for a port.
os.environ.setdefault("CALLBRIDGE_SIP_PORT", "0")

from harness.servers import (
    REDIS_SERVER_URL,
    RedisServerProcess,
    pg_available,
    pg_database,
    redis_answers,
)


@pytest.fixture(scope="session")
def embedded_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("embedded"))
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def server_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's Redis server; one of our own when none answers."""
    if redis_answers(REDIS_SERVER_URL):
        yield REDIS_SERVER_URL
        return
    server = RedisServerProcess(tmp_path_factory.mktemp("redis-server"))
    yield server.start()
    server.stop()


@pytest.fixture(params=["embedded", "server"])
def redis_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_redis_url")


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def stream_name(redis_url: str) -> Iterator[str]:
    """A stream of this test's own, removed afterwards (the server Redis is shared)."""
    name = f"test:{uuid.uuid4().hex}"
    yield name
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(name, f"{name}:dead")
    client.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'callbridge.db'}"


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    reason = pg_available()
    if reason:
        pytest.skip(reason)
    with pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def migrated_url(database_url: str) -> str:
    migrate.upgrade(database_url)
    return database_url
