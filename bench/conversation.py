"""Conversation figures on the local engine, in real time: understanding, turn gap,
barge-in and the bridge's own overhead.

Six concurrent calls on virtual phone legs paced like a phone line (mu-law both
ways) each speak eleven caller lines — 66 utterances, none of them worded like
the examples in the flow — to a flow with card_services' intents where every
answer is a short spoken reply and a new question. Every fifth line interrupts
the bot's reply instead of waiting for it. Figures:

- intent accuracy: the recognised intent against the line's intent;
- turn gap: end of caller speech on the audio timeline → first audible bot frame out
  (-45 dBFS: the voice's lead-in silence is not the reply starting);
- barge-in: caller speech onset → bot silent, and the last part alone (VAD fired →
  playout cleared; the leg pulls frames, so no further bot frame leaves);
- bridge overhead: turn gap - endpointing wait - what the ASR final pass and the TTS
  first chunk took after the turn ended (the streaming pass works through the wait).

Baseline, in the same run: two calls with the usual fixed endpointing (700 ms of
silence, no early end of turn); `gap_ratio_vs_fixed_endpointing` compares p50s.
The last line is one JSON object.

    .venv/bin/python -m bench.conversation
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

import numpy as np

from bridge.conversation.lookups import StaticLookup
from bridge.engines.local.engine import LocalEngine
from bridge.events.schema import Envelope
from bridge.legs.virtual import Speak, Step, VirtualLeg, run_call
from flows.loader import loads
from harness.audio import VOICES, synthesize
from media.endpoint import EndpointConfig
from media.line import phone_line

# None of these is (or words like) an example of card_services.yaml.
LINES: dict[str, list[str]] = {
    "balance": [
        "what's my current balance",
        "how much is left in my account",
        "balance please",
        "I'd like to know my available funds",
        "how much money is in there",
        "can you tell me what I have left",
        "what are my funds looking like",
        "tell me the balance on my account",
        "how much do I have available",
        "I need my account balance",
        "what is the remaining balance",
        "check the funds for me",
        "what money do I have left",
        "what's available on my card",
        "my balance",
        "how much is in my account right now",
    ],
    "lost_card": [
        "someone stole my card",
        "I think I've lost my debit card",
        "I misplaced my card",
        "my credit card is missing",
        "my card got stolen yesterday",
        "I can't find my card anywhere",
        "my wallet was stolen with my card",
        "the card is gone",
        "a thief took my card",
        "I've misplaced my debit card",
        "my card has gone missing",
        "I lost my credit card today",
        "somebody nicked my card",
        "my card was taken",
        "I cannot find my debit card",
        "I have lost the card",
    ],
    "agent": [
        "can I talk to a human",
        "put me through to an operator",
        "I want to speak with somebody",
        "give me a real person",
        "connect me to a representative",
        "I'd like to talk to staff",
        "let me speak to an adviser",
        "transfer me to a person please",
        "a human please",
        "can I chat to someone",
        "I need an operator",
        "put me through to someone",
        "speak to a human being",
        "get me a representative",
        "I want a real person",
        "connect me with someone",
    ],
    "repeat": [
        "could you repeat that please",
        "sorry what was that",
        "say it again",
        "come again",
        "can you say that one more time",
        "pardon me",
        "I didn't catch that, again please",
        "sorry, repeat it",
        "one more time please",
        "huh, say again",
        "could you say it again",
        "repeat please",
    ],
}
CALLS, LINES_PER_CALL, BARGE_EVERY = 6, 11, 5


def bench_flow() -> Any:
    cards = (
        __import__("pathlib").Path(__file__).resolve().parents[1]
        / "flows"
        / "examples"
        / "card_services.yaml"
    )
    from ruamel.yaml import YAML

    intents = YAML(typ="safe").load(cards.read_text())["intents"]
    answers = {
        "balance": "Your balance, of course.",
        "lost_card": "A lost card, I see.",
        "agent": "An agent, sure.",
    }
    on = {k: f"ok_{k}" for k in answers}
    states: dict[str, Any] = {
        "menu": {"ask": "How can I help?", "intents": list(intents), "on": on}
    }
    for k, text in answers.items():
        states[f"ok_{k}"] = {"ask": f"{text} What else?", "intents": list(intents), "on": on}
    states["bye"] = {"hangup": "Goodbye."}
    doc = {
        "flow": "bench",
        "start": "menu",
        "intents": intents,
        "global": [{"intent": "repeat", "action": "repeat"}],
        "defaults": {
            "no_input": {"max": 9, "prompts": ["Hello?"], "then": "bye"},
            "no_match": {"max": 10, "prompts": ["Sorry?"], "then": "bye"},
        },
        "states": states,
    }
    return loads(json.dumps(doc), "bench.yaml")


def utterances() -> list[tuple[str, str]]:
    pairs = [(intent, line) for intent, lines in LINES.items() for line in lines]
    rng = np.random.default_rng(3)
    rng.shuffle(pairs)  # type: ignore[arg-type]
    return pairs


async def one_call(
    engine: LocalEngine,
    flow: Any,
    lines: list[tuple[str, str]],
    n: int,
    endpoint: EndpointConfig | None,
) -> dict[str, Any]:
    steps: list[Step] = []
    for i, (_, text) in enumerate(lines):
        audio = phone_line(synthesize(text, VOICES[(n + i) % 3]))
        barge = (i + 1) % BARGE_EVERY == 0
        steps.append(Speak(audio, text, barge_in_after_ms=600 if barge else None))
    events: list[Envelope] = []
    leg = VirtualLeg(steps, realtime=True)
    rt = await run_call(
        flow, engine, leg, emit=events.append, lookup=StaticLookup({}), endpoint=endpoint
    )
    heard: list[str | None] = []
    texts: list[str] = []
    for i, e in enumerate(events):
        if e.type == "transcript.final" and getattr(e, "speaker", "") == "caller":
            nxt = events[i + 1] if i + 1 < len(events) else None
            heard.append(getattr(nxt, "intent", None) if nxt is not None else None)
            texts.append(e.text)  # type: ignore[attr-defined]
    return {
        "texts": texts,
        "heard": heard,
        "want": [w for w, _ in lines],
        "said": [t for _, t in lines],
        "figures": rt.figures,
        "barge_ins": rt.barge_ins,
    }


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


async def run(endpoint: EndpointConfig | None, calls: int, engine: LocalEngine) -> list[Any]:
    flow = bench_flow()
    pairs = utterances()
    jobs = [
        one_call(engine, flow, pairs[i * LINES_PER_CALL : (i + 1) * LINES_PER_CALL], i, endpoint)
        for i in range(calls)
    ]
    return list(await asyncio.gather(*jobs))


def main() -> None:
    engine = LocalEngine()
    engine.ready.wait()
    for _, line in utterances():  # synthesise (and cache) the callers first
        for v in VOICES[:3]:
            synthesize(line, v)
    started = time.perf_counter()
    results = asyncio.run(run(None, CALLS, engine))
    wall = time.perf_counter() - started
    baseline = asyncio.run(
        run(EndpointConfig(onset_ms=200, hangover_ms=700, early_hangover_ms=700), 2, engine)
    )

    right = total = 0
    misses: list[str] = []
    for r in results:
        rows = zip(r["want"], r["heard"], r["said"], r["texts"], strict=False)
        for want, got, said, text in rows:
            total += 1
            right += want == got
            if want != got:
                misses.append(f"  {want:>9} heard as {got or 'nothing'}: {said!r} → {text!r}")
    figs = [f for r in results for f in r["figures"]]
    gaps = [f["turn_gap_ms"] for f in figs]
    overhead = [f["bridge_overhead_ms"] for f in figs]
    barges = [b for r in results for b in r["barge_ins"]]
    onset = [b["onset_to_silent_ms"] for b in barges]
    print("barge-in onset → silent ms:", sorted(onset))
    vad = [b["vad_to_silent_us"] / 1000 for b in barges]
    base_gaps = [f["turn_gap_ms"] for r in baseline for f in r["figures"]]
    print(
        f"{CALLS} concurrent real-time calls, {total} caller lines, {len(figs)} turns, "
        f"{len(barges)} barge-ins, {wall:.0f} s"
    )
    print(f"intent accuracy        {right}/{total} = {right / max(total, 1):.2f}")
    print("\n".join(misses))
    print(f"turn gap ms            p50 {pct(gaps, 50)}  p95 {pct(gaps, 95)}")
    print(f"  endpointing wait ms  p50 {pct([f['endpoint_wait_ms'] for f in figs], 50)}")
    print(
        f"  ASR final ms         p50 {pct([f['asr_final_ms'] for f in figs], 50)}  "
        f"p95 {pct([f['asr_final_ms'] for f in figs], 95)}"
    )
    print(
        f"  TTS first chunk ms   p50 {pct([f['tts_first_chunk_ms'] for f in figs], 50)}  "
        f"p95 {pct([f['tts_first_chunk_ms'] for f in figs], 95)}"
    )
    print(f"bridge overhead ms     p50 {pct(overhead, 50)}  p95 {pct(overhead, 95)}")
    print(
        f"barge-in ms            p50 {pct(onset, 50)}  p95 {pct(onset, 95)}  "
        f"(VAD fired → silent p95 {pct(vad, 95)} ms)"
    )
    print(f"baseline (fixed 700 ms endpointing) turn gap p50 {pct(base_gaps, 50)}")
    result = {
        "intent_accuracy": round(right / max(total, 1), 3),
        "utterances": total,
        "turns": len(figs),
        "turn_gap_p50_ms": pct(gaps, 50),
        "turn_gap_p95_ms": pct(gaps, 95),
        "barge_in_p50_ms": pct(onset, 50),
        "barge_in_p95_ms": pct(onset, 95),
        "barge_in_vad_to_silent_p95_ms": pct(vad, 95),
        "bridge_overhead_p50_ms": pct(overhead, 50),
        "bridge_overhead_p95_ms": pct(overhead, 95),
        "baseline_turn_gap_p50_ms": pct(base_gaps, 50),
        "gap_ratio_vs_fixed_endpointing": round(
            statistics.median(gaps) / statistics.median(base_gaps), 2
        )
        if gaps and base_gaps
        else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
