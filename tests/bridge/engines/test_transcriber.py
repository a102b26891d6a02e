"""Whisper hears what callers say in their own words: a menu answer no example has, a
free-text turn, an answer a slot's grammar does not fit. pocketsphinx stays the
streaming half and has the last word where a grammar fits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bridge.engines.base import EngineSession
from bridge.engines.local.engine import LocalEngine, LocalSession, last_word
from bridge.engines.local.grammar import words_of
from bridge.engines.local.transcriber import Transcriber, Transcript, without_loops
from flows.interpreter import CONFIRM_SLOT, Interpreter, Listen
from flows.nlu.slots import parse_yes_no
from harness.audio import VOICES, synthesize
from media.format import HOUSE_FRAME, HOUSE_RATE
from media.line import phone_line
from tests.bridge.conversation.calls import CARDS


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    t = Transcriber(workers=1)
    t.warm_up()
    return t


@pytest.fixture(scope="module")
def engine(transcriber: Transcriber) -> Iterator[LocalEngine]:
    engine = LocalEngine(prepare=False, transcriber=transcriber)
    yield engine
    engine.template().stop()


def line(text: str, voice: int = 1) -> np.ndarray:
    return phone_line(synthesize(text, VOICES[voice]))


def say(session: EngineSession, pcm: np.ndarray) -> None:
    for at in range(0, len(pcm) - HOUSE_FRAME + 1, HOUSE_FRAME):
        session.push(pcm[at : at + HOUSE_FRAME])


def menu() -> Listen:
    listen = Interpreter(CARDS).start()[-1]
    assert isinstance(listen, Listen)
    return listen


@pytest.mark.parametrize("voice", [0, 1, 2])
def test_a_paraphrase_over_mu_law_is_heard_word_for_word(
    transcriber: Transcriber, voice: int
) -> None:
    """ "taken" is in none of the menu's phrases: its language model can never hear it."""
    heard = transcriber.transcribe(line("my card was taken", voice))
    assert words_of(heard.text) == ["my", "card", "was", "taken"], heard


def test_silence_and_noise_are_not_words(transcriber: Transcriber) -> None:
    """On silence tiny.en says "you", sure of itself: its no-speech estimate says better."""
    assert transcriber.transcribe(np.zeros(HOUSE_RATE, np.int16)).text == ""
    noise = np.random.default_rng(1).normal(0, 300, 2 * HOUSE_RATE).astype(np.int16)
    assert transcriber.transcribe(noise).text == ""


def test_a_turn_longer_than_one_window_is_heard_whole(transcriber: Transcriber) -> None:
    first, last = line("I would like to check my account balance please"), line("thank you")
    gap = np.zeros(9 * HOUSE_RATE, np.int16)  # 11 s of turn: past the first 10 s window
    heard = words_of(transcriber.transcribe(np.concatenate([first, gap, last])).text)
    assert heard[:3] == ["i", "would", "like"] and heard[-2:] == ["thank", "you"], heard


def test_whisper_has_the_last_word_unless_it_is_unsure_and_means_nothing() -> None:
    sure, unsure = Transcript("What time do you close?", 0.05, -0.2), Transcript("Malin", 0.2, -1.3)
    never = lambda text: False  # noqa: E731
    assert last_word("right thank you", sure, never) == "What time do you close?"
    assert last_word("balance please", unsure, never) == "balance please"
    assert last_word("balance please", unsure, lambda text: True) == "Malin"
    assert last_word("", unsure, never) == "Malin"
    assert last_word("yes", None, never) == "yes"  # Whisper failed
    assert last_word("yes", Transcript("", 0.9, -2.0), never) == "yes"


def test_the_digit_grammar_wins_where_whisper_wrote_the_number_a_digit_short_or_over() -> None:
    never = lambda text: False  # noqa: E731
    sure = lambda text: Transcript(text, 0.05, -0.2)  # noqa: E731
    assert last_word("oh oh seven three", sure("It's 73."), never) == "oh oh seven three"
    assert last_word("six two eight eight", sure("62888"), never) == "six two eight eight"
    # A different number, or Whisper's already understood: Whisper's words stand.
    assert last_word("six two eight eight", sure("5193"), never) == "5193"
    assert last_word("two seven eight three", sure("73"), never) == "73"
    assert last_word("one two three four", sure("1234."), never) == "1234."
    assert last_word("oh seven three", sure("It's 73."), lambda t: True) == "It's 73."


async def test_a_menu_turn_is_understood_from_whisper(engine: LocalEngine) -> None:
    session = await engine.open("call-1", CARDS)
    assert isinstance(session, LocalSession)
    session.listen(menu())
    say(session, line("my card was taken"))
    heard = await session.finish()
    assert words_of(heard.text) == ["my", "card", "was", "taken"] and not heard.in_grammar
    await session.close()


