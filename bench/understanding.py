"""How well the offline engine understands callers who word things their own way.

Sets of caller lines for the example flows (``bench/data/understanding/``), all
written apart from the flows and the matcher (see bench/README.md for how): ``dev``,
``dev_b`` to ``dev_f``, to tune on, and ``test``, scored once for the final figures.
Each line names its flow, the state it answers, and what it means: an intent (or
null, for a request the state does not handle), and slot values (dates, digits, part
of day, yes/no, or null for an answer that settles nothing).

Two ways through:

- text: the matcher alone (``flows.nlu.Matcher``) on the words as written;
- audio: each line synthesised (hibari-tts, three speeds), sent through a mu-law
  phone line and heard by the local engine (pocketsphinx streaming + Whisper) in the
  state's own listening mode, then understood from what was heard;
- cut-off: lines with a pause in the middle (``|``, 500 ms of silence) spoken to a
  real call at the line's state, in real time, on a virtual phone leg: a cut-off is
  a turn that ended at the pause and was acted on (the caller's words split across
  two turns; words that went on before any reply was heard continue the first).

Figures: intent accuracy (lines whose intent is in scope), out-of-scope precision,
recall and F1 (none-of-these as the positive class), yes/no accuracy, slot exact
match (every expected slot right), cut-off rate, and understanding time per
utterance (the matcher, one core; median). The baseline, in the same run, is the
lexical matcher alone (the matcher before this issue, with its own threshold).

    .venv/bin/python -m bench.understanding [--sets dev,dev_b,dev_c,dev_d,dev_e,dev_f,test]
        [--no-audio] [--calibrate]

``--calibrate`` chooses the semantic weight and the none-of-these threshold on the
development sets' text (best intent-line accuracy, in-scope and out-of-scope together) and
prints them; they are constants in ``flows/nlu/__init__.py``. The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from flows.interpreter import Interpreter, Listen
from flows.loader import load
from flows.model import Flow
from flows.nlu import ELSEWHERE_MARGIN, SEMANTIC_WEIGHT, THRESHOLD, Matcher

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data" / "understanding"
TODAY = date(2026, 11, 24)  # the sets' "today": a Tuesday
NOON = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
PAUSE_MS = 500


@dataclass(frozen=True)
class Line:
    id: str
    flow: str
    state: str
    text: str
    intent: str | None
    has_intent: bool
    slots: dict[str, Any]
    style: str

    @property
    def said(self) -> str:
        return " ".join(self.text.replace("|", " ").split())


def read_set(name: str) -> list[Line]:
    rows = []
    for raw in (DATA / f"{name}.jsonl").read_text().splitlines():
        d = json.loads(raw)
        rows.append(
            Line(
                d["id"],
                d["flow"],
                d["state"],
                d["text"],
                d.get("intent"),
                "intent" in d,
                d.get("slots") or {},
                d.get("style", ""),
            )
        )
    return rows


def flows() -> dict[str, Flow]:
    return {
        n: load(ROOT / "flows" / "examples" / f"{n}.yaml")
        for n in ("card_services", "appointments")
    }


def listen_for(flow: Flow, state: str) -> Listen:
    return Interpreter(flow, clock=lambda: NOON).listening_at(state)


@dataclass
class Score:
    intent_right: int = 0
    intent_lines: int = 0  # in scope
    oos_tp: int = 0
    oos_fp: int = 0
    oos_fn: int = 0
    yes_no_right: int = 0
    yes_no_lines: int = 0
    slot_right: int = 0
    slot_lines: int = 0
    per_label: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    misses: list[str] = field(default_factory=list)

    def add(
        self, line: Line, flow: Flow, intent: str | None, slots: dict[str, Any], heard: str
    ) -> None:
        if line.has_intent:
            label = line.intent or "(none)"
            ok = intent == line.intent
            self.per_label[f"{line.flow}:{label}"][0] += ok
            self.per_label[f"{line.flow}:{label}"][1] += 1
            if line.intent is None:
                self.oos_tp += intent is None
                self.oos_fn += intent is not None
            else:
                self.intent_lines += 1
                self.intent_right += ok
                self.oos_fp += intent is None
            if not ok:
                self.misses.append(f"{line.id} {line.intent} → {intent}: {heard!r}")
        for name, want in line.slots.items():
            got = slots.get(name)
            ok = got == want
            if flow.slots[name].type == "yes_no":
                self.yes_no_lines += 1
                self.yes_no_right += ok
            else:
                self.slot_lines += 1
                self.slot_right += ok
            if not ok:
                self.misses.append(f"{line.id} {name}={want} → {got}: {heard!r}")

    def figures(self) -> dict[str, float]:
        p = self.oos_tp / max(self.oos_tp + self.oos_fp, 1)
        r = self.oos_tp / max(self.oos_tp + self.oos_fn, 1)
        return {
            "intent_accuracy": round(self.intent_right / max(self.intent_lines, 1), 3),
            "out_of_scope_precision": round(p, 3),
            "out_of_scope_recall": round(r, 3),
            "out_of_scope_f1": round(2 * p * r / (p + r), 3) if p + r else 0.0,
            "yes_no_accuracy": round(self.yes_no_right / max(self.yes_no_lines, 1), 3),
            "slot_exact": round(self.slot_right / max(self.slot_lines, 1), 3),
        }


def understand(
    matcher: Matcher, line: Line, flow: Flow, text: str
) -> tuple[str | None, dict[str, Any]]:
    listen = listen_for(flow, line.state)
    u = matcher.match(text, listen)
    return u.intent, u.slots


def matchers(semantic: bool = True) -> dict[str, Matcher]:
    return {n: Matcher(f, today=lambda: TODAY, semantic=semantic) for n, f in flows().items()}


def score_text(lines: list[Line], ms: dict[str, Matcher]) -> tuple[Score, list[float]]:
    score, times = Score(), []
    fl = {n: m.flow for n, m in ms.items()}
    for line in lines:
        started = time.perf_counter()
        intent, slots = understand(ms[line.flow], line, fl[line.flow], line.said)
        times.append((time.perf_counter() - started) * 1000)
        score.add(line, fl[line.flow], intent, slots, line.said)
    return score, times


def calibrate(lines: list[Line]) -> tuple[float, float, float]:
    """The weight, threshold and elsewhere margin with the best accuracy on the dev
    set's intent lines (in scope and out of scope alike)."""
    ms = matchers()
    rows = []
    for ln in (ln for ln in lines if ln.has_intent):
        m = ms[ln.flow]
        allowed = listen_for(m.flow, ln.state).intents
        assert m.semantic is not None and m.elsewhere is not None
        words = m.index.similarities(ln.said, allowed)
        meaning = m.semantic.similarities(ln.said, allowed)
        keys = sorted(meaning.keys() | words.keys())
        rows.append(
            (
                ln.intent,
                keys,
                np.array([words.get(k, 0.0) for k in keys]),
                np.array([meaning.get(k, 0.0) for k in keys]),
                m.elsewhere.nearest(ln.said),
                m.elsewhere.words.similarities(ln.said).get("elsewhere", 0.0),
            )
        )

    def blend(w: float) -> list[tuple[str | None, list[str], Any, float]]:
        return [
            (want, keys, (w * sem + (1 - w) * lex), w * el_sem + (1 - w) * el_lex)
            for want, keys, lex, sem, el_sem, el_lex in rows
        ]

    def right(tops: list[tuple[str | None, list[str], Any, float]], t: float, margin: float) -> int:
        n = 0
        for want, keys, blended, other in tops:
            i = int(np.argmax(blended))
            n += (keys[i] if blended[i] >= t and other <= blended[i] + margin else None) == want
        return n

    best = (-1, 0.0, 0.0, 0.0)
    for w in np.arange(0.3, 1.01, 0.05):
        tops = blend(float(w))
        for margin in np.arange(-0.1, 0.21, 0.02):
            for t in np.arange(0.0, 0.7, 0.01):
                if (n := right(tops, float(t), float(margin))) > best[0]:
                    best = (n, float(w), float(t), float(margin))
    now = right(blend(SEMANTIC_WEIGHT), THRESHOLD, ELSEWHERE_MARGIN)
    print(
        f"calibrated on {len(rows)} dev intent lines: accuracy {best[0] / len(rows):.3f}"
        f" (the constants in use: {now / len(rows):.3f})"
    )
    return round(best[1], 2), round(best[2], 2), round(best[3], 2)


