"""Lookups over real HTTP: answers, errors and timeouts become the flow's branches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI, HTTPException

from bridge.conversation.lookups import HttpLookup
from flows.interpreter import Lookup
from harness.servers import free_port

crm = FastAPI()


@crm.post("/cards/verify")
async def verify(body: dict) -> dict:  # type: ignore[type-arg]
    return {"verified": body.get("last4") == "4111", "balance": 250}


@crm.get("/broken")
async def broken() -> None:
    raise HTTPException(500)


@crm.get("/slow")
async def slow() -> dict:  # type: ignore[type-arg]
    await asyncio.sleep(2)
    return {}


@pytest.fixture
async def crm_url() -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(crm, port=port, log_level="error", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def test_answers_errors_and_timeouts(crm_url: str) -> None:
    lookup = HttpLookup({"http://crm.internal": crm_url})
    ok = await lookup(Lookup("http://crm.internal/cards/verify", "POST", {"last4": "4111"}, 3000))
    assert ok.ok and ok.data == {"verified": True, "balance": 250}
    assert not (await lookup(Lookup(f"{crm_url}/broken", "GET", None, 3000))).ok
    assert not (await lookup(Lookup(f"{crm_url}/slow", "GET", None, 200))).ok
    assert not (await lookup(Lookup(f"http://127.0.0.1:{free_port()}/x", "GET", None, 500))).ok
    await lookup.aclose()
