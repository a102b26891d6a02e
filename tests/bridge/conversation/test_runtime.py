"""Whole calls on the local engine: synthesised callers over a mu-law line drive the
example flows; what the bot says is recognised back from its audio."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal

import numpy as np
import pytest

from bridge.conversation.lookups import StaticLookup
from bridge.engines.base import EngineError, EngineSession
from bridge.engines.local.asr import Recognizer
from bridge.engines.local.grammar import Constraint, words_of
from bridge.legs.virtual import HangUp, Silence, Speak, VirtualLeg, phone_line, run_call
from harness.audio import VOICES, synthesize
from media.format import FRAME_MS, HOUSE_FRAME
from tests.bridge.conversation.calls import (
    APPTS,
    BOOK,
    BRIEF_CARDS,
    CARDS,
    VERIFY,
    Call,
    call,
    engine,
    script,
)

VERIFIED = {VERIFY: {"verified": True, "status": "active", "balance": 250}}


def bot_audio_says(c: Call) -> list[tuple[str, str]]:
    """(what the bot meant to say, what ASR hears in its audio) for each finished prompt."""
    prompts = [
        e
        for e in c.of("transcript.final")
        if e.speaker == "bot"
        and not e.interrupted
        and e.text != "[sensitive]"
        and not any(ch.isdigit() for ch in e.text)
    ]
    phrases = sorted({" ".join(words_of(e.text)) for e in prompts})
    bot_prompts = Constraint.one_of(phrases)
    rec = Recognizer()
    pcm = c.leg.bot_pcm
    out = []
    for e in prompts:
        a, b = (e.start_ms // FRAME_MS - 1) * HOUSE_FRAME, (e.end_ms // FRAME_MS) * HOUSE_FRAME
        rec.begin(bot_prompts)
        rec.feed(np.concatenate([np.zeros(4800, np.int16), pcm[a:b], np.zeros(8000, np.int16)]))
        out.append((" ".join(words_of(e.text)), rec.finish().text))
    return out


@pytest.mark.parametrize("voice", VOICES[:3], ids=lambda v: f"hibari-{v.speed}")
async def test_balance_by_voice_and_keys(voice) -> None:  # type: ignore[no-untyped-def]
    c = await call(
        CARDS,
        script(
            "what is my balance", "the fourth of July nineteen eighty two", "#4111#", voice=voice
        ),
        VERIFIED,
    )
    assert c.path[:6] == ["greet", "menu", "for_balance", "identify", "ask_dob", "ask_card"]
    assert "balance" in c.path and c.path[-1] == "anything_else"
    assert next(e.intent for e in c.of("flow.intent")) == "balance"
    assert "Your available balance is 250 pounds." in c.said("bot")
    partials = c.of("transcript.partial")
    assert partials and all(p.speaker == "caller" and p.start_ms is not None for p in partials)
    assert c.of("call.dtmf")[0].digits == "[sensitive]"  # the card digits never leave
    assert "4111" not in " ".join(e.model_dump_json(exclude={"ts"}) for e in c.events)
    heard = bot_audio_says(c)
    assert len(heard) >= 4 and all(meant == got for meant, got in heard), heard


async def test_lost_card_with_noise_and_a_yes() -> None:
    c = await call(
        CARDS,
        script("my card was stolen", "twelfth of March nineteen ninety", "#1234#", "yes please"),
        {VERIFY: {"verified": True, "status": "active"}},
        noise_dbfs=-45,  # white noise ~25 dB below the speech
    )
    assert "block_card" in c.path and "blocked" in c.path
    assert "Done. Your card is blocked and a new one is on its way." in c.said("bot")


async def test_appointment_with_a_read_back() -> None:
    c = await call(
        APPTS,
        script("I want to book an appointment", "next Tuesday", "yes", "in the morning", "yes"),
        {BOOK: {"reference": "AB12"}},
    )
    assert c.path[-2:] == ["booking", "booked"]
    assert any("reference is AB12" in t for t in c.said("bot"))
    assert c.runtime.result.outcome == "completed"


async def test_dtmf_menu_and_silence_escalation() -> None:
    c = await call(CARDS, script("#2", ".silence", ".silence", ".silence"))
    assert c.path[:3] == ["greet", "menu", "for_lost_card"]
    said = c.said("bot")
    assert "Sorry, I didn't hear anything." in said and "Are you still there?" in said
    assert c.path[-1] == "to_agent" and c.leg.transfers[0].queue == "cards"


async def test_barge_in_clears_the_bot_within_the_frame() -> None:
    interrupt = Speak(phone_line(synthesize("talk to a person", VOICES[1])), barge_in_after_ms=1500)
    c = await call(CARDS, [interrupt])
    [barge] = c.of("call.barge_in")
    assert 1000 <= barge.played_ms < 3400  # the greeting was cut short
    cut = [e for e in c.of("transcript.final") if e.speaker == "bot" and e.interrupted]
    assert (
        cut and cut[0].text and cut[0].text != "Thank you for calling Example Bank card services."
    )
    assert c.leg.cleared >= 1
    # from the frame the VAD fired, the next bot frame is silence
    onset_frame = barge.at_ms // FRAME_MS
    fired = next(
        i for i in range(onset_frame, len(c.leg.bot_audio)) if not c.leg.bot_audio[i].any()
    )
    figures = c.runtime.barge_ins[0]
    assert figures["vad_to_silent_us"] < 20_000
    assert (fired - onset_frame) * FRAME_MS <= figures["onset_to_silent_ms"] + FRAME_MS
    # the interruption is the caller's turn, recognised and handed to the flow
    caller = [e for e in c.of("transcript.final") if e.speaker == "caller"]
    assert caller and caller[0].start_ms == barge.at_ms


async def test_transfer_keeps_transcribing_the_caller() -> None:
    steps = script("talk to a person") + script("my card was stolen yesterday")
    c = await call(CARDS, steps, transfer_ok=True, hang_up_when_done=True)
    assert c.path[-1] == "to_agent"
    statuses = [e.status for e in c.of("call.transfer")]
    assert statuses == ["requested", "connected"]
    after = c.events.index(c.of("call.transfer")[-1])
    later = [e for e in c.events[after:] if e.type == "transcript.final" and e.speaker == "caller"]
    assert later, "nothing transcribed after the transfer"
    assert c.runtime.result.outcome == "transferred"


class FailingSession(EngineSession):
    """The real local session, made to fail at a chosen step (fault injection)."""

    def __init__(self, inner: EngineSession, fail_on: str, after: int = 0) -> None:
        self.inner, self.fail_on, self.after, self.calls = inner, fail_on, after, 0

    def _maybe_fail(self, what: str) -> None:
        if what == self.fail_on:
            self.calls += 1
            if self.calls > self.after:
                raise EngineError(f"{what} broke")

    def listen(self, listen):  # type: ignore[no-untyped-def]
        self.inner.listen(listen)

    def push(self, frame, line=None):  # type: ignore[no-untyped-def]
        self.inner.push(frame, line)

    async def partial(self) -> str:
        return await self.inner.partial()

    async def finish(self):  # type: ignore[no-untyped-def]
        self._maybe_fail("finish")
        return await self.inner.finish()

    async def speak(self, text, sensitive=False):  # type: ignore[no-untyped-def]
        async for chunk in self.inner.speak(text, sensitive):
            self._maybe_fail("speak")
            yield chunk

    async def close(self) -> None:
        await self.inner.close()


class FailingEngine:
    name = "local"

    def __init__(self, fail_on: str, after: int = 0) -> None:
        self.fail_on, self.after = fail_on, after

    async def open(self, call_id, flow, line=None):  # type: ignore[no-untyped-def]
        return FailingSession(await engine().open(call_id, flow), self.fail_on, self.after)


async def test_a_call_is_over_once_its_engine_session_is_closed() -> None:
    """The CLI's loop ends when run_call returns: a close still under way would be
    dropped, and an OpenAI socket left open."""
    closed: list[bool] = []

    class SlowToClose(FailingSession):
        async def close(self) -> None:
            await asyncio.sleep(0.2)
            await self.inner.close()
            closed.append(True)

    class Engine:
        name = "local"

        async def open(self, call_id, flow, line=None):  # type: ignore[no-untyped-def]
            return SlowToClose(await engine().open(call_id, flow), fail_on="")

    leg = VirtualLeg(script("#0"))
    await run_call(CARDS, Engine(), leg, emit=lambda e: None, lookup=StaticLookup({}))  # type: ignore[arg-type]
    assert closed == [True]


def trimmed(text: str) -> np.ndarray:
    """A phone line's speech without the voice's own silence at either end."""
    pcm = phone_line(synthesize(text, VOICES[1]))
    loud = np.flatnonzero(np.abs(pcm) > 500)
    return pcm[loud[0] : loud[-1] + 1]


def paused(first: str, ms: int, then: str) -> np.ndarray:
    return np.concatenate([trimmed(first), np.zeros(16 * ms, np.int16), trimmed(then)])


class PausesSeen(FailingSession):
    """The real local session, and what the runtime told it of the caller's pauses."""

    def __init__(self, inner: EngineSession) -> None:
        super().__init__(inner, fail_on="")
        self.pauses: list[bool] = []

    def caller_paused(self, paused: bool) -> None:
        self.pauses.append(paused)
        self.inner.caller_paused(paused)