# -- audio --------------------------------------------------------------------------------


def voice_for(i: int) -> Any:
    from harness.audio import VOICES

    return VOICES[i % 3]  # hibari at 0.85, 1.0 and 1.25 times its speed


def trimmed(pcm: np.ndarray) -> np.ndarray:
    """Speech without the synthesiser's leading and trailing silence (hibari starts
    every sentence with ~255 ms of it)."""
    loud = np.flatnonzero(np.abs(pcm) > 500)
    return pcm[loud[0] : loud[-1] + 1] if len(loud) else pcm


def spoken(text: str) -> str:
    """A date written with slashes as a UK caller reads it out: in its parts ("03/11/1992":
    "oh three, eleven, nineteen ninety-two"), or "the 7th of the 12th" for "7/12"; the
    voice would read it the American way ("March eleventh", "July twelfth"), a date the
    line does not mean."""
    text = re.sub(r"\b(\d{1,2})/(\d{1,2})/(\d{2,4})\b", r"\1, \2, \3", text)
    return re.sub(r"\b(\d{1,2})/(\d{1,2})\b", lambda m: f"the {nth(m[1])} of the {nth(m[2])}", text)


def nth(digits: str) -> str:
    n = int(digits)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def audio_of(line: Line, i: int) -> np.ndarray:
    from harness.audio import synthesize
    from media.line import phone_line

    parts = [synthesize(spoken(p.strip()), voice_for(i)) for p in line.text.split("|")]
    if len(parts) > 1:  # the voice's own silence either side would lengthen the pause
        parts = [trimmed(p) for p in parts]
    gap = np.zeros(16 * PAUSE_MS, np.int16)
    joined = [parts[0]]
    for p in parts[1:]:
        joined += [gap, p]
    return phone_line(np.concatenate(joined))


