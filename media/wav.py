"""16-bit PCM WAV bytes built in memory: the header, and whole signals.

Writing and reading the files is the edge's work (``bridge.store.wav_files``): media/ does no I/O.
"""

from __future__ import annotations

import struct

import numpy as np

from media.format import I16

HEADER_BYTES = 44
MAX_DATA_BYTES = 0xFFFFFFFF - 36  # RIFF sizes are 32-bit: a header past 4 GB stays at the cap


def wav_header(rate: int, channels: int, frames: int) -> bytes:
    """The 44-byte header of a 16-bit PCM WAV holding ``frames`` sample frames; a file
    being streamed rewrites it as it grows, so a crash leaves a readable file."""
    data = min(frames * channels * 2, MAX_DATA_BYTES)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    riff = struct.pack("<4sI4s4sI", b"RIFF", 36 + data, b"WAVE", b"fmt ", len(fmt))
    return riff + fmt + struct.pack("<4sI", b"data", data)  # format 1: integer PCM


def wav_bytes(pcm: I16, rate: int) -> bytes:
    """A whole WAV file: ``pcm`` mono (samples) or samples by channels."""
    channels = 1 if pcm.ndim == 1 else int(pcm.shape[1])
    return wav_header(rate, channels, len(pcm)) + np.ascontiguousarray(pcm, "<i2").tobytes()
