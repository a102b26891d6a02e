"""Intents from the examples in the flow, robust to paraphrase.

No model to train or download: each example becomes a bag of normalised content
words (contractions expanded, light stemming, a small contact-centre lexicon of
synonyms folded onto one concept) weighted by how rare the word is across all
examples, plus character trigrams that absorb spelling and ASR slips. A caller's
words score against every example of the intents the state expects; the best
example's score is the confidence.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CONTRACTIONS = {
    "can't": "can not", "won't": "will not", "n't": " not", "'m": " am", "'re": " are",
    "'s": " is", "'d": " would", "'ll": " will", "'ve": " have",
}  # fmt: skip
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "me",
        "my",
        "mine",
        "we",
        "our",
        "you",
        "your",
        "it",
        "its",
        "is",
        "am",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "from",
        "with",
        "and",
        "or",
        "but",
        "so",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "would",
        "could",
        "should",
        "will",
        "can",
        "shall",
        "may",
        "might",
        "must",
        "please",
        "just",
        "like",
        "want",
        "wanna",
        "need",
        "id",
        "this",
        "that",
        "there",
        "here",
        "some",
        "any",
        "up",
        "about",
        "get",
        "got",
        "let",
        "us",
        "hi",
        "hello",
        "um",
        "uh",
        "er",
        "oh",
        "well",
        "also",
        "really",
    ]
)
# Words a caller uses for the same thing, folded onto one concept.
SYNONYMS: Mapping[str, str] = {
    w: concept
    for concept, ws in {
        "person": "person human someone somebody agent representative operator advisor "
        "adviser staff people receptionist assistant",
        "talk": "talk speak chat connect transfer put through",
        # Not "find": only "can't find" means lost, and "can't" already reads "can not"
        # while "find" alone is as likely "find my balance".
        "lose": "lose lost misplace misplaced missing gone",
        "steal": "steal stole stolen theft thief nicked robbed",
        "balance": "balance funds money much remaining available left",
        "repeat": "repeat again pardon sorry huh",
        "book": "book booking appointment reserve schedule slot see visit",
        "card": "card debit credit",
        "cancel": "cancel stop quit",
    }.items()
    for w in ws.split()
}
SUFFIXES = ("ing", "ed", "es", "s")


def normalise(text: str) -> str:
    t = text.lower().replace("\u2019", "'")
    for short, full in CONTRACTIONS.items():
        t = t.replace(short, full)
    return re.sub(r"[^a-z0-9' ]+", " ", t)


def stem(word: str) -> str:
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def concepts(text: str) -> list[str]:
    out = []
    for w in normalise(text).split():
        w = w.strip("'")
        if w in SYNONYMS:
            out.append(SYNONYMS[w])
        elif w and w not in STOPWORDS:
            s = stem(w)
            out.append(SYNONYMS.get(s, s))
    return out


def trigrams(tokens: Iterable[str]) -> Counter[str]:
    grams: Counter[str] = Counter()
    for t in tokens:
        padded = f" {t} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


@dataclass(frozen=True)
class _Example:
    intent: str
    words: frozenset[str]
    grams: Counter[str]


@dataclass(frozen=True)
class IntentScore:
    intent: str | None
    confidence: float


class IntentIndex:
    THRESHOLD = 0.45

    def __init__(self, intents: Mapping[str, Iterable[str]]) -> None:
        self.examples: list[_Example] = []
        df: Counter[str] = Counter()
        for intent, texts in intents.items():
            for text in texts:
                c = concepts(text) or normalise(text).split()
                self.examples.append(_Example(intent, frozenset(c), trigrams(c)))
                df.update(set(c))
        n = max(len(self.examples), 1)
        self.idf = {w: math.log(1 + n / k) for w, k in df.items()}
        self.unseen = math.log(1 + n)  # a word no example has: as rare as can be

    def _weight(self, words: Iterable[str]) -> float:
        return sum(self.idf.get(w, self.unseen) for w in words)

    def similarities(self, text: str, allowed: Iterable[str] | None = None) -> dict[str, float]:
        """Each allowed intent's best example score for ``text`` (0 to 1)."""
        words = concepts(text)
        if not words:
            return {}
        mine = frozenset(words)
        grams = trigrams(words)
        only = set(allowed) if allowed is not None else None
        best: dict[str, float] = {}
        for ex in self.examples:
            if only is not None and ex.intent not in only:
                continue
            shared = self._weight(mine & ex.words)
            # Weighted overlap; words the caller adds count less against a match
            # than words of the example the caller did not say.
            word_sim = shared / (0.6 * self._weight(ex.words) + 0.4 * self._weight(mine))
            sim = 0.75 * word_sim + 0.25 * _cosine(grams, ex.grams)
            if sim > best.get(ex.intent, 0.0):
                best[ex.intent] = min(1.0, sim)
        return best

    def score(self, text: str, allowed: Iterable[str] | None = None) -> IntentScore:
        """The lexical matcher on its own (without sentence embeddings)."""
        best = self.similarities(text, allowed)
        if not best:
            return IntentScore(None, 0.0)
        ranked = sorted(best.values(), reverse=True)
        intent = max(best, key=best.__getitem__)
        top, runner_up = ranked[0], ranked[1] if len(ranked) > 1 else 0.0
        confidence = top * (1.0 - 0.5 * max(0.0, 0.1 - (top - runner_up)))
        if confidence < self.THRESHOLD:
            return IntentScore(None, round(confidence, 3))
        return IntentScore(intent, round(confidence, 3))
