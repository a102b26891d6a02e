"""Memory a local-engine call costs: its recogniser, forked from the warmed template.

Each call's recogniser is a ``fork()`` of one template process that loaded the two
decoders and heard the warm-up sentences, so a call shares the models' pages with
the template and pays only for what it writes. This opens ``--calls`` sessions of
the card_services flow on one LocalEngine, runs one real turn on each (the caller's
audio through the call's own process: begin, feed, finish), and reads every
process's ``/proc/<pid>/smaps_rollup`` while all the calls are still open.

Figures, per call: private memory (USS: pages only this process holds) and
proportional share (PSS: shared pages split among the processes that map them).
Baseline, in the same run: the template's resident size, which is what each call
would cost if it started a recogniser process of its own instead of forking one.
``private_ratio_vs_own_process`` = USS / that RSS.
The last line is one JSON object.

    .venv/bin/python -m bench.memory [--calls 12]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from pathlib import Path
from typing import Any

from bridge.engines.local.engine import LocalEngine
from bridge.engines.local.recognition_process import RecognitionProcess
from flows.interpreter import Interpreter, Listen
from flows.loader import load
from media.format import HOUSE_FRAME

FLOW = Path(__file__).resolve().parent.parent / "flows" / "examples" / "card_services.yaml"
MB = 1024 * 1024


def rollup(pid: int) -> dict[str, int]:
    """Bytes by kind (Rss, Pss, Private_Clean, ...) of one process's whole address space."""
    figures: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        figures[name.rstrip(":")] = int(value) * 1024
    return figures


def private(r: dict[str, int]) -> int:
    return r["Private_Clean"] + r["Private_Dirty"]


async def one_call(engine: LocalEngine, flow: Any, audio: Any) -> tuple[Any, int]:
    session = await engine.open("bench", flow)
    session.listen(next(a for a in Interpreter(flow).start() if isinstance(a, Listen)))
    for i in range(0, len(audio) - HOUSE_FRAME + 1, HOUSE_FRAME):
        session.push(audio[i : i + HOUSE_FRAME])
    heard = await session.finish()
    process = session.process  # type: ignore[attr-defined]
    assert isinstance(process, RecognitionProcess) and heard.text, "the turn was not heard"
    return session, process.forked.result()


async def run(calls: int) -> dict[str, Any]:
    engine = LocalEngine()
    await asyncio.to_thread(engine.ready.wait)
    template = engine.template()
    flow = load(FLOW)
    audio = engine.warm_audio()[0][1]
    opened = [await one_call(engine, flow, audio) for _ in range(calls)]
    base = rollup(template.pid)
    per_call = [rollup(pid) for _, pid in opened]
    for session, _ in opened:
        await session.close()
    template.stop()
    uss = statistics.median(private(r) for r in per_call) / MB
    pss = statistics.median(r["Pss"] for r in per_call) / MB
    own = base["Rss"] / MB
    return {
        "calls": calls,
        "template_rss_mb": round(own, 1),
        "template_private_mb": round(private(base) / MB, 1),
        "per_call_private_mb": round(uss, 1),
        "per_call_pss_mb": round(pss, 1),
        "per_call_private_max_mb": round(max(private(r) for r in per_call) / MB, 1),
        "private_ratio_vs_own_process": round(uss / own, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=12)
    result = asyncio.run(run(parser.parse_args().calls))
    print(f"template (a recogniser of its own): RSS {result['template_rss_mb']} MB")
    print(
        f"{result['calls']} calls open, per call: private {result['per_call_private_mb']} MB "
        f"(max {result['per_call_private_max_mb']}), PSS {result['per_call_pss_mb']} MB"
    )
    print(f"private per call / own process: {result['private_ratio_vs_own_process']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
