"""The caller's turn as every part of the call sees it.

What the flow waits for (``listen``), whether a caller turn is open and being
recognised or already being understood, where the caller is in speaking (the
endpointer), the recent audio an opening turn hands the engine, and the last turn
the flow acted on while the caller may still go on with it. The caller's side
(:mod:`bridge.conversation.turns`) moves it frame by frame; the flow's actions open
and close turns on it; the bot's side reads when the caller's speech began.
"""

from __future__ import annotations

import numpy as np

from bridge.conversation.context import CallContext
from bridge.conversation.continuation import Continuation
from bridge.conversation.digits import Digits
from flows import interpreter as fi
from media.endpoint import EndpointConfig, Endpointer
from media.format import HOUSE_FRAME
from media.inbound import InboundAudio
from media.line_codec import LineCodec

LEAD_IN_FRAMES = 15  # audio before the VAD fired that recognition still gets (300 ms)
# pocketsphinx mistakes the first word when speech starts at once (the mu-law line's
# "talk to a person" heard as "uh how do a card can"): each turn starts on silence.
SILENT_START = np.zeros((15, HOUSE_FRAME), np.int16)


class Floor:
    def __init__(self, ctx: CallContext, endpoint: EndpointConfig, line: LineCodec | None) -> None:
        self.ctx = ctx
        # A carrier's frames are examined at the line's own rate and made house format
        # only while the engine hears them (media.inbound); the recording keeps the line's.
        self.audio = InboundAudio(line, LEAD_IN_FRAMES)
        self.endpointer = Endpointer(1, endpoint)
        self.listen: fi.Listen | None = None
        self.open = False  # a caller turn is being recognised
        self.paused = False  # the caller went quiet within the open turn (caller_paused)
        self.handling = False  # a finished turn is being understood
        self.quiet = 0  # frames of nobody speaking while we wait for the caller
        self.digits = Digits()
        self.continuation = Continuation()
        self.speech_start_ms = 0  # on the audio timeline
        self.speech_start_clock = 0  # the same moment on the call clock
        self.last_partial = ""  # the words last shown of the speech under way

    @property
    def in_speech(self) -> bool:
        """The caller is talking (by the endpointer)."""
        return bool(self.endpointer.in_speech[0])

    def speech_started(self) -> None:
        self.speech_start_ms = int(self.endpointer.speech_start_ms[0])
        # The same moment on the call clock (the audio timeline and the wall clock of a
        # real-time leg drift apart): what the barge-in's stop time is measured from.
        ctx = self.ctx
        self.speech_start_clock = ctx.now_ms() - (ctx.audio_ms - self.speech_start_ms)
        self.last_partial = ""
        self.quiet = 0

    def open_turn(self, listen: fi.Listen, onset: bool = True) -> None:
        """``onset``: give the engine what the caller is already saying (the speech
        started before the turn opened)."""
        self.listen = listen
        self.quiet = 0
        self.digits.clear()
        self.open = True
        self.paused = False
        self.ctx.session.listen(listen)
        if onset and self.in_speech:
            self.push_onset()  # the caller is already talking: give them what they said

    def push_onset(self) -> None:
        """Silence, then the recent frames: the onset the VAD needed to be sure."""
        session = self.ctx.session
        for f in SILENT_START:
            session.push(f)
        for f in self.audio.lead_in():
            session.push(f)

    def close(self) -> None:
        """No caller turn, and none awaited (the fallback speaks next)."""
        self.listen, self.open, self.handling = None, False, False
