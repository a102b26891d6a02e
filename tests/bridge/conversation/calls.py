"""Helpers to run example-flow calls on the local engine with a virtual caller."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge.conversation.lookups import StaticLookup
from bridge.conversation.runtime import CallRuntime
from bridge.engines.local.engine import LocalEngine
from bridge.events.schema import Envelope
from bridge.legs.virtual import Keys, Silence, Speak, Step, VirtualLeg, phone_line, run_call
from flows.loader import load, loads
from flows.model import Flow
from harness.audio import VOICES, Voice, synthesize

EXAMPLES = Path(__file__).resolve().parents[3] / "flows" / "examples"
CARDS = load(EXAMPLES / "card_services.yaml")
APPTS = load(EXAMPLES / "appointments.yaml")


def _brief_cards() -> Flow:
    """The card line with a one-word greeting and a short menu question: the same states,
    intents and keys, for calls in real time (the caller is asked after ~2 s, not ~10)."""
    text = (EXAMPLES / "card_services.yaml").read_text()
    for long, short in [
        ("Thank you for calling {bank_name} card services.", "Hello."),
        (
            "Would you like your balance, to report a lost or stolen card, or to speak to an"
            " agent? You can also press 1, 2 or 0.",
            "Balance, lost card, or an agent?",
        ),
    ]:
        assert long in text, long
        text = text.replace(long, short)
    return loads(text, "card_services (brief)")


BRIEF_CARDS = _brief_cards()
VERIFY = "http://crm.internal/cards/verify"
BOOK = "http://scheduler.internal/bookings"
ENGINE: LocalEngine | None = None
TUESDAY_10AM = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # the clinic is open


def engine() -> LocalEngine:
    global ENGINE
    if ENGINE is None:
        ENGINE = LocalEngine()
    return ENGINE


def script(*lines: str, voice: Voice = VOICES[1]) -> list[Step]:
    """Caller lines as in `callbridge call --say`: `#12` keys, `.silence` a no-input."""
    out: list[Step] = []
    for line in lines:
        if line.startswith("#"):
            out.append(Keys(line[1:]))
        elif line == ".silence":
            out.append(Silence(9000))
        else:
            out.append(Speak(phone_line(synthesize(line, voice)), line))
    return out


class Call:
    def __init__(self, runtime: CallRuntime, leg: VirtualLeg, events: list[Envelope]) -> None:
        self.runtime, self.leg, self.events = runtime, leg, events

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.type == kind]

    @property
    def path(self) -> list[str]:
        return self.runtime.result.path

    def said(self, speaker: str) -> list[str]:
        return [e.text for e in self.of("transcript.final") if e.speaker == speaker]


async def call(flow: Any, steps: list[Step], answers: dict[str, Any] | None = None,
               record: Path | None = None, recording_failed: Any = None,
               **leg_options: Any) -> Call:  # fmt: skip
    events: list[Envelope] = []
    leg = VirtualLeg(steps, **leg_options)
    runtime = await run_call(
        flow,
        engine(),
        leg,
        emit=events.append,
        lookup=StaticLookup(answers or {}),
        clock=lambda: TUESDAY_10AM,
        record=record,
        recording_failed=recording_failed,
    )
    return Call(runtime, leg, events)
