"""The live stream resumes with no gap and no duplicate; review finds calls by the words
said in them (SQLite FTS5 and PostgreSQL full-text search) and by filters."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.store.models import AuditEntry
from tests.bridge.web.dashboard.conftest import Dashboard, stored

EMBEDDED = pytest.mark.parametrize("redis_url", ["embedded"], indirect=True)


async def read_events(
    c: httpx.AsyncClient, url: str, n: int, headers: dict[str, str]
) -> list[tuple[str, dict[str, Any]]]:
    """The first ``n`` events of an SSE stream, as (id, event)."""
    out: list[tuple[str, dict[str, Any]]] = []
    event_id, data = "", ""
    async with c.stream("GET", url, headers=headers, timeout=10) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        async for line in r.aiter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and data:
                out.append((event_id, json.loads(data)))
                data = ""
                if len(out) == n:
                    return out
    return out


@EMBEDDED
async def test_a_viewer_that_reconnects_catches_up_with_no_gap_and_no_duplicate(
    dashboard: Dashboard,
) -> None:
    call, other = dashboard.call(), dashboard.call()
    call.start()
    other.start()
    for i in range(3):
        call.say("caller", f"line {i}")
        other.say("caller", "not this call")
    c = await dashboard.client("agent")
    url = f"/api/calls/{call.id}/stream"
    first = await read_events(c, url, 5, {})  # started, state, three lines
    assert [e["type"] for _, e in first] == ["call.started", "flow.state_entered"] + [
        "transcript.final"] * 3  # fmt: skip
    assert all(e["call_id"] == call.id for _, e in first)
    # The viewer drops; the call goes on; the viewer comes back with Last-Event-ID.
    for i in range(3, 6):
        call.say("bot", f"line {i}")
    call.end()
    rest = await read_events(c, url, 4, {"Last-Event-ID": first[-1][0]})
    texts = [e.get("text") for _, e in first + rest if e["type"] == "transcript.final"]
    assert texts == [f"line {i}" for i in range(6)]
    assert rest[-1][1]["type"] == "call.ended"
    seqs = [e["seq"] for _, e in first + rest]
    assert seqs == sorted(set(seqs)) and seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    await c.aclose()


@EMBEDDED
async def test_many_viewers_are_fed_live_by_one_reader_of_the_stream(
    dashboard: Dashboard,
) -> None:
    calls = [dashboard.call(), dashboard.call()]
    for call in calls:
        call.start()
    c = await dashboard.client("agent")
    viewers = [
        asyncio.create_task(read_events(c, f"/api/calls/{calls[i % 2].id}/stream", 5, {}))
        for i in range(12)
    ]
    hub = None
    for _ in range(200):  # every viewer has caught up and now waits on the hub
        hub = getattr(dashboard.app.state, "live_hub", None)
        if hub is not None and hub.watching == 12:
            break
        await asyncio.sleep(0.05)
    assert hub is not None and hub.watching == 12
    for call in calls:  # said after every viewer connected: only the hub delivers these
        call.say("caller", f"hello from {call.id}")
        call.say("bot", "hello")
        call.end()
    for i, got in enumerate(await asyncio.gather(*viewers)):
        call = calls[i % 2]
        assert [e["type"] for _, e in got] == [
            "call.started", "flow.state_entered", "transcript.final", "transcript.final",
            "call.ended",
        ]  # fmt: skip
        assert {e["call_id"] for _, e in got} == {call.id}
        assert got[-1][1]["type"] == "call.ended"
        assert f"hello from {call.id}" in [e.get("text") for _, e in got]
    assert hub.watching == 0 and hub._reader is None  # nobody watches: nothing reads
    await c.aclose()


@EMBEDDED
async def test_review_finds_calls_by_words_and_filters(dashboard: Dashboard) -> None:
    stolen, balance = dashboard.call(), dashboard.call()
    stolen.start(caller="+447700900111")
    stolen.say("caller", "My card was stolen yesterday on the bus")
    stolen.end("transferred")
    balance.start(caller="+447700900222", flow="appointments")
    balance.say("caller", "I would like to check my balance please")
    balance.end("completed")
    await stored(dashboard.services, balance.id)
    await stored(dashboard.services, stolen.id)
    c = await dashboard.client("supervisor")

    async def ids(**params: str) -> list[str]:
        for _ in range(100):  # the transcript rows follow the call row in the same batch
            r = await c.get("/api/calls", params=params)
            assert r.status_code == 200, r.text
            found = [x["id"] for x in r.json()]
            if found or not params.get("q"):
                return found
        return []

    assert await ids(q="stolen") == [stolen.id]
    assert await ids(q="STOLEN bus") == [stolen.id]  # every word, any case
    assert await ids(q="balance") == [balance.id]
    assert await ids(q="nothing like it") == []
    # No query syntax from users: OR is a word like any other, quotes are dropped.
    assert await ids(q='stolen" OR "balance') == []
    assert await ids(q='"stolen*') == [stolen.id]
    assert set(await ids()) == {stolen.id, balance.id}
    assert await ids(number="900222") == [balance.id]
    assert await ids(flow="appointments") == [balance.id]
    assert await ids(outcome="transferred") == [stolen.id]
    assert await ids(min_s="999") == []
    assert (await c.get("/api/calls", params={"since": "yesterday"})).status_code == 422
    # Opening a call's transcript is written to the audit log.
    detail = (await c.get(f"/api/calls/{stolen.id}")).json()
    assert detail["transcript"][0]["text"].startswith("My card was stolen")
    with Session(dashboard.services.engine) as s:
        views = [a.target for a in s.scalars(select(AuditEntry).where(
            AuditEntry.action == "transcript.view"))]  # fmt: skip
    assert f"call:{stolen.id}" in views
    await c.aclose()


CARDS_SOURCE = (
    Path(__file__).resolve().parents[4] / "flows/examples/card_services.yaml"
).read_text()


@EMBEDDED
async def test_an_admin_publishes_and_rolls_back_and_both_are_audited(dashboard: Dashboard) -> None:
    c = await dashboard.client("admin")
    headers = {"X-CSRF-Token": await dashboard.csrf(c)}

    async def publish(source: str) -> httpx.Response:
        return await c.post("/api/flows/publish", json={"source": source}, headers=headers)

    broken = await publish(CARDS_SOURCE.replace("next: menu", "next: x"))
    assert broken.status_code == 422 and broken.json()["problems"][0]["line"] > 1
    for version in (1, 2):
        r = await publish(CARDS_SOURCE.replace("version: 1", f"version: {version}"))
        assert r.json() == {"ok": True, "name": "card_services", "version": version}
    clash = await publish(CARDS_SOURCE.replace("version: 1", "version: 2") + "\n# edit")
    assert clash.status_code == 409 and "raise `version:`" in clash.json()["error"]
    back = {"name": "card_services", "version": 1}
    assert (await c.post("/api/flows/activate", json=back, headers=headers)).status_code == 200
    live = [v for v in (await c.get("/api/flows")).json() if v["active"]]
    assert [(v["name"], v["version"]) for v in live] == [("card_services", 1)]
    with Session(dashboard.services.engine) as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id))
        trail = [(a.actor, a.action) for a in rows if a.action.startswith("flow.")]
    assert trail == [("ada", "flow.publish"), ("ada", "flow.publish"), ("ada", "flow.activate")]
    await c.aclose()