async def test_the_engine_hears_of_a_pause_and_of_the_caller_going_on() -> None:
    """A pause shorter than the hangover: the engine may start on the turn, is told
    when the caller speaks again, and the turn is heard whole."""
    seen: list[PausesSeen] = []

    class Engine:
        name = "local"

        async def open(self, call_id, flow, line=None):  # type: ignore[no-untyped-def]
            seen.append(PausesSeen(await engine().open(call_id, flow)))
            return seen[-1]

    # 250 ms: > PAUSE_MS, < the 550 ms hangover
    leg = VirtualLeg([Speak(paused("I would like", 250, "to check my balance"), "")])
    events: list = []  # type: ignore[type-arg]
    await run_call(CARDS, Engine(), leg, emit=events.append, lookup=StaticLookup({}))  # type: ignore[arg-type]
    pauses = seen[0].pauses
    assert pauses[:2] == [True, False] and pauses[-1] is True, pauses
    assert all(a != b for a, b in itertools.pairwise(pauses)), pauses
    [first] = [e.text for e in events if e.type == "transcript.final" and e.speaker == "caller"][:1]
    assert {"like", "balance"} <= set(words_of(first)), first


class PrefixHeard(FailingSession):
    """The real session, but its streaming words are a prefix that matches an intent
    outright: the cut-off callers met."""

    async def partial(self) -> str:
        return "agent"


