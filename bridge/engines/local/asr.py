"""Streaming speech recognition with pocketsphinx, constrained per turn.

One :class:`Recognizer` per call, used from one worker thread at a time (the
decoder is not thread-safe). Each caller turn activates the grammar or language
model built for what the state expects; when a grammar cannot account for what
was said, the turn's audio is decoded again with the open-vocabulary language
model, so an answer nobody anticipated still reaches the flow as words.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pocketsphinx import Decoder, NGramModel

from bridge.engines.local.grammar import Constraint

OPEN = "_default"  # pocketsphinx's name for the language-model search
MAX_TURN_S = 30  # audio kept for the open-vocabulary second pass
TAIL = bytes(2 * 16000 * 400 // 1000)  # 400 ms of silence


@dataclass(frozen=True)
class Recognition:
    text: str
    grammar: bool  # recognised within the turn's grammar (else open vocabulary, or nothing)
    decode_ms: float  # time spent finishing the turn (the final pass, and any second pass)


class Recognizer:
    def __init__(self) -> None:
        self.decoder = Decoder(loglevel="ERROR", bestpath=False)
        self._searches: set[str] = set()
        self._search = OPEN
        self._second_pass = False  # decode again with open vocabulary if nothing fitted
        self._audio: list[bytes] = []
        self._in_utt = False

    def warm_up(self, utterances: list[npt.NDArray[np.int16]]) -> None:
        """Let the decoder's normalisation settle on the line's audio before a caller."""
        pad = np.zeros(3200, np.int16)
        for pcm in utterances:
            self.begin(None)
            self.feed(np.concatenate([pad, pcm, pad]))
            self.finish()

    def known(self, word: str) -> bool:
        return self.decoder.lookup_word(word) is not None

    def begin(self, constraint: Constraint | None) -> None:
        """Start a caller turn, within ``constraint`` (None: open vocabulary)."""
        if self._in_utt:
            self.decoder.end_utt()
        name = OPEN
        if constraint is not None:
            name = constraint.name
            if name not in self._searches:
                self._add(constraint)
                self._searches.add(name)
        if name != self.decoder.current_search():
            self.decoder.activate_search(name)
        self._search = name
        self._second_pass = constraint is not None and constraint.kind == "jsgf"
        self._audio = []
        self.decoder.start_utt()
        self._in_utt = True

    def _add(self, constraint: Constraint) -> None:
        if constraint.kind == "jsgf":
            self.decoder.add_jsgf_string(constraint.name, constraint.text)
            return
        # pocketsphinx reads ARPA models only from a file: written, read, removed.
        fd, path = tempfile.mkstemp(suffix=".arpa", prefix="callbridge-")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(constraint.text)
            model = NGramModel(self.decoder.config, self.decoder.logmath, path)
        finally:
            os.unlink(path)
        self.decoder.add_lm(constraint.name, model)

    def feed(self, pcm: npt.NDArray[np.int16]) -> None:
        """16 kHz house-format audio of the current turn."""
        if not self._in_utt:
            return
        data = pcm.tobytes()
        if len(self._audio) < MAX_TURN_S * 50:
            self._audio.append(data)
        self.decoder.process_raw(data, False, False)

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
        if not text and self._second_pass and self._audio:
            text = self._open_vocabulary()
        return Recognition(text, in_grammar, (time.perf_counter() - started) * 1000)

    def _open_vocabulary(self) -> str:
        self.decoder.activate_search(OPEN)
        self.decoder.start_utt()
        self.decoder.process_raw(b"".join(self._audio), False, True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        self.decoder.activate_search(self._search)
        return hyp.hypstr if hyp else ""
