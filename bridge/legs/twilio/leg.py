"""One Twilio call: the bidirectional Media Stream bridged to a CallRuntime.

Caller audio (mu-law 8 kHz, ~50 messages a second) becomes 20 ms house frames;
for each caller frame one bot frame is sent back, so Twilio's buffer stays a frame
deep and `clear` silences the caller's line at once. Twilio sends media all
through the call, silence included, which makes the caller's stream the call's
clock. Hang-up and transfer go through the REST API.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from fastapi import WebSocket, WebSocketDisconnect
from twilio.twiml.voice_response import Dial, Start, VoiceResponse

from bridge import logs
from bridge.conversation.runtime import CallRuntime
from bridge.legs.guard import POLICY_VIOLATION, PROTOCOL_ERROR, Broken, StreamGuard
from bridge.legs.playback import BATCH, PlaybackTracker, start_when_ready
from bridge.legs.twilio import protocol as tp
from flows.interpreter import Transfer
from media.format import FRAME_MS
from media.line_codec import LineCodec

log = logs.get_logger(__name__)
FRAME = 160  # bytes of mu-law in 20 ms
FORK_WAIT_S = 30.0  # after a transfer, how long the listen-only fork may take to connect
CLOSE_GRACE_S = 0.1  # beyond what Twilio holds unplayed: the network's share


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


class TwilioLeg:
    def __init__(self, ws: WebSocket, app_state: Any) -> None:
        self.ws = ws
        self.state = app_state
        self.stream_sid = ""
        self.call_sid = ""
        self.runtime: CallRuntime | None = None
        self.line = LineCodec("pcmu", 8000)
        self._buf = b""
        self.guard = StreamGuard("twilio")
        self.playback = PlaybackTracker()
        self._sending = False
        self._starter: asyncio.Task[None] | None = None
        self.transferred = False
        self.ended_by_us = False  # the flow hung up: the socket's close is ours, not the caller's

    # -- LegControl -------------------------------------------------------------------

    def clear(self) -> int:
        if self.stream_sid:
            asyncio.get_running_loop().create_task(self._send(tp.clear(self.stream_sid)))
        return self.playback.clear()

    async def transfer(self, target: Transfer) -> bool:
        token = self.state.twilio_tokens.issue(self.call_sid, fork_of=self.call_sid)
        twiml = transfer_twiml(target, self.state.twilio_urls.fork, token)
        ok = await self.state.twilio_rest.update(self.call_sid, twiml=twiml)
        self.transferred = ok
        return ok

    async def hangup(self) -> None:
        """End the call without Twilio's REST API (it may be unreachable): the stream's
        TwiML goes on to ``<Hangup/>`` once the socket closes. What Twilio still holds
        of the last words (a few frames ahead) plays first."""
        self.ended_by_us = True
        await asyncio.sleep(self.playback.queued_frames * FRAME_MS / 1000 + CLOSE_GRACE_S)
        with contextlib.suppress(RuntimeError):  # the caller may be gone already
            await self.ws.close()

    # -- the stream -------------------------------------------------------------------

    async def _send(self, text: str) -> None:
        # No lock: the server writes each message whole before the await returns, so
        # a `clear` from the barge-in task cannot split a media message.
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # the caller may be gone
            await self.ws.send_text(text)

    async def run(self) -> None:
        reason = "caller_hangup"
        try:
            while True:
                try:
                    raw = await self.guard.receive(self.ws.receive_text())
                except WebSocketDisconnect:
                    break
                except KeyError:  # a binary frame: Twilio never sends one
                    self._reject("binary frame")
                    continue
                try:
                    msg = tp.parse(raw)
                except tp.ProtocolError as exc:
                    self._reject(str(exc))
                    continue
                if not await self._handle(msg):
                    break
        except Broken as broken:
            self.guard.closing(broken, call_sid=self.call_sid)
            reason = PROTOCOL_ERROR
            with contextlib.suppress(RuntimeError):
                await self.ws.close(code=POLICY_VIOLATION)
        finally:
            if self._starter is not None:
                self._starter.cancel()
            runtime = self.runtime
            if runtime is not None and not self.transferred and not self.ended_by_us:
                runtime.caller_hung_up(reason)
            elif runtime is not None:  # the listen-only fork takes over; if it never comes, end
                forks = self.state.twilio_forks
                asyncio.get_running_loop().call_later(
                    FORK_WAIT_S,
                    lambda: None if runtime.call_id in forks else runtime.caller_hung_up(),
                )

    def _reject(self, why: str) -> None:
        self.guard.reject(why, call_sid=self.call_sid)

    async def _handle(self, msg: tp.Message) -> bool:
        match msg:
            case tp.Start() if self.runtime is not None:
                self._reject("a second start on a stream that carries a call")
            case tp.Start():
                return await self._start(msg)
            case tp.Media():
                if self.runtime is not None:
                    try:
                        audio = msg.audio()
                    except tp.ProtocolError as exc:
                        self._reject(str(exc))
                        return True
                    await self._caller_audio(audio)
            case tp.Dtmf():
                if self.runtime is not None:
                    self.runtime.dtmf(msg.dtmf.digit)
            case tp.Mark():
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
        pending = self.state.twilio_tokens.redeem(info.customParameters.get("token", ""))
        if pending is None or pending.call_sid != info.callSid:
            log.warning("twilio stream refused: unknown or reused token", call_sid=info.callSid)
            return False
        self.stream_sid, self.call_sid = info.streamSid, info.callSid
        self.guard.started = True
        structlog.contextvars.bind_contextvars(call_id=info.callSid)  # this task's log lines
        self.runtime = await self.state.call_service.start(
            self,
            carrier="twilio",
            caller=pending.caller,
            dialled=pending.dialled,
            call_id=info.callSid,
            line=self.line,
        )
        self._starter = asyncio.get_running_loop().create_task(
            start_when_ready(self.runtime.audio_ready, self._send_bot)
        )
        return True

    async def _caller_audio(self, audio: bytes) -> None:
        runtime = self.runtime
        assert runtime is not None
        self._buf += audio
        playback = self.playback
        while len(self._buf) >= FRAME:
            chunk, self._buf = self._buf[:FRAME], self._buf[FRAME:]
            playback.tick()
            runtime.caller_line(chunk)
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
                await self._send(tp.media(self.stream_sid, b"".join(frames)))
                mark = playback.sent(len(frames))
                if mark is not None:
                    await self._send(tp.mark(self.stream_sid, mark))
        finally:
            self._sending = False