async def test_a_prefix_does_not_end_the_turn_at_a_pause() -> None:
    """The caller pauses 450 ms (under the hangover) mid-sentence. Words so far that
    match an intent outright do not end the turn early: the caller is heard whole."""

    class Engine:
        name = "local"

        async def open(self, call_id, flow, line=None):  # type: ignore[no-untyped-def]
            return PrefixHeard(await engine().open(call_id, flow), fail_on="")

    said = paused("speak to", 450, "someone about my card")  # the VAD holds ~100 ms of it
    leg = VirtualLeg([Speak(said, ""), HangUp()], realtime=True)
    events: list = []  # type: ignore[type-arg]
    await run_call(BRIEF_CARDS, Engine(), leg, emit=events.append, lookup=StaticLookup({}))  # type: ignore[arg-type]
    finals = [e.text for e in events if e.type == "transcript.final" and e.speaker == "caller"]
    assert "someone" in words_of(finals[0]), finals


@pytest.mark.parametrize(
    ("first", "then", "key"),
    [
        ("how much money is", "in my current account", "current"),
        ("is there any chance", "I could talk to someone", "someone"),
    ],
)
async def test_a_pause_mid_sentence_holds_the_turn_open(first: str, then: str, key: str) -> None:
    """800 ms of pause, past the 550 ms hangover: after words that stop mid-sentence,
    or that ask for nothing the state offers yet, the turn waits for the rest."""
    leg = VirtualLeg([Speak(paused(first, 800, then), ""), HangUp()], realtime=True)
    events: list = []  # type: ignore[type-arg]
    await run_call(BRIEF_CARDS, engine(), leg, emit=events.append, lookup=StaticLookup({}))
    finals = [e.text for e in events if e.type == "transcript.final" and e.speaker == "caller"]
    assert len(finals) == 1, finals
    assert key in words_of(finals[0]), finals


@pytest.mark.parametrize(("pause_ms", "one_turn"), [(800, True), (2000, False)])
async def test_a_caller_who_goes_on_before_the_reply_is_heard_is_one_turn(
    pause_ms: int, one_turn: bool
) -> None:
    """ "I lost my card" is a whole request: the turn ends at the pause and the flow
    moves on. A caller who goes on before any of the reply reached them ("…on the
    bus") has the reply dropped, the flow stepped back, and both parts understood as
    one turn; a caller who spoke over a reply they heard interrupts it (barge-in)."""
    said = paused("I lost my card", pause_ms, "on the bus")
    leg = VirtualLeg([Speak(said, ""), Silence(4000), HangUp()], realtime=True)
    events: list = []  # type: ignore[type-arg]
    rt = await run_call(BRIEF_CARDS, engine(), leg, emit=events.append, lookup=StaticLookup({}))
    finals = [e for e in events if e.type == "transcript.final" and e.speaker == "caller"]
    assert [f.continues for f in finals] == [False, one_turn], [f.text for f in finals]
    assert rt.result.path.count("for_lost_card") == 1, rt.result.path
    barged = [e for e in events if e.type == "call.barge_in"]
    assert bool(barged) is not one_turn, barged
    if one_turn:  # the reply to the whole sentence was said whole, once
        bot = [e.text for e in events if e.type == "transcript.final" and e.speaker == "bot"]
        assert bot.count("First, a quick security check.") == 1, bot