async def score_audio(lines: list[Line], engine: Any, ms: dict[str, Matcher]) -> Score:
    from media.format import HOUSE_FRAME

    score = Score()
    fl = {n: m.flow for n, m in ms.items()}
    sessions = {n: await engine.open(f"bench-{n}", f) for n, f in fl.items()}
    for i, line in enumerate(lines):
        session = sessions[line.flow]
        session.listen(listen_for(fl[line.flow], line.state))
        pcm = audio_of(line, i)
        for at in range(0, len(pcm) - HOUSE_FRAME + 1, HOUSE_FRAME):
            session.push(pcm[at : at + HOUSE_FRAME])
        heard = await session.finish()
        intent, slots = understand(ms[line.flow], line, fl[line.flow], heard.text)
        score.add(line, fl[line.flow], intent, slots, heard.text)
    for s in sessions.values():
        await s.close()
    return score


async def cut_offs(
    lines: list[Line], engine: Any, concurrent: int = 4
) -> tuple[int, int, list[str]]:
    """Lines with a pause, spoken to a real call waiting in their state (real time)."""
    from bridge.conversation.lookups import StaticLookup
    from bridge.events.schema import Envelope
    from bridge.legs.virtual import HangUp, Silence, Speak, VirtualLeg, run_call

    fl = flows()
    paused = [ln for ln in lines if "|" in ln.text]
    gate = asyncio.Semaphore(concurrent)
    cut: list[str] = []

    async def one(i: int, line: Line) -> None:
        flow = fl[line.flow].model_copy(update={"start": line.state})
        events: list[Envelope] = []
        leg = VirtualLeg(
            [Speak(audio_of(line, i), line.said), Silence(1500), HangUp()], realtime=True
        )
        async with gate:
            await run_call(
                flow, engine, leg, emit=events.append, lookup=StaticLookup({}), clock=lambda: NOON
            )
        finals = [
            e
            for e in events  # type: ignore[attr-defined]
            if e.type == "transcript.final" and getattr(e, "speaker", "") == "caller"
        ]
        # Words that went on before any reply reached the caller are the same turn.
        if sum(not f.continues for f in finals) != 1:  # type: ignore[attr-defined]
            heard = [f.text for f in finals]  # type: ignore[attr-defined]
            cut.append(f"{line.id}: {line.text!r} heard as {heard!r}")

    await asyncio.gather(*(one(i, ln) for i, ln in enumerate(paused)))
    return len(cut), len(paused), cut


