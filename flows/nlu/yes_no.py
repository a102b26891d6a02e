"""Yes, no or neither, in the many ways callers answer a yes/no question.

Words are read without punctuation (Whisper writes "Yes." and "No, thanks."), and
phrases before the words in them: "why not" and "no problem" are a yes, "I don't
think so" and "hold off" a no, "not sure" neither. A caller who corrects themselves
("no wait, yes") means the last thing said. Hedges that leave the answer open
("maybe", "let me check", a question back) are neither: the flow asks again rather
than act on a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

YES, NO, UNSURE = 1, -1, 0

# Each phrase is matched on whole words, longest first at every position.
PHRASES: Mapping[str, int] = {
    phrase: answer
    for answer, phrases in {
        YES: [
            "yes", "yeah", "yea", "yep", "yup", "ya", "yah", "yesh", "aye", "sure", "correct",
            "absolutely", "definitely", "affirmative", "certainly", "indeed", "exactly",
            "okay", "ok", "okey dokey", "alright", "all right", "uh huh", "mhm", "mm hmm",
            "go ahead", "go on", "go for it", "do it", "do that", "please do", "i do",
            "that is it", "that is right", "that is correct", "you are right", "you bet",
            "why not", "no problem", "no worries", "of course", "by all means",
            "sounds good", "sounds great", "sounds right", "that would be great",
            "that would be good", "that would be lovely", "perfect", "great", "lovely",
            "brilliant", "spot on", "grand", "that is grand", "i think so", "i guess so",
            "i suppose so",
            "i believe so", "i would like that", "yes please", "please block it",
            "go ahead and", "right on", "fine", "precisely", "confirmed", "confirm",
            "fine with that", "happy with that", "happy for you to", "that will do",
            "go and then", "go in then",  # "go on then", as Whisper writes it over a line
        ],
        NO: [
            "no", "nope", "nah", "naw", "negative", "incorrect", "wrong", "never",
            "not", "do not", "did not", "is not", "i do not", "i did not", "not right",
            "not correct",
            "not really", "not yet", "not now", "not at the moment", "not today",
            "no thanks", "no thank you", "no way", "i do not think so", "rather not",
            "would rather not", "hold off", "leave it", "i will pass", "pass",
            "do not bother", "not necessary", "no need", "that is wrong",
            "that is not it", "cancel that", "stop", "you are alright", "you are all right",
            "you are ok", "you are okay", "you are fine", "i am alright", "i am all right",
        ],
        UNSURE: [
            "not sure", "unsure", "not certain", "i do not know", "do not know", "dunno",
            "maybe", "perhaps", "possibly", "no idea", "let me think", "let me check",
            "hang on", "hold on", "one moment", "one sec", "just a sec", "wait a minute", "wait",
            "what happens", "what do you mean", "why", "how", "depends", "it depends",
            "not sure yet", "not really sure", "not too sure", "not quite sure",
            "not entirely sure",
        ],
    }.items()
    for phrase in phrases
}  # fmt: skip
# Taken only when nothing else decides: "please" alone is a yes, "right" may start a
# question ("right, and what happens then?").
WEAK: Mapping[str, int] = {"please": YES, "right": YES, "thanks": YES, "thank you": YES}
_LONGEST = max(len(p.split()) for p in [*PHRASES, *WEAK])
CONTRACTIONS = {
    "n't": " not", "'m": " am", "'re": " are", "'s": " is", "'d": " would",
    "'ll": " will", "'ve": " have", "that'd": "that would",
}  # fmt: skip


NEGATORS = frozenset(["not", "do not", "did not", "is not", "i do not", "i did not", "never"])
# A clause with one of these takes the answer back ("yes, actually, I don't want it").
CORRECTING = frozenset({"actually", "sorry", "wait", "no"})
# Asking for a moment, not doubting: after a no it keeps the no ("no, hang on, I think
# I've found it": don't block it), after a yes it takes the yes back.
MOMENTS = frozenset(["hang on", "hold on", "one moment", "one sec", "just a sec",
                     "wait a minute", "wait"])  # fmt: skip


def clauses(text: str) -> list[list[str]]:
    """Lower-case words with contractions spelled out, split where punctuation was."""
    t = text.lower().replace("\u2019", "'").replace("can't", "can not")
    t = t.replace("won't", "will not")
    for short, full in CONTRACTIONS.items():
        t = t.replace(short, full)
    parts = re.split(r"[,.;:!?]+|\s-\s", t)
    return [ws for part in parts if (ws := re.findall(r"[a-z0-9]+", part))]


# Asking for the very thing offered ("could you go ahead and book it?").
REQUEST = re.compile(
    r"(?:can|could|would|will) you (?:just |please |now )*(?:go ahead|do (?:it|that)|book it"
    r"|block it|carry on|crack on)\b"
)
WH_WORDS = frozenset({"what", "when", "where", "which", "who", "how"})  # not "why": "why not"
# A question back ("Will that stop my direct debits?") is neither, whatever its words.
QUESTION_STARTS = frozenset({
    "will", "would", "what", "how", "can", "could", "is", "are", "does", "do", "did",
    "why", "when", "where", "who", "which", "should", "shall",
})  # fmt: skip


def answer(text: str) -> bool | None:
    """True, False, or None when the words do not settle it."""
    found = clauses(text)
    moment_words = {w for p in MOMENTS for w in p.split()}
    if [w for ws in found for w in ws if w not in moment_words | FILLERS] == ["now"]:
        return False  # a lone "No." ("Wait, no.") over a phone line, as Whisper writes it
    # A question back, with its mark or, for a wh-word, without ("what time exactly")
    asked = found and (
        (text.rstrip().endswith("?") and found[0][0] in QUESTION_STARTS)
        or (found[0][0] in WH_WORDS and len(found[0]) > 1)
    )
    if asked and PHRASES.get(" ".join(found[0][:2])) not in (YES, NO):  # "Why not?" answers
        # "Can you just book it, please?" asks for what was offered: a yes
        return True if REQUEST.match(" ".join(w for ws in found for w in ws)) else None
    strong: list[int] = []
    weak: list[int] = []
    said: list[str] = []  # the strong phrases, in order
    corrected = False
    for words in found:
        negated = False  # "don't do that": a yes phrase right after a negator is a no
        corrected = corrected or bool(CORRECTING & set(words))
        answered = bool(strong) and not corrected
        i = 0
        while i < len(words):
            for n in range(min(_LONGEST, len(words) - i), 0, -1):
                phrase = " ".join(words[i : i + n])
                if phrase in PHRASES or phrase in WEAK:
                    value = PHRASES.get(phrase, WEAK.get(phrase, UNSURE))
                    if negated and value == YES:
                        value = NO
                    # "Yes, block it, I don't want anyone using it": once answered, a
                    # later clause's negator with more words after it gives a reason.
                    reason = answered and phrase in NEGATORS and i + n < len(words)
                    firm = phrase in PHRASES and not reason
                    (strong if firm else weak).append(value)
                    if firm:
                        said.append(phrase)
                    negated = phrase in NEGATORS
                    i += n
                    break
            else:
                negated = False
                i += 1
    # The last thing said settles it, a hedge included: "yes, hang on, let me check" is
    # neither, "hang on, not that day" is a no, "no, hang on" still a no.
    if strong and strong[-1] == UNSURE:
        last = max((i for i, v in enumerate(strong) if v != UNSURE), default=None)
        if last is not None and strong[last] == NO and set(said[last + 1 :]) <= MOMENTS:
            return False
        return None
    strong = [v for v in strong if v != UNSURE]
    decided = strong or weak
    if not decided:
        return None
    if text.rstrip().endswith("?") and not strong:
        return None  # "right?" is a question back, not an answer
    return decided[-1] == YES


def plain(text: str) -> bool | None:
    """True for nothing but a yes ("yes please", "Yeah."), False for nothing but a no
    ("Er, no, I don't think so."), None for anything with more in it."""
    said = answer(text)
    if said is None:
        return None
    words = {w for ws in clauses(text) for w in ws} - FILLERS
    lexicon = {
        w
        for p, v in [*PHRASES.items(), *WEAK.items()]
        if v == (YES if said else NO)
        for w in p.split()
    }
    if said is False:
        lexicon |= {"i", "think", "so", "that", "is", "all", "it", "thanks", "thank", "you"}
    return said if words and words <= lexicon else None


def plain_yes(text: str) -> bool:
    return plain(text) is True


FILLERS = frozenset({"um", "uh", "er", "erm", "ah", "oh", "hmm", "well"})


# "That's it, ta": the caller has nothing more to ask (and "that's it" to a read-back is a
# yes, so this is asked only where a request could come).
CLOSINGS = re.compile(
    r"^(?:(?:no|nope|nah|um|uh|er|erm|well|oh|right|okay|ok)\s+)*"
    r"(?:that is (?:it|all|everything)|nothing (?:else|more)|i am (?:all )?(?:done|sorted)"
    r"|all (?:done|sorted|good))"
    r"(?:\s+(?:for now|for today|now|then|really|thanks|thank you|ta|cheers|bye|goodbye"
    r"|very much|love|mate))*$"
)


def nothing_more(text: str) -> bool:
    return CLOSINGS.match(" ".join(w for ws in clauses(text) for w in ws)) is not None
