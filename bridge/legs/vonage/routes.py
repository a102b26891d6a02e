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
from typing import Any

from fastapi import APIRouter, Request, Response, WebSocket
from fastapi.responses import JSONResponse

from bridge import logs
from bridge.events.schema import CarrierStatus, utcnow
from bridge.legs.fields import CALL_ID_MAX, NUMBER_MAX, too_long
from bridge.legs.vonage.leg import VonageLeg
from bridge.legs.vonage.signature import first_use, token_id, verify
from bridge.process.calls import Draining

log = logs.get_logger(__name__)
router = APIRouter(prefix="/vonage", tags=["vonage"])


def _secret(state: Any) -> str:
    secret = state.services.settings.vonage_signature_secret
    return secret.get_secret_value() if secret is not None else ""


async def _signed(request: Request | WebSocket, body: bytes | None) -> bool:
    """A fresh, once-used Vonage signature meant for this request (see signature.py)."""
    secret = _secret(request.app.state)
    if not secret:
        log.error("vonage request refused: CALLBRIDGE_VONAGE_SIGNATURE_SECRET is not set")
        return False
    authorization = request.headers.get("authorization", "")
    why = verify(authorization, body, secret)
    if not why:
        use = "socket" if body is None else "webhook"
        jti = f"{use}:{token_id(authorization)}"
        if not await first_use(request.app.state.services.redis, jti):
            why = "token already used (a replay)"
    if why:
        client = request.client.host if request.client else "?"
        log.warning("vonage request refused", reason=why, path=request.url.path, client=client)
        return False
    return True


async def _json_body(request: Request) -> tuple[bytes, dict[str, Any] | None]:
    raw = await request.body()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return raw, None
    return raw, data if isinstance(data, dict) else None


@router.post("/answer")
async def answer(request: Request) -> Response:
    state = request.app.state
    raw, data = await _json_body(request)
    if not await _signed(request, raw):
        return Response("forbidden", status_code=403)
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
    raw, data = await _json_body(request)
    if not await _signed(request, raw):
        return Response("forbidden", status_code=403)
    if data is None or not data.get("uuid") or not data.get("status"):
        return Response("uuid and status are expected", status_code=400)
    # Vonage retries: the same report must be the same event (call_id, seq).
    key = f"{data['status']}|{data.get('timestamp', '')}".encode()
    duration = data.get("duration")
    state.services.events.publish(
        CarrierStatus(
            call_id=str(data["uuid"])[:64],
            seq=1_000_000_000 + zlib.crc32(key) % 1_000_000_000,
            ts=utcnow(),
            carrier="vonage",
            status=str(data["status"]),
            duration_s=int(duration) if str(duration or "").isdigit() else None,
        )
    )
    return Response(status_code=204)


@router.websocket("/ws")
async def socket(ws: WebSocket) -> None:
    if not await _signed(ws, None):
        await ws.close(code=1008)  # before accept: the handshake gets 403
        return
    await ws.accept()
    try:
        await VonageLeg(ws, ws.app.state).run()
    except Draining:
        log.warning("vonage socket refused: draining")
    finally:
        with contextlib.suppress(RuntimeError):
            await ws.close()