@pytest.mark.parametrize(("fail_on", "after"), [("finish", 0), ("speak", 3)])
async def test_engine_failure_falls_back_to_a_person_never_silence(
    fail_on: str, after: int
) -> None:
    events: list = []  # type: ignore[type-arg]
    leg = VirtualLeg(script("what is my balance", "the fourth of July nineteen eighty two"))
    rt = await run_call(
        CARDS, FailingEngine(fail_on, after), leg, emit=events.append, lookup=StaticLookup({})
    )  # type: ignore[arg-type]
    [failed] = [e for e in events if e.type == "engine.failed"]
    assert failed.fallback == "transfer" and "broke" in failed.reason
    assert rt.result.path[-1] == "to_agent" and leg.transfers[0].queue == "cards"
    # from the failure to the transfer the caller hears the fallback prompt, not silence
    at = next(i for i, e in enumerate(events) if e.type == "engine.failed")
    assert next(e.status for e in events[at:] if e.type == "call.transfer") == "requested"
    [sorry] = [e for e in events[at:] if e.type == "transcript.final" and e.speaker == "bot"]
    assert sorry.text == "Sorry, we're having technical trouble."
    heard = np.concatenate(leg.bot_audio[sorry.start_ms // FRAME_MS : sorry.end_ms // FRAME_MS])
    assert np.abs(heard.astype(np.int32)).max() > 1000


async def test_a_caller_who_hangs_up_mid_sentence_keeps_their_words() -> None:
    """The BYE can come before the endpointer's hangover: what was said is still the
    caller's last turn in the transcript (the flow, with nobody left, does nothing)."""
    events: list = []  # type: ignore[type-arg]
    said = phone_line(synthesize("my card was stolen yesterday evening", VOICES[1]))
    cut = np.flatnonzero(np.abs(said) > 500)[-1] - 3200  # gone 200 ms before the last word ends
    leg = VirtualLeg([Speak(said[:cut], "my card was stolen yesterday eve"), HangUp()])
    rt = await run_call(CARDS, engine(), leg, emit=events.append, lookup=StaticLookup({}))
    kinds = [e.type for e in events]
    [last] = [e for e in events if e.type == "transcript.final" and e.speaker == "caller"]
    assert "card" in last.text and kinds.index("transcript.final") < kinds.index("call.ended")
    assert kinds[-1] == "call.ended" and rt.result.outcome == "abandoned"
    assert "flow.intent" not in kinds and rt.result.path[-1] == "menu"


class CrashingEngine:
    """The real local engine, whose recognition process dies (as it would of a crash in
    the decoder's C code) as soon as the caller's first turn opens."""

    name = "local"

    async def open(self, call_id, flow, line=None):  # type: ignore[no-untyped-def]
        session = await engine().open(call_id, flow)
        listen = session.listen

        def listen_then_crash(turn):  # type: ignore[no-untyped-def]
            listen(turn)
            os.kill(session.process.forked.result(), signal.SIGKILL)

        session.listen = listen_then_crash
        return session


async def test_a_recogniser_crash_ends_in_the_fallback_not_silence() -> None:
    events: list = []  # type: ignore[type-arg]
    leg = VirtualLeg(script("what is my balance"))
    rt = await run_call(CARDS, CrashingEngine(), leg, emit=events.append, lookup=StaticLookup({}))  # type: ignore[arg-type]
    [failed] = [e for e in events if e.type == "engine.failed"]
    assert "recognition" in failed.reason and failed.fallback == "transfer"
    assert rt.result.path[-1] == "to_agent" and leg.transfers[0].queue == "cards"
    [sorry] = [e for e in events if e.type == "transcript.final" and e.speaker == "bot"][-1:]
    assert sorry.text == "Sorry, we're having technical trouble."


async def test_a_flow_without_fallback_says_sorry_and_hangs_up() -> None:
    flow = CARDS.model_copy(update={"fallback": None})
    events: list = []  # type: ignore[type-arg]
    leg = VirtualLeg(script("what is my balance"))
    rt = await run_call(
        flow, FailingEngine("finish"), leg, emit=events.append, lookup=StaticLookup({})
    )  # type: ignore[arg-type]
    assert rt.result.outcome == "failed" and leg.hung_up_by_bridge and not leg.transfers
    assert next(e for e in events if e.type == "engine.failed").fallback == "hangup"
