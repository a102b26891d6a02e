"""The far end of N RTP streams, for bench/sip_load: it sends and it measures.

One UDP socket per call on ``--first-port``, ``+2``, ... (the ports the SIP caller
put in its SDP). A socket learns its peer from the first packet that arrives
(symmetric RTP, as pjmedia sends from the port it receives on) and from then on sends
a 160-byte PCMU packet every 20 ms to it, paced on one absolute clock for all
streams. For what arrives it keeps, per stream, RFC 3550's interarrival jitter
(section 6.4.1, in ms, sampled at every packet), the sequence numbers seen (loss) and
each packet's transit variation |D|. ``--pace`` turns it into the baseline's sender
instead: it sends to ``--target-port`` + 2i from the start and measures nothing.

On SIGTERM (or after ``--seconds``) it writes one JSON object to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PT_PCMU = 0
SILENCE = b"\xff" * 160
WARMUP_S = 2.0  # a stream's first seconds (call set-up, first bot audio) are not measured


@dataclass
class Stream:
    port: int
    remote: tuple[str, int] | None = None
    seq: int = 0
    ts: int = 0
    ssrc: int = 0
    first_at: float = 0.0
    last_transit: float | None = None
    jitter: float = 0.0
    jitters: list[float] = field(default_factory=list)
    deltas: list[float] = field(default_factory=list)
    seqs: set[int] = field(default_factory=set)
    received: int = 0

    def arrive(self, data: bytes, at: float) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            return
        seq, ts = struct.unpack_from("!HI", data, 2)
        self.received += 1
        if not self.first_at:
            self.first_at = at
        if at - self.first_at < WARMUP_S:
            self.last_transit = None
            return
        self.seqs.add(seq)
        transit = at - ts / 8000  # clock offsets cancel in the difference
        if self.last_transit is not None:
            d = abs(transit - self.last_transit)
            self.jitter += (d - self.jitter) / 16
            self.jitters.append(self.jitter * 1000)
            self.deltas.append(d * 1000)
        self.last_transit = transit

    def packet(self) -> bytes:
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + 160) & 0xFFFFFFFF
        return struct.pack("!BBHII", 0x80, PT_PCMU, self.seq, self.ts, self.ssrc) + SILENCE

    def lost(self) -> int:
        if not self.seqs:
            return 0
        ordered = np.unwrap(np.array(sorted(self.seqs)), period=65536)
        return int(ordered[-1] - ordered[0] + 1 - len(self.seqs))


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        s = self.stream
        if s.remote is None:
            s.remote = addr
        s.arrive(data, time.perf_counter())


async def run(args: argparse.Namespace) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    streams = [Stream(args.first_port + 2 * i, ssrc=0x1000 + i) for i in range(args.count)]
    transports = []
    for s in streams:
        t, _ = await loop.create_datagram_endpoint(
            lambda s=s: _Protocol(s), local_addr=("127.0.0.1", s.port)
        )
        transports.append(t)
        if args.pace:
            s.remote = ("127.0.0.1", args.target_port + s.port - args.first_port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    start = time.perf_counter()
    tick = 0
    while not stop.is_set() and time.perf_counter() - start < args.seconds:
        for s, t in zip(streams, transports, strict=True):
            if s.remote is not None:
                t.sendto(s.packet(), s.remote)
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * 0.02 - time.perf_counter()))
    for t in transports:
        t.close()
    return summary(streams)


def summary(streams: list[Stream]) -> dict[str, float]:
    jitters = [j for s in streams for j in s.jitters]
    deltas = [d for s in streams for d in s.deltas]
    seen = sum(len(s.seqs) for s in streams)
    lost = sum(s.lost() for s in streams)
    p = lambda v, q: round(float(np.percentile(v, q)), 3) if v else None  # noqa: E731
    return {
        "streams_heard": sum(1 for s in streams if s.received),
        "packets": seen,
        "lost": lost,
        "loss_ratio": round(lost / max(1, seen + lost), 6),
        "jitter_p50_ms": p(jitters, 50),
        "jitter_p99_ms": p(jitters, 99),
        "jitter_max_ms": p(jitters, 100),
        "transit_delta_p99_ms": p(deltas, 99),
    }  # type: ignore[return-value]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--first-port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--pace", action="store_true", help="only send, to --target-port + 2i")
    ap.add_argument("--target-port", type=int, default=0)
    args = ap.parse_args()
    result = asyncio.run(run(args))
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
