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
from typing import Any

from fastapi import APIRouter, Request, Response, WebSocket
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, VoiceResponse

from bridge import logs
from bridge.events.schema import CarrierStatus, utcnow
from bridge.legs.fields import CALL_ID_MAX, NUMBER_MAX, SEQUENCE_MAX, sequence_number, too_long
from bridge.legs.twilio.fork import ForkLeg
from bridge.legs.twilio.leg import TwilioLeg
from bridge.process.calls import Draining
from bridge.settings import Settings

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


def _validator(settings: Settings) -> RequestValidator | None:
    token = settings.twilio_auth_token
    return RequestValidator(token.get_secret_value()) if token is not None else None


def _signed(request: Request | WebSocket, url: str, params: dict[str, Any]) -> bool:
    validator = _validator(request.app.state.services.settings)
    signature = request.headers.get("x-twilio-signature", "")
    if validator is None:
        log.error("twilio request refused: CALLBRIDGE_TWILIO_AUTH_TOKEN is not set")
        return False
    if not signature or not validator.validate(url, params, signature):
        client = request.client.host if request.client else "?"
        log.warning("twilio request refused: bad signature", url=url, client=client)
        return False
    return True


def _xml(twiml: VoiceResponse) -> Response:
    return Response(str(twiml), media_type="application/xml")


@router.post("/voice")
async def voice(request: Request) -> Response:
    state = request.app.state
    form = {k: str(v) for k, v in (await request.form()).items()}
    if not _signed(request, state.twilio_urls.voice, form):
        return Response("forbidden", status_code=403)
    if why := too_long(form, {"CallSid": CALL_ID_MAX, "From": NUMBER_MAX, "To": NUMBER_MAX}):
        log.warning("twilio call refused", reason=why)
        return Response(why, status_code=400)
    r = VoiceResponse()
    if state.services.calls.draining:
        r.say("Sorry, we cannot take your call right now. Please call again shortly.")
        r.hangup()
        return _xml(r)
    token = state.twilio_tokens.issue(
        form.get("CallSid", ""), form.get("From", ""), form.get("To", "")
    )
    connect = Connect()
    connect.stream(url=state.twilio_urls.stream).parameter(name="token", value=token)
    r.append(connect)
    r.hangup()  # the bridge ends a call by closing the stream: no REST call needed
    return _xml(r)


@router.post("/status")
async def status(request: Request) -> Response:
    state = request.app.state
    form = {k: str(v) for k, v in (await request.form()).items()}
    if not _signed(request, state.twilio_urls.status, form):
        return Response("forbidden", status_code=403)
    call_sid = form.get("CallSid", "")
    if not call_sid or len(call_sid) > CALL_ID_MAX:
        return Response("CallSid missing or too long", status_code=400)
    # Twilio retries callbacks: its own sequence number keeps the event idempotent.
    number = sequence_number(form.get("SequenceNumber", ""))
    if number is None:
        log.warning("twilio status refused: bad SequenceNumber", call_sid=call_sid)
        return Response("SequenceNumber must be a number under 10^9", status_code=400)
    seq = SEQUENCE_MAX + number
    duration = form.get("CallDuration")
    state.services.events.publish(
        CarrierStatus(
            call_id=call_sid,
            seq=seq,
            ts=utcnow(),
            carrier="twilio",
            status=form.get("CallStatus", ""),
            duration_s=int(duration) if duration and duration.isdigit() else None,
        )
    )
    return Response(status_code=204)


@router.websocket("/stream")
async def stream(ws: WebSocket) -> None:
    state = ws.app.state
    if not _signed(ws, state.twilio_urls.stream, {}):
        await ws.close(code=1008)  # before accept: the handshake gets 403
        return
    await ws.accept()
    try:
        await TwilioLeg(ws, state).run()
    except Draining:
        log.warning("twilio stream refused: draining")
    finally:
        with contextlib.suppress(RuntimeError):  # already closed by the other side
            await ws.close()


@router.websocket("/fork")
async def fork(ws: WebSocket) -> None:
    state = ws.app.state
    if not _signed(ws, state.twilio_urls.fork, {}):
        await ws.close(code=1008)
        return
    await ws.accept()
    await ForkLeg(ws, state).run()
