"""A small bigram language model for a menu turn, written as ARPA text.

A menu state's callers paraphrase ("someone nicked my card" for "my card was
stolen"), so the turn cannot be one fixed grammar. pocketsphinx's own
open-vocabulary model hears telephone paraphrases badly (most words wrong), and a
JSGF loop over the state's words lets any word follow any other, so a paraphrase
comes out as word salad. A bigram model over the state's own phrases keeps the
word order callers use while still letting the decoder leave them: the examples,
each again with every word the synonym lexicon folds onto one of its concepts
("stolen" → "nicked", "robbed", ...), and the lexicon and function words alone.

Absolute discounting with back-off to add-one unigrams: the model is tiny (a few
hundred bigrams), so the choice of smoothing hardly matters; measured on held-out
paraphrases, discounts from 0.3 to 0.9 gave the same accuracy.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import pairwise

DISCOUNT = 0.5
START, END = "<s>", "</s>"


def expand(phrase: Sequence[str], synonyms: dict[str, list[str]]) -> list[list[str]]:
    """``phrase`` and, for each of its words, the phrase with that word's synonyms."""
    out = [list(phrase)]
    for i, word in enumerate(phrase):
        for alt in synonyms.get(word, []):
            if alt != word:
                out.append([*phrase[:i], *alt.split(), *phrase[i + 1 :]])
    return out


def arpa(sentences: Iterable[Sequence[str]], discount: float = DISCOUNT) -> str:
    """An ARPA bigram model of ``sentences`` (lists of words)."""
    uni: Counter[str] = Counter()
    bi: Counter[tuple[str, str]] = Counter()
    for sentence in sentences:
        if not sentence:
            continue
        tokens = [START, *sentence, END]
        uni.update(tokens)
        bi.update(pairwise(tokens))
    vocab = sorted(uni)
    words = [w for w in vocab if w != START]  # what can be predicted
    mass = sum(uni[w] for w in words) + len(words)
    p1 = {w: (uni[w] + 1) / mass for w in words}
    followers: Counter[str] = Counter()  # bigram tokens after each history
    kinds: Counter[str] = Counter()  # distinct words after each history
    seen_p1: Counter[str] = Counter()  # unigram mass of those words
    for (h, w), n in bi.items():
        followers[h] += n
        kinds[h] += 1
        seen_p1[h] += p1[w]
    # A history followed by every word already has nothing to back off to: no discount.
    d = {h: discount if seen_p1[h] < 1.0 - 1e-9 else 0.0 for h in followers}
    lines = ["\\data\\", f"ngram 1={len(vocab)}", f"ngram 2={len(bi)}", "", "\\1-grams:"]
    for w in vocab:
        logp = math.log10(p1[w]) if w in p1 else -99.0
        line = f"{logp:.4f} {w}"
        if d.get(w):
            freed = d[w] * kinds[w] / followers[w]
            line += f" {math.log10(freed / (1.0 - seen_p1[w])):.4f}"
        lines.append(line)
    lines += ["", "\\2-grams:"]
    for (h, w), n in sorted(bi.items()):
        lines.append(f"{math.log10((n - d[h]) / followers[h]):.4f} {h} {w}")
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)
