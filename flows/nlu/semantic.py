"""Intents by meaning: how close a caller's sentence is to each intent's examples and
description in a sentence-embedding space (:mod:`flows.nlu.encoder`).

Word overlap fails where callers use words no example has ("a thief had my Visa at
the petrol station"); a paraphrase model puts such a sentence near "my card was
stolen" all the same. An intent's similarity is that of its closest example or its
description.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from flows.nlu.encoder import SentenceEncoder


class SemanticIndex:
    def __init__(self, intents: Mapping[str, Sequence[str]], encoder: SentenceEncoder) -> None:
        """``intents``: each intent's sentences (its examples, and its description)."""
        self.encoder = encoder
        self.labels: list[str] = []
        texts: list[str] = []
        for intent, sentences in intents.items():
            for text in sentences:
                self.labels.append(intent)
                texts.append(text)
        self.vectors = encoder.encode(texts)

    def similarities(self, text: str, allowed: Iterable[str] | None = None) -> dict[str, float]:
        """Cosine similarity of ``text`` to each allowed intent's closest sentence."""
        if not text.strip() or not self.labels:
            return {}
        only = set(allowed) if allowed is not None else None
        sims = self.vectors @ self.encoder.encode([text])[0]
        best: dict[str, float] = {}
        for label, sim in zip(self.labels, sims.tolist(), strict=True):
            if (only is None or label in only) and sim > best.get(label, -1.0):
                best[label] = sim
        return best
