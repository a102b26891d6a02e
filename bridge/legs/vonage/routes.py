"""Vonage's answer and event webhooks and the audio socket, each signature-checked.

`POST /vonage/answer` (set the application's answer method to POST: only a body can
carry the signed payload hash) returns an NCCO connecting the call to `/vonage/ws`
with a one-time token in its headers; Vonage signs the socket's handshake too
(`authorization: {"type": "vonage"}`). `POST /vonage/events` records call status.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, WebSocket
from fastapi.responses import JSONResponse

from bridge import logs
from bridge.conversation.registry import Draining
from bridge.events.schema import CarrierStatus, utcnow
from bridge.legs.fields import CALL_ID_MAX, NUMBER_MAX, too_long
from bridge.legs.vonage.leg import VonageDeps, VonageLeg
from bridge.legs.vonage.signature import vonage_signed

log = logs.get_logger(__name__)
# Every route, webhook or socket, is signed by Vonage (signature.py).
router = APIRouter(prefix="/vonage", tags=["vonage"], dependencies=[Depends(vonage_signed)])


def vonage_deps(ws: WebSocket) -> VonageDeps:
    """What the app holds for Vonage's legs, looked up per socket."""
    state = ws.app.state
    return VonageDeps(calls=state.call_service, tokens=state.vonage_tokens, rest=state.vonage_rest)


async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        data = json.loads(await request.body())
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past all sense
        return None
    return data if isinstance(data, dict) else None


@router.post("/answer")
async def answer(request: Request) -> Response:
    state = request.app.state
    data = await _json_body(request)
    if data is None:
        return Response("a JSON object body is expected", status_code=400)
    values = {k: str(data.get(k, "")) for k in ("uuid", "from", "to")}
    if why := too_long(values, {"uuid": CALL_ID_MAX, "from": NUMBER_MAX, "to": NUMBER_MAX}):
        log.warning("vonage call refused", reason=why)
        return Response(why, status_code=400)
    if state.services.calls.draining:
        return JSONResponse(
            [
                {
                    "action": "talk",
                    "text": "Sorry, we cannot take your call right now. Please call again shortly.",
                }
            ]
        )
    token = state.vonage_tokens.issue(
        str(data.get("uuid", "")), str(data.get("from", "")), str(data.get("to", ""))
    )
    public = state.public_url
    ws = ("wss://" if public.startswith("https://") else "ws://") + public.split("://", 1)[1]
    return JSONResponse(
        [
            {
                "action": "connect",
                "eventUrl": [f"{public}/vonage/events"],
                "endpoint": [
                    {
                        "type": "websocket",
                        "uri": f"{ws}/vonage/ws",
                        "content-type": "audio/l16;rate=16000",
                        "headers": {"token": token},
                        "authorization": {"type": "vonage"},
                    }
                ],
            }
        ]
    )


@router.post("/events")
async def events(request: Request) -> Response:
    state = request.app.state
    data = await _json_body(request)
    if data is None or not data.get("uuid") or not data.get("status"):
        return Response("uuid and status are expected", status_code=400)
    # Vonage retries: the same report must be the same event (call_id, source, seq).
    key = f"{data['status']}|{data.get('timestamp', '')}".encode()
    duration = data.get("duration")
    state.services.events.publish(
        CarrierStatus(
            call_id=str(data["uuid"])[:64],
            source="carrier",
            seq=zlib.crc32(key),
            ts=utcnow(),
            carrier="vonage",
            status=str(data["status"]),
            duration_s=int(duration) if str(duration or "").isdigit() else None,
        )
    )
    return Response(status_code=204)


@router.websocket("/ws")
async def socket(ws: WebSocket, deps: Annotated[VonageDeps, Depends(vonage_deps)]) -> None:
    await ws.accept()
    try:
        await VonageLeg(ws, deps).run()
    except Draining:
        log.warning("vonage socket refused: draining")
    finally:
        with contextlib.suppress(RuntimeError):
            await ws.close()
