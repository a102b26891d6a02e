"""Test audio, generated here and never fetched: synthesised speech (hibari-tts's
bundled neural voice, espeak-ng voices), noise at a chosen SNR, tones, and frame
labels taken from the clean signal. Synthesis is cached under ``.cache/speech``."""

from __future__ import annotations

import hashlib
import itertools
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bridge.store.wav_files import load_wav, write_wav
from media.format import HOUSE_FRAME, HOUSE_RATE, I16
from media.resample import resample_signal

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "speech"

PHRASES = [
    "I would like to check my account balance please.",
    "My card was stolen yesterday and I need a new one.",
    "Can I speak to a real person?",
    "Yes, that is correct.",
    "No, I said next Tuesday afternoon.",
    "My date of birth is the fourth of July nineteen eighty two.",
    "I want to book an appointment for a check up.",
    "The number on the card is four five six seven.",
]


@dataclass(frozen=True)
class Voice:
    engine: str  # hibari | espeak
    name: str
    speed: float = 1.0
    pitch: int = 50  # espeak only


VOICES = [
    Voice("hibari", "heart", 0.85),
    Voice("hibari", "heart", 1.0),
    Voice("hibari", "heart", 1.25),
    Voice("espeak", "en-us", 1.0, 40),
    Voice("espeak", "en-gb+f3", 1.15, 70),
    Voice("espeak", "en-gb-scotland+m3", 0.9, 30),
]


resample_whole = resample_signal


@cache
def _hibari():  # type: ignore[no-untyped-def]
    from hibari import Hibari

    return Hibari()


def synthesize(text: str, voice: Voice) -> I16:
    """Speech at 16 kHz, int16, peak normalised to -3 dBFS."""
    key = hashlib.sha1(f"{voice}|{text}".encode()).hexdigest()[:16]
    path = CACHE / f"{key}.wav"
    if path.exists():
        return load_wav(path)[0]
    if voice.engine == "hibari":
        from hibari import SAMPLE_RATE

        audio = np.asarray(_hibari()(text, speed=voice.speed, seed=1), dtype=np.float32)
        pcm = resample_whole(audio * 32767, SAMPLE_RATE, HOUSE_RATE)
    else:
        espeak = shutil.which("espeak-ng")
        if espeak is None:
            raise RuntimeError("espeak-ng is not installed (make install installs it)")
        wav = subprocess.run(
            [espeak, "-v", voice.name, "-s", str(int(175 * voice.speed)), "-p", str(voice.pitch),
             "--stdout", text],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        raw = np.frombuffer(wav[44:], dtype=np.int16)  # espeak-ng writes 22,050 Hz
        pcm = _resample_any(raw, 22_050, HOUSE_RATE)
    peak = max(1, int(np.abs(pcm.astype(np.int32)).max()))
    pcm = np.clip(pcm.astype(np.float32) * (0.707 * 32767 / peak), -32768, 32767).astype(np.int16)
    CACHE.mkdir(parents=True, exist_ok=True)
    write_wav(path, pcm, HOUSE_RATE)
    return pcm


def _resample_any(x: I16, in_rate: int, out_rate: int) -> I16:
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(in_rate, out_rate)
    y = resample_poly(x.astype(np.float32), out_rate // g, in_rate // g)
    return np.clip(np.rint(y), -32768, 32767).astype(np.int16)


def frame_labels(clean: I16, rel_db: float = -35.0, bridge_ms: int = 100) -> npt.NDArray[np.bool_]:
    """Speech/non-speech per 20 ms frame of a clean signal: frames within ``rel_db`` of
    the loudest frame, with pauses shorter than ``bridge_ms`` counted as speech."""
    n = len(clean) // HOUSE_FRAME
    frames = clean[: n * HOUSE_FRAME].astype(np.float64).reshape(n, HOUSE_FRAME)
    energy_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-9)
    speech = energy_db > energy_db.max() + rel_db
    gap = bridge_ms // 20
    idx = np.flatnonzero(speech)
    for a, b in itertools.pairwise(idx):
        if 1 < b - a <= gap + 1:
            speech[a:b] = True
    return speech


def white_noise(n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    return rng.standard_normal(n)


def babble_noise(n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Several overlapping, time-reversed voices: speech-like spectrum, no words."""
    voices = [synthesize(p, v).astype(np.float64)[::-1] for p in PHRASES[:6] for v in VOICES[:2]]
    out = np.zeros(n)
    for _ in range(6):
        v = voices[rng.integers(len(voices))]
        start = 0
        while start < n:
            seg = v[: n - start]
            out[start : start + len(seg)] += seg
            start += len(seg) + int(rng.integers(0, HOUSE_RATE // 4))
    return out


def mix_at_snr(
    speech: I16, noise: npt.NDArray[np.float64], snr_db: float, active: npt.NDArray[np.bool_]
) -> I16:
    """Add ``noise`` scaled so that speech power (over active frames) / noise power = SNR."""
    n = len(active) * HOUSE_FRAME
    s = speech[:n].astype(np.float64)
    p_speech = np.mean(s.reshape(-1, HOUSE_FRAME)[active] ** 2)
    p_noise = np.mean(noise[:n] ** 2) + 1e-12
    scaled = noise[:n] * np.sqrt(p_speech / (p_noise * 10 ** (snr_db / 10)))
    return np.clip(np.rint(s + scaled), -32768, 32767).astype(np.int16)


def tone(freqs: tuple[float, ...], ms: int, rate: int = 8000, level: float = 8000.0) -> I16:
    t = np.arange(rate * ms // 1000) / rate
    x = sum(np.sin(2 * np.pi * f * t) for f in freqs) * level / max(1, len(freqs))
    return np.rint(x).astype(np.int16)


@dataclass
class LabelledStream:
    """Utterances separated by known silences, with per-frame truth and turn bounds."""

    clean: I16
    labels: npt.NDArray[np.bool_]
    turns: list[tuple[int, int]]  # (first, last+1) speech frame of each utterance


def labelled_stream(
    utterances: list[I16], rng: np.random.Generator, gap_ms: tuple[int, int] = (400, 1200)
) -> LabelledStream:
    parts: list[I16] = []
    labels: list[npt.NDArray[np.bool_]] = []
    turns: list[tuple[int, int]] = []
    frames = 0
    for utt in utterances:
        gap = int(rng.integers(gap_ms[0], gap_ms[1]) // 20) * HOUSE_FRAME
        parts.append(np.zeros(gap, np.int16))
        labels.append(np.zeros(gap // HOUSE_FRAME, bool))
        frames += gap // HOUSE_FRAME
        utt = utt[: len(utt) // HOUSE_FRAME * HOUSE_FRAME]
        lab = frame_labels(utt)
        idx = np.flatnonzero(lab)
        turns.append((frames + int(idx[0]), frames + int(idx[-1]) + 1))
        parts.append(utt)
        labels.append(lab)
        frames += len(lab)
    tail = np.zeros(50 * HOUSE_FRAME, np.int16)
    parts.append(tail)
    labels.append(np.zeros(50, bool))
    return LabelledStream(np.concatenate(parts), np.concatenate(labels), turns)


def ulaw_round_trip(pcm16k: I16) -> I16:
    """16 kHz → 8 kHz → G.711 mu-law → 8 kHz → 16 kHz, as a phone line does."""
    from media.g711 import ulaw_decode, ulaw_encode

    narrow = resample_whole(pcm16k, HOUSE_RATE, 8000)
    return resample_whole(ulaw_decode(ulaw_encode(narrow)), 8000, HOUSE_RATE)
