"""What callers ask contact centres for, across trades: the "none of these" side.

An embedding puts "I need to activate my new card" near "I lost my card": same
topic, another request. A threshold on the nearest intent alone cannot tell them
apart. These requests compete with the state's intents: a caller nearer to one of
them than to anything the state handles asked for something else. Any of them that
means what one of the flow's own intents means is left out for that flow
(:func:`for_flow`), so a flow that does handle bills keeps its bill payers.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from flows.nlu.encoder import SentenceEncoder, Vectors
from flows.nlu.intents import IntentIndex

# Too close to a flow's own sentence to count against it.
OVERLAP = 0.72

REQUESTS: tuple[str, ...] = (
    # money and accounts
    "I want to pay my bill", "I'd like to make a payment", "pay off my credit card",
    "transfer money to another account", "send money abroad", "set up a direct debit",
    "cancel a standing order", "open a new account", "close my account",
    "apply for a loan", "ask about my mortgage", "increase my credit limit",
    "what are your interest rates", "dispute a charge on my statement",
    "there's a payment I don't recognise", "report fraud on my account",
    "money has gone out of my account that I didn't take",
    "my card was declined", "activate my new card", "my card has expired",
    "my card is damaged and doesn't work", "my card is broken, I need a replacement",
    "my new card hasn't arrived", "my replacement card still hasn't come",
    "I found my card again, please unblock it",
    "my card details were used online but I still have the card",
    "I'm going abroad, so make sure my card works there", "I forgot my PIN",
    "reset my online banking password",
    "order a new chequebook", "request a statement", "what fees do you charge",
    "tell you I'm travelling abroad", "update my address", "change my phone number",
    "change my name on the account", "update my email address", "make a complaint",
    "where is my nearest branch", "add someone to my account",
    # appointments, health and services
    "cancel my appointment", "move my appointment to another day",
    "change the time of my appointment", "I'm running late for my appointment",
    "I can't make my appointment",
    "what time is my appointment", "get my test results", "order a repeat prescription",
    "I need a sick note", "register as a new patient", "request a letter from the doctor",
    "it's an emergency", "someone is seriously ill and needs help now",
    "I have chest pain and can't breathe", "what are your opening hours", "where are you located",
    "is there parking", "request my medical records",
    # orders, utilities and telecoms
    "track my order", "return an item", "I want a refund", "cancel my subscription",
    "my internet is not working", "upgrade my phone", "submit a meter reading",
    "report a power cut", "change my tariff", "book a delivery", "my parcel hasn't arrived",
    # the call itself
    "no that's all thanks", "nothing else goodbye", "wrong number", "I'm just browsing",
    "what's the weather like", "who am I speaking to",
)  # fmt: skip


class Elsewhere:
    """The requests that stay competitors for one flow, scored as an intent is: by
    meaning and by words, blended."""

    def __init__(self, encoder: SentenceEncoder, own: Sequence[str]) -> None:
        self.encoder = encoder
        vectors = encoder.encode(REQUESTS)
        kept = list(REQUESTS)
        if own:
            overlap = (vectors @ encoder.encode(own).T).max(axis=1)
            kept = [r for r, o in zip(REQUESTS, overlap.tolist(), strict=True) if o < OVERLAP]
            vectors = vectors[overlap < OVERLAP]
        self.vectors: Vectors = vectors
        self.words = IntentIndex({"elsewhere": kept})

    def nearest(self, text: str) -> float:
        """Cosine similarity of ``text`` to the closest request elsewhere."""
        if not len(self.vectors) or not text.strip():
            return 0.0
        return float(np.max(self.vectors @ self.encoder.encode([text])[0]))

    def score(self, text: str, weight: float) -> float:
        """The closest request elsewhere, blended as the matcher blends an intent's."""
        lexical = self.words.similarities(text).get("elsewhere", 0.0)
        return weight * self.nearest(text) + (1 - weight) * lexical


@lru_cache(maxsize=64)
def elsewhere_for(encoder: SentenceEncoder, own: tuple[str, ...]) -> Elsewhere:
    """One per flow (its own sentences) and encoder: every call of a flow builds its
    matchers, and the requests that stay are the same each time."""
    return Elsewhere(encoder, own)