async def test_a_question_at_a_yes_no_turn_is_not_a_yes(engine: LocalEngine) -> None:
    """A grammar fits whatever is said: pocketsphinx hears this question as "right
    thank you"."""
    session = await engine.open("call-2", CARDS)
    assert isinstance(session, LocalSession)
    confirm = Listen(state="confirm", slot=CONFIRM_SLOT, slot_type="yes_no")
    for said, meant in [("yes please", True), ("what time do you close on saturdays", None)]:
        session.listen(confirm)
        say(session, line(said))
        heard = await session.finish()
        assert parse_yes_no(heard.text) is meant, heard
    assert words_of(heard.text)[:3] == ["what", "time", "do"]
    await session.close()


async def test_a_pause_starts_whisper_early_and_speech_after_it_starts_it_again(
    engine: LocalEngine, transcriber: Transcriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    heard_samples: list[int] = []
    real = transcriber.transcribe

    def counted(pcm: np.ndarray) -> Transcript:
        heard_samples.append(len(pcm))
        return real(pcm)

    monkeypatch.setattr(transcriber, "transcribe", counted)
    session = await engine.open("call-4", CARDS)
    assert isinstance(session, LocalSession)
    session.listen(menu())
    said = line("I lost my card")
    say(session, said)
    session.caller_paused(True)
    say(session, np.zeros(HOUSE_RATE // 5, np.int16))  # the pause's silence
    heard = await session.finish()
    assert words_of(heard.text) == ["i", "lost", "my", "card"]
    spoken = len(said) // HOUSE_FRAME * HOUSE_FRAME
    assert heard_samples == [spoken]  # one pass, on what came before the pause

    session.listen(menu())
    first, second = line("I lost"), line("my card")
    say(session, first)
    session.caller_paused(True)
    session.caller_paused(False)  # the caller went on
    say(session, second)
    heard = await session.finish()
    both = (len(first) // HOUSE_FRAME + len(second) // HOUSE_FRAME) * HOUSE_FRAME
    assert sorted(heard_samples[1:]) == [len(first) // HOUSE_FRAME * HOUSE_FRAME, both]
    assert words_of(heard.text)[-2:] == ["my", "card"], heard
    await session.close()


async def test_when_whisper_fails_the_turn_keeps_pocketsphinx_words(
    engine: LocalEngine, transcriber: Transcriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(pcm: np.ndarray) -> Transcript:
        raise RuntimeError("no model")

    monkeypatch.setattr(transcriber, "transcribe", broken)
    session = await engine.open("call-3", CARDS)
    assert isinstance(session, LocalSession)
    session.listen(menu())
    say(session, line("I lost my card"))
    heard = await session.finish()
    assert heard.text == "i lost my card" and heard.in_grammar
    await session.close()


async def test_an_engine_whose_whisper_cannot_load_still_hears_callers(tmp_path: Path) -> None:
    """No model where one is expected: nothing is fetched, and calls go on with
    pocketsphinx's words alone."""
    with pytest.raises(FileNotFoundError, match="no Whisper model"):
        Transcriber(path=tmp_path).warm_up()
    engine = LocalEngine(transcriber=Transcriber(path=tmp_path))
    assert await asyncio.to_thread(engine.ready.wait, 120)
    warmed = engine._template is not None and engine._template.warmed.done()
    assert warmed, "the recogniser was not prepared beside the failed Whisper"
    try:
        session = await engine.open("call-5", CARDS)
        session.listen(menu())
        say(session, line("I lost my card"))
        assert (await session.finish()).text == "i lost my card"
        await session.close()
    finally:
        engine.template().stop()


@pytest.mark.parametrize(
    ("text", "want", "looped"),
    [
        ("I lost my card. I lost my card. I lost my card.", "I lost my card.", True),
        ("Balance. Balance. Balance. Balance. Balance. Balance. Balance.", "Balance.", True),
        ("four one one one four one one one four one", "four one one one", True),
        ("No, no, no.", "No, no, no.", False),  # said thrice: speech, not a loop
        ("1 1 1 1", "1 1 1 1", False),  # a real number may repeat its digits
        ("I lost my card at the station.", "I lost my card at the station.", False),
    ],
)
def test_a_decoding_loop_is_cut_to_one_copy(text: str, want: str, looped: bool) -> None:
    assert without_loops(text) == (want, looped)


def test_the_streaming_words_win_over_a_whisper_loop() -> None:
    loop = Transcript("Balance.", 0.1, -0.3, looped=True)
    assert last_word("balance please", loop, lambda text: True) == "balance please"
    assert last_word("", loop, lambda text: True) == "Balance."  # nothing better heard
