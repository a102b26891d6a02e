"""Media cost per call-frame (20 ms): inbound and outbound, one call and batched.

Inbound: mu-law 8 kHz → 16 kHz house frames → VAD → endpointer. Outbound: 24 kHz
PCM → 8 kHz mu-law. The batched engine (media.batch) is measured at 1, 100, 500
and 1000 calls against a naive baseline in the same process (at 1000 calls, seven rounds of
each in turn; the figures are the round with the median ratio): per call and per
frame, audioop for G.711, a soxr stream per call for resampling, and the same
VAD (the noise-floor detector, one per call, on the 8 kHz frame as the product
examines it). BLAS runs on one thread, so the figures are for one core.
The last line is one JSON object.

    .venv/bin/python -m bench.media
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core: set before numpy loads BLAS

import json
import statistics
import time

import numpy as np
import soxr

from media.batch import InboundBatch, OutboundBatch
from media.g711 import audioop
from media.vad import NoiseFloorVad

TICKS = 50
ROUNDS = 7  # at 1000 calls: batched and naive in turn, so both meet the same machine


def speechlike(calls: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(samples)
    base = np.sin(2 * np.pi * 220 * t / 8000)[None, :] * rng.uniform(500, 6000, (calls, 1))
    return (base + rng.normal(0, 300, (calls, samples))).astype(np.int16)


def batched(calls: int) -> tuple[float, float]:
    rng = np.random.default_rng(1)
    inbound, outbound = InboundBatch(calls), OutboundBatch(calls)
    codes = np.frombuffer(audioop.lin2ulaw(speechlike(calls, 160, rng).tobytes(), 2), np.uint8)
    codes = codes.reshape(calls, 160)
    bot = speechlike(calls, 480, rng)
    active = np.arange(calls)
    t_in, t_out = [], []
    for _ in range(TICKS):
        t0 = time.perf_counter()
        inbound.process(codes, active)
        t1 = time.perf_counter()
        outbound.process(bot)
        t2 = time.perf_counter()
        t_in.append(t1 - t0)
        t_out.append(t2 - t1)
    return statistics.median(t_in) / calls * 1e6, statistics.median(t_out) / calls * 1e6


def naive(calls: int) -> tuple[float, float]:
    rng = np.random.default_rng(1)
    up = [soxr.ResampleStream(8000, 16000, 1, dtype="int16") for _ in range(calls)]
    down = [soxr.ResampleStream(24000, 8000, 1, dtype="int16") for _ in range(calls)]
    vads = [NoiseFloorVad(1) for _ in range(calls)]
    payloads = [audioop.lin2ulaw(f.tobytes(), 2) for f in speechlike(calls, 160, rng)]
    bot = list(speechlike(calls, 480, rng))
    t_in, t_out = [], []
    for _ in range(TICKS):
        t0 = time.perf_counter()
        for i in range(calls):
            pcm8 = np.frombuffer(audioop.ulaw2lin(payloads[i], 2), np.int16)
            vads[i].process(pcm8[None, :])
            up[i].resample_chunk(pcm8)
        t1 = time.perf_counter()
        for i in range(calls):
            audioop.lin2ulaw(down[i].resample_chunk(bot[i]).tobytes(), 2)
        t2 = time.perf_counter()
        t_in.append(t1 - t0)
        t_out.append(t2 - t1)
    return statistics.median(t_in) / calls * 1e6, statistics.median(t_out) / calls * 1e6


def main() -> None:
    print(f"µs per call-frame, median of {TICKS} ticks")
    print(f"{'calls':>6} {'batched in':>11} {'out':>7} {'total':>7} | {'naive in':>9} "
          f"{'out':>7} {'total':>7} | speedup")  # fmt: skip
    result: dict[str, float] = {}
    for calls in (1, 100, 500, 1000):
        rounds = [(batched(calls), naive(calls)) for _ in range(ROUNDS if calls == 1000 else 1)]
        # The round with the median ratio: its own batched and naive times, side by side.
        ((b_in, b_out), (n_in, n_out)) = sorted(rounds, key=lambda r: sum(r[1]) / sum(r[0]))[
            len(rounds) // 2
        ]
        b, n = b_in + b_out, n_in + n_out
        print(f"{calls:6d} {b_in:11.2f} {b_out:7.2f} {b:7.2f} | {n_in:9.2f} {n_out:7.2f} {n:7.2f} "
              f"| {n / b:6.1f}x")  # fmt: skip
        result[f"batched_us_{calls}"] = round(b, 2)
        result[f"naive_us_{calls}"] = round(n, 2)
        if calls == 1000:
            result["batched_us_per_call_frame"] = round(b, 2)
            result["speedup_vs_naive"] = round(n / b, 1)
            ratios = sorted(sum(r[1]) / sum(r[0]) for r in rounds)
            print(f"speedup in {ROUNDS} rounds at 1000 calls: "
                  + ", ".join(f"{x:.1f}x" for x in ratios))  # fmt: skip
            # Share of one core that 1000 calls' media takes in real time (20 ms per tick).
            result["core_share_1000_calls"] = round(b * 1000 / 20_000, 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
