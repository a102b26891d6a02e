"""16-bit PCM WAV files: whole mono signals in and out (the recorder streams stereo)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from media.format import I16, AudioFormatError


def write_wav(path: Path, pcm: I16, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


def read_wav(path: Path) -> tuple[I16, int]:
    """Samples (frames by channels when not mono) and the rate; 16-bit PCM only."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2:
                raise AudioFormatError(f"{path}: {8 * w.getsampwidth()}-bit audio, expected 16")
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
            if w.getnchannels() > 1:
                data = data.reshape(-1, w.getnchannels())
            return data, w.getframerate()
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f"{path}: not a PCM WAV file ({exc})") from exc
