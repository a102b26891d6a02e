"""Offline understanding for the local engine: intent, slots and confidence.

Learned from the flow itself, with nothing downloaded. An intent is recognised by
meaning (a sentence-embedding model inside a wheel: :mod:`flows.nlu.semantic`) and
by words (:mod:`flows.nlu.intents`), and the two scores are blended; below a
threshold the caller asked for something the state does not handle. The weight and
the threshold were chosen on a development set of caller lines written apart from
the flows (``python -m bench.understanding --calibrate``), not by hand.
:class:`Matcher` turns a caller's words into the interpreter's
:class:`~flows.interpreter.Utterance`, given what the state listens for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any

from flows.interpreter import CONFIRM_SLOT, Listen, Utterance
from flows.model import Flow, SlotSpec
from flows.nlu.elsewhere import Elsewhere, elsewhere_for
from flows.nlu.encoder import EncoderUnavailable, SentenceEncoder, shared
from flows.nlu.intents import IntentIndex, IntentScore
from flows.nlu.semantic import SemanticIndex
from flows.nlu.slots import parser_for
from flows.nlu.spoken_keys import spoken_key
from flows.nlu.yes_no import nothing_more, plain, plain_yes

__all__ = ["IntentIndex", "IntentScore", "Matcher"]

# Chosen on bench/data/understanding/dev.jsonl by `python -m bench.understanding --calibrate`.
SEMANTIC_WEIGHT = 0.6  # of the blended score; the rest is the lexical matcher's
THRESHOLD = 0.17  # a blended score below it is "none of these"
# Where a state collects a slot, its answer comes first: a global intent there ("agent",
# "repeat") must be clear, or "no, don't do that" would be a weak "repeat".
SLOT_STATE_THRESHOLD = 0.5
# A caller this much nearer to a request elsewhere than to the best intent asked for that.
ELSEWHERE_MARGIN = 0.08


class Matcher:
    def __init__(
        self,
        flow: Flow,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
        encoder: SentenceEncoder | None = None,
        semantic: bool = True,
    ) -> None:
        """``semantic=False``, or no embedding model installed: words alone."""
        self.flow = flow
        # An intent one of whose examples is a plain yes ("yes please" to "Would you like
        # to book?") takes a caller's yes in any form.
        self.yes_intents = {
            k for k, v in flow.intents.items() if any(plain_yes(e) for e in v.examples)
        }
        self.index = IntentIndex({k: v.examples for k, v in flow.intents.items()})
        self.today = today
        self.day_first = flow.locale != "en-US"
        self.weight, self.threshold, self.margin = SEMANTIC_WEIGHT, THRESHOLD, ELSEWHERE_MARGIN
        self.semantic: SemanticIndex | None = None
        self.elsewhere: Elsewhere | None = None
        if semantic:
            sentences = {
                k: [*v.examples, *filter(None, [v.description])] for k, v in flow.intents.items()
            }
            try:
                self.semantic = SemanticIndex(sentences, encoder or shared())
            except EncoderUnavailable:
                return
            own = [t for ts in sentences.values() for t in ts]
            self.elsewhere = elsewhere_for(self.semantic.encoder, tuple(own))

    def intent(self, text: str, allowed: Iterable[str] | None = None) -> IntentScore:
        """The best allowed intent for ``text``, or None below the threshold."""
        yes = [k for k in self.yes_intents if allowed is None or k in allowed]
        said = plain(text)
        if nothing_more(text):
            return IntentScore(None, 0.0)
        if said is True and len(yes) == 1:
            return IntentScore(yes[0], 1.0)
        if said is False:  # "no, that's all": whatever was asked, no request in it
            return IntentScore(None, 0.0)
        if self.semantic is None:
            return self.index.score(text, allowed)
        allowed = None if allowed is None else tuple(allowed)
        words = self.index.similarities(text, allowed)
        meaning = self.semantic.similarities(text, allowed)
        w = self.weight
        blended = {
            k: w * meaning.get(k, 0.0) + (1 - w) * words.get(k, 0.0)
            for k in meaning.keys() | words.keys()
        }
        intent = max(blended, key=blended.__getitem__, default=None)
        top = blended[intent] if intent is not None else 0.0
        confidence = round(max(0.0, min(1.0, top)), 3)
        if intent is None or top < self.threshold:
            return IntentScore(None, confidence)
        if self.elsewhere is not None and self.elsewhere.score(text, w) > top + self.margin:
            return IntentScore(None, confidence)
        return IntentScore(intent, confidence)

    def match(self, text: str, listen: Listen | None = None) -> Utterance:
        """What ``text`` means in a state that listens for ``listen`` (all intents if None)."""
        allowed = listen.intents if listen is not None else None
        keyed = dict(listen.spoken_keys).get(spoken_key(text) or "") if listen else None
        if keyed is not None:
            return Utterance(text, keyed, {}, 1.0)
        scored = self.intent(text, allowed)
        if (
            listen is not None
            and listen.slot is not None
            and scored.confidence < SLOT_STATE_THRESHOLD
        ):
            scored = IntentScore(None, scored.confidence)
        slots: dict[str, Any] = {}
        if listen is not None and listen.slot is not None:
            value = self.slot_value(text, listen)
            if value is not None:
                slots[listen.slot] = value
        elif scored.intent is not None:
            slots = self.offered(text, scored.intent)
        confidence = scored.confidence if scored.intent else (1.0 if slots else scored.confidence)
        return Utterance(text, scored.intent, slots, confidence)

    def understands(self, text: str, listen: Listen | None) -> bool:
        """Whether ``text`` answers the state: an intent it listens for, or its slot."""
        understood = self.match(text, listen)
        return understood.intent is not None or bool(understood.slots)

    def slot_value(self, text: str, listen: Listen) -> Any:
        """The value of the slot the state collects, if ``text`` holds one (no intent
        scoring: cheap enough for every partial transcript)."""
        if listen.slot is None:
            return None
        spec = (
            SlotSpec(type="yes_no") if listen.slot == CONFIRM_SLOT else self.flow.slots[listen.slot]
        )
        return parser_for(spec, self.today, day_first=self.day_first)(text)

    def offered(self, text: str, intent: str) -> dict[str, Any]:
        """Values of the intent's own slots that came with the request."""
        intent_spec = self.flow.intents.get(intent)
        found: dict[str, Any] = {}
        for name in intent_spec.slots if intent_spec is not None else ():
            spec = self.flow.slots[name]
            value = parser_for(spec, self.today, within=True, day_first=self.day_first)(text)
            if value is not None:
                found[name] = value
        return found
