"""Twilio's webhooks and the Media Stream socket, each checked against its signature.

`POST /twilio/voice` answers with TwiML that connects the call to `/twilio/stream`
(call data travels as a one-time token in a `<Parameter>`, never in the URL);
`POST /twilio/status` records call status callbacks; `WS /twilio/stream` carries
the call; `WS /twilio/fork` is the listen-only stream that keeps transcription
going after a transfer. URLs and signatures are computed from
CALLBRIDGE_PUBLIC_URL, never from request headers a proxy may rewrite.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, WebSocket
from twilio.twiml.voice_response import Connect, VoiceResponse

from bridge import logs
from bridge.conversation.registry import Draining
from bridge.events.schema import CarrierStatus, utcnow
from bridge.legs.fields import CALL_ID_MAX, NUMBER_MAX, sequence_number, too_long
from bridge.legs.twilio.fork import ForkLeg
from bridge.legs.twilio.leg import TwilioDeps, TwilioLeg
from bridge.legs.twilio.signature import form, twilio_signed

log = logs.get_logger(__name__)
router = APIRouter(prefix="/twilio", tags=["twilio"])


@dataclass(frozen=True)
class Urls:
    voice: str
    status: str
    stream: str
    fork: str

    @classmethod
    def of(cls, public_url: str) -> Urls:
        base = public_url.rstrip("/")
        ws = (
            "wss://" + base.split("://", 1)[1]
            if base.startswith("https://")
            else ("ws://" + base.split("://", 1)[1])
        )
        return cls(
            f"{base}/twilio/voice",
            f"{base}/twilio/status",
            f"{ws}/twilio/stream",
            f"{ws}/twilio/fork",
        )


def twilio_deps(ws: WebSocket) -> TwilioDeps:
    """What the app holds for Twilio's legs, looked up per socket."""
    state = ws.app.state
    return TwilioDeps(
        calls=state.call_service,
        tokens=state.twilio_tokens,
        rest=state.twilio_rest,
        fork_url=state.twilio_urls.fork,
        forks=state.twilio_forks,
    )


Deps = Annotated[TwilioDeps, Depends(twilio_deps)]


def _xml(twiml: VoiceResponse) -> Response:
    return Response(str(twiml), media_type="application/xml")


@router.post("/voice", dependencies=[Depends(twilio_signed("voice"))])
async def voice(request: Request) -> Response:
    state = request.app.state
    fields = await form(request)
    if why := too_long(fields, {"CallSid": CALL_ID_MAX, "From": NUMBER_MAX, "To": NUMBER_MAX}):
        log.warning("twilio call refused", reason=why)
        return Response(why, status_code=400)
    r = VoiceResponse()
    if state.services.calls.draining:
        r.say("Sorry, we cannot take your call right now. Please call again shortly.")
        r.hangup()
        return _xml(r)
    token = state.twilio_tokens.issue(
        fields.get("CallSid", ""), fields.get("From", ""), fields.get("To", "")
    )
    connect = Connect()
    connect.stream(url=state.twilio_urls.stream).parameter(name="token", value=token)
    r.append(connect)
    r.hangup()  # the bridge ends a call by closing the stream: no REST call needed
    return _xml(r)


@router.post("/status", dependencies=[Depends(twilio_signed("status"))])
async def status(request: Request) -> Response:
    state = request.app.state
    fields = await form(request)
    call_sid = fields.get("CallSid", "")
    if not call_sid or len(call_sid) > CALL_ID_MAX:
        return Response("CallSid missing or too long", status_code=400)
    # Twilio retries callbacks: its own sequence number keeps the event idempotent.
    number = sequence_number(fields.get("SequenceNumber", ""))
    if number is None:
        log.warning("twilio status refused: bad SequenceNumber", call_sid=call_sid)
        return Response("SequenceNumber must be a number under 10^9", status_code=400)
    duration = fields.get("CallDuration")
    state.services.events.publish(
        CarrierStatus(
            call_id=call_sid,
            source="carrier",
            seq=number,
            ts=utcnow(),
            carrier="twilio",
            status=fields.get("CallStatus", ""),
            duration_s=int(duration) if duration and duration.isdigit() else None,
        )
    )
    return Response(status_code=204)


@router.websocket("/stream", dependencies=[Depends(twilio_signed("stream"))])
async def stream(ws: WebSocket, deps: Deps) -> None:
    await ws.accept()
    try:
        await TwilioLeg(ws, deps).run()
    except Draining:
        log.warning("twilio stream refused: draining")
    finally:
        with contextlib.suppress(RuntimeError):  # already closed by the other side
            await ws.close()


@router.websocket("/fork", dependencies=[Depends(twilio_signed("fork"))])
async def fork(ws: WebSocket, deps: Deps) -> None:
    await ws.accept()
    await ForkLeg(ws, deps).run()
