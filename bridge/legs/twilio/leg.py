"""One Twilio call: the bidirectional Media Stream bridged to a CallRuntime.

Caller audio (mu-law 8 kHz, ~50 messages a second) becomes 20 ms frames; for each
caller frame the bot's audio goes back to keep Twilio's buffer a few frames deep
(:mod:`bridge.legs.playback`), so `clear` silences the caller's line at once. Twilio
sends media all through the call, silence included, which makes the caller's stream
the call's clock. Transfer goes through the REST API; hang-up needs none.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fastapi import WebSocket
from twilio.twiml.voice_response import Dial, Start, VoiceResponse

from bridge import logs
from bridge.conversation.service import CallService
from bridge.legs.playback import BATCH, PlaybackTracker
from bridge.legs.tokens import Tokens
from bridge.legs.twilio import protocol as tp
from bridge.legs.twilio.rest import TwilioRest
from bridge.legs.websocket import CallLeg
from flows.interpreter import Transfer
from media.format import FRAME_MS
from media.line_codec import LineCodec

log = logs.get_logger(__name__)
FORK_WAIT_S = 30.0  # after a transfer, how long the listen-only fork may take to connect
CLOSE_GRACE_S = 0.1  # beyond what Twilio holds unplayed: the network's share


@dataclass(frozen=True)
class TwilioDeps:
    """What a Twilio stream and its fork use, handed over by the routes."""

    calls: CallService
    tokens: Tokens  # one-time tokens the webhooks issued
    rest: TwilioRest
    fork_url: str  # where Twilio opens the listen-only fork after a transfer
    forks: set[str]  # calls whose listen-only fork is connected


def transfer_twiml(target: Transfer, fork_url: str | None, token: str) -> str:
    """TwiML that hands the caller to a person, with a listen-only fork of both sides."""
    r = VoiceResponse()
    if fork_url:
        start = Start()
        start.stream(url=fork_url, track="both_tracks").parameter(name="token", value=token)
        r.append(start)
    if target.queue:
        r.enqueue(target.queue)
    else:
        dial = Dial()
        if target.sip:
            dial.sip(target.sip)
        else:
            dial.number(target.number or "")
        r.append(dial)
    return str(r)


class TwilioLeg(CallLeg):
    carrier = "twilio"

    def __init__(self, ws: WebSocket, deps: TwilioDeps) -> None:
        super().__init__(ws, LineCodec("pcmu", 8000))
        self.deps = deps
        self.stream_sid = ""
        self.call_sid = ""
        self.playback = PlaybackTracker()
        self._sending = False

    def _ids(self) -> dict[str, str]:
        return {"call_sid": self.call_sid}

    # -- LegControl -------------------------------------------------------------------

    def clear(self) -> int:
        if self.stream_sid:
            asyncio.get_running_loop().create_task(self._send_text(tp.clear(self.stream_sid)))
        return self.playback.clear()

    async def transfer(self, target: Transfer) -> bool:
        token = self.deps.tokens.issue(self.call_sid, fork_of=self.call_sid)
        twiml = transfer_twiml(target, self.deps.fork_url, token)
        self.transferred = await self.deps.rest.update(self.call_sid, twiml=twiml)
        return self.transferred

    def _unplayed_s(self) -> float:
        """The stream's TwiML goes on to ``<Hangup/>`` once the socket closes: what Twilio
        still holds (a few frames ahead) plays first."""
        return self.playback.queued_frames * FRAME_MS / 1000 + CLOSE_GRACE_S

    # -- the stream -------------------------------------------------------------------

    async def _text(self, text: str) -> bool:
        match tp.parse(text):
            case tp.Start() if self.runtime is not None:
                self._reject("a second start on a stream that carries a call")
            case tp.Start() as msg:
                return await self._start(msg)
            case tp.Media() as msg if self.runtime is not None:
                await self._feed(msg.audio())
            case tp.Dtmf() as msg if self.runtime is not None:
                self.runtime.dtmf(msg.dtmf.digit)
            case tp.Mark() as msg:
                self.playback.echoed(msg.mark.name)
            case tp.Stop():
                return False
        return True

    async def _start(self, msg: tp.Start) -> bool:
        info = msg.start
        fmt = info.mediaFormat
        if (fmt.encoding, fmt.sampleRate, fmt.channels) != ("audio/x-mulaw", 8000, 1):
            log.warning("twilio stream refused: unexpected audio format", format=fmt.model_dump())
            return False
        pending = self.deps.tokens.redeem(info.customParameters.get("token", ""))
        if pending is None or pending.call_sid != info.callSid:
            log.warning("twilio stream refused: unknown or reused token", call_sid=info.callSid)
            return False
        self.stream_sid, self.call_sid = info.streamSid, info.callSid
        await self._begin(self.deps.calls, info.callSid, pending)
        return True

    async def _frame(self, chunk: bytes) -> None:
        self.playback.tick()
        await super()._frame(chunk)
        await self._send_bot()

    async def _bot_ready(self) -> None:
        await self._send_bot()

    async def _send_bot(self) -> None:
        # Keep Twilio a few frames ahead (its buffer rides out a busy moment here), two
        # frames a message once it plays; marks tell how far it has really played.
        # Called on each caller frame and when a reply is ready; the flag keeps the two
        # from sending the same room twice.
        runtime, playback = self.runtime, self.playback
        if runtime is None or self._sending:
            return
        self._sending = True
        try:
            frames = []
            for _ in range(playback.room(BATCH)):
                bot = runtime.bot_payload()
                if bot is None:
                    break
                frames.append(bot)
            if frames:
                await self._send_text(tp.media(self.stream_sid, b"".join(frames)))
                mark = playback.sent(len(frames))
                if mark is not None:
                    await self._send_text(tp.mark(self.stream_sid, mark))
        finally:
            self._sending = False

    async def _closed(self, reason: str) -> None:
        await super()._closed(reason)
        runtime = self.runtime
        if runtime is None:
            return
        if not self.transferred and not self.ended_by_us:
            runtime.caller_hung_up(reason)
            return
        # The listen-only fork takes over; if it never comes, the call ends.
        forks = self.deps.forks
        asyncio.get_running_loop().call_later(
            FORK_WAIT_S, lambda: None if runtime.call_id in forks else runtime.caller_hung_up()
        )
