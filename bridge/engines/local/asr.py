"""Streaming speech recognition with pocketsphinx, constrained per turn.

One :class:`Recognizer` per call, used from one thread at a time (a decoder is
not thread-safe); the engine runs each in a process of its own. Each caller turn
activates the grammar or language model built for what the state expects. This is
the streaming half of the engine (partials, the early end of a turn); Whisper
(:mod:`bridge.engines.local.transcriber`) hears each turn too and, where it heard
words, has the last one (``engine.last_word``).

Two decoders, because a search sees every word of its decoder's dictionary.
pocketsphinx gives a language model every dictionary word it lacks as an unknown
word, one at a time: a menu's 50-word model on the full 135,000-word dictionary
takes 10 s to add (holding the GIL, so every call in the process stalls) and then
lets the decoder reach for any of those words. So the turns' grammars and models
run on a decoder whose dictionary holds only the words they use, taken from the
full pronunciation dictionary as they are needed; the open-vocabulary model keeps
a decoder of its own with the whole dictionary.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pocketsphinx import Decoder, NGramModel, get_model_path

from bridge.engines.local.grammar import Constraint, words_of

OPEN = "_default"  # pocketsphinx's name for the language-model search
TAIL = bytes(2 * 16000 * 400 // 1000)  # 400 ms of silence
# A word of a JSGF grammar: not a <rule>, not a /weight/ or {tag}.
JSGF_WORD = re.compile(r"(?<![<\w'/{])[a-z][a-z0-9']*(?![>\w'/}])")


@dataclass(frozen=True)
class Recognition:
    text: str
    grammar: bool  # recognised within the turn's grammar (else open vocabulary, or nothing)
    decode_ms: float  # time spent finishing the turn (the final pass, and any second pass)


@functools.cache
def lexicon() -> dict[str, tuple[str, ...]]:
    """Every word of pocketsphinx's en-us dictionary → its pronunciations."""
    path = os.path.join(get_model_path(), "en-us", "cmudict-en-us.dict")
    out: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            word, _, phones = line.strip().partition(" ")
            if phones:
                out.setdefault(word.split("(")[0], []).append(phones.strip())
    return {w: tuple(p) for w, p in out.items()}


def known(word: str) -> bool:
    """Whether the recogniser can hear ``word`` (it has a pronunciation)."""
    return word in lexicon()


@functools.cache
def _seed_dictionary() -> str:
    """A dictionary file to start the constrained decoder with (it needs one)."""
    fd, path = tempfile.mkstemp(suffix=".dict", prefix="callbridge-")
    with os.fdopen(fd, "w") as f:
        f.write(f"a {lexicon()['a'][0]}\n")
    return path


def words_in(constraint: Constraint) -> set[str]:
    """The words a grammar or an ARPA model can produce."""
    if constraint.kind == "jsgf":
        rules = "\n".join(ln for ln in constraint.text.splitlines() if "=" in ln)
        return {w for ln in rules.splitlines() for w in JSGF_WORD.findall(ln.split("=", 1)[1])}
    unigrams = constraint.text.split("\\2-grams:")[0].split("\\1-grams:")[-1]
    return {p[1] for ln in unigrams.splitlines() if len(p := ln.split()) >= 2} - {"<s>", "</s>"}


class Recognizer:
    def __init__(self) -> None:
        self.constrained = Decoder(
            loglevel="ERROR", bestpath=False, dict=_seed_dictionary(), lm=None
        )
        self.open = Decoder(loglevel="ERROR", bestpath=False)
        self.decoder = self.constrained  # the one hearing the current turn
        self._words: set[str] = {"a"}  # in the constrained decoder's dictionary
        self._searches: set[tuple[int, str]] = set()  # (decoder, search) pairs added
        # Each decoder's active search (pocketsphinx crashes asking one that has none).
        self._active = {id(self.open): OPEN, id(self.constrained): ""}
        self._search = OPEN
        self._in_utt = False

    def warm_up(self, utterances: list[tuple[str, npt.NDArray[np.int16]]]) -> None:
        """Let the decoders' normalisation settle on the line's audio before a caller.

        ``utterances`` are sentences and how they sound on the line. Both decoders hear
        them within a grammar of exactly those sentences: the acoustic normalisation
        settles just as under the open-vocabulary model, which takes 50 times longer
        (≈7 s on a slow core, a silence a caller would hear when a call falls back to
        this engine)."""
        constraint = Constraint.one_of(" ".join(words_of(text)) for text, _ in utterances)
        pad = np.zeros(3200, np.int16)
        for decoder in (self.open, self.constrained):
            for _, pcm in utterances:
                self._begin(decoder, constraint)
                self.feed(np.concatenate([pad, pcm, pad]))
                self.finish()

    def begin(self, constraint: Constraint | None) -> None:
        """Start a caller turn, within ``constraint`` (None: open vocabulary)."""
        self._begin(self.open if constraint is None else self.constrained, constraint)

    def _begin(self, decoder: Decoder, constraint: Constraint | None) -> None:
        if self._in_utt:
            self.decoder.end_utt()
        name = OPEN
        if constraint is not None:
            name = constraint.name
            if (id(decoder), name) not in self._searches:
                self._add(decoder, constraint)
                self._searches.add((id(decoder), name))
        if name != self._active[id(decoder)]:
            decoder.activate_search(name)
            self._active[id(decoder)] = name
        self.decoder, self._search = decoder, name
        decoder.start_utt()
        self._in_utt = True

    def _add(self, decoder: Decoder, constraint: Constraint) -> None:
        if decoder is self.constrained:
            for word in sorted(words_in(constraint) - self._words):
                for i, phones in enumerate(lexicon().get(word, ())):
                    decoder.add_word(word if i == 0 else f"{word}({i + 1})", phones, False)
                self._words.add(word)
        if constraint.kind == "jsgf":
            decoder.add_jsgf_string(constraint.name, constraint.text)
            return
        # pocketsphinx reads ARPA models only from a file: written, read, removed.
        fd, path = tempfile.mkstemp(suffix=".arpa", prefix="callbridge-")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(constraint.text)
            model = NGramModel(decoder.config, decoder.logmath, path)
        finally:
            os.unlink(path)
        decoder.add_lm(constraint.name, model)

    def feed(self, pcm: npt.NDArray[np.int16]) -> None:
        """16 kHz house-format audio of the current turn."""
        if not self._in_utt:
            return
        self.decoder.process_raw(pcm.tobytes(), False, False)

    def partial(self) -> str:
        hyp = self.decoder.hyp() if self._in_utt else None
        return hyp.hypstr if hyp else ""

    def finish(self) -> Recognition:
        started = time.perf_counter()
        if not self._in_utt:
            return Recognition("", False, 0.0)
        # A turn ended early (the answer was already complete) leaves the decoder little
        # trailing audio, and it then garbles the last words; silence lets it settle.
        self.decoder.process_raw(TAIL, False, False)
        self.decoder.end_utt()
        self._in_utt = False
        hyp = self.decoder.hyp()
        text = hyp.hypstr if hyp else ""
        in_grammar = self._search != OPEN and bool(text)
        return Recognition(text, in_grammar, (time.perf_counter() - started) * 1000)