def show(name: str, score: Score, misses: bool) -> None:
    print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in score.figures().items()))
    labels = ", ".join(f"{k} {r}/{n}" for k, (r, n) in sorted(score.per_label.items()))
    print(f"    per label: {labels}")
    if misses:
        for m in score.misses:
            print(f"    miss {m}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="dev,dev_b,dev_c,dev_d,dev_e,dev_f,test")
    ap.add_argument("--no-audio", action="store_true")
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--misses", action="store_true", help="print every miss (dev only)")
    args = ap.parse_args()
    sets = {n: read_set(n) for n in args.sets.split(",") if (DATA / f"{n}.jsonl").exists()}
    if args.calibrate:
        w, t, margin = calibrate([ln for n, lines in sets.items() if n != "test" for ln in lines])
        print(f"SEMANTIC_WEIGHT = {w}  THRESHOLD = {t}  ELSEWHERE_MARGIN = {margin}")
        return
    result: dict[str, Any] = {}
    ms, lexical = matchers(), matchers(semantic=False)
    for name, lines in sets.items():
        print(f"{name}: {len(lines)} lines, {Counter(ln.flow for ln in lines)}")
        score, times = score_text(lines, ms)
        base, _ = score_text(lines, lexical)
        show("text", score, args.misses and name != "test")
        show("text, lexical baseline", base, False)
        for k, v in score.figures().items():
            result[f"{k}_{name}_text"] = v
        result[f"intent_accuracy_{name}_text_baseline"] = base.figures()["intent_accuracy"]
        result[f"ms_per_utterance_{name}"] = round(statistics.median(times), 2)
        result[f"ms_per_utterance_{name}_p95"] = round(float(np.percentile(times, 95)), 2)
    if not args.no_audio:
        from bridge.engines.local.engine import LocalEngine

        engine = LocalEngine()
        engine.ready.wait()
        for name, lines in sets.items():
            score = asyncio.run(score_audio(lines, engine, ms))
            show("audio", score, args.misses and name != "test")
            for k, v in score.figures().items():
                result[f"{k}_{name}"] = v
            n_cut, n_paused, cut = asyncio.run(cut_offs(lines, engine))
            print(f"  cut off at a pause: {n_cut}/{n_paused}")
            for c in cut:
                print(f"    {c}")
            result[f"cutoff_rate_{name}"] = round(n_cut / max(n_paused, 1), 3)
        final = "test" if "test" in sets else "dev"
        result["cutoff_rate"] = result.get(f"cutoff_rate_{final}")
    final = "test" if "test" in sets else "dev"
    result["ms_per_utterance"] = result.get(f"ms_per_utterance_{final}")
    for key in ("intent_accuracy", "out_of_scope_f1", "yes_no_accuracy", "slot_exact"):
        result[f"{key}_test"] = result.get(f"{key}_test")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
