"""A local stand-in for Twilio's REST Call resource (we cannot reach api.twilio.com).

Speaks the documented shape: `POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`,
HTTP Basic auth, form-encoded `Twiml=` / `Url=` / `Status=`; answers with the call's
JSON, 401 on bad credentials, 404 code 20404 for an unknown call. Records what it got.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@dataclass
class Recorded:
    account_sid: str
    call_sid: str
    form: dict[str, str]


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    calls: set[str] = field(default_factory=set)
    requests: list[Recorded] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/2010-04-01/Accounts/{account}/Calls/{call}.json")
        async def update(account: str, call: str, request: Request) -> JSONResponse:
            auth = request.headers.get("authorization", "")
            want = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
            if auth != f"Basic {want}" or account != self.account_sid:
                return JSONResponse(
                    {"code": 20003, "message": "Authenticate", "status": 401}, status_code=401
                )
            form = {k: str(v) for k, v in (await request.form()).items()}
            self.requests.append(Recorded(account, call, form))
            if call not in self.calls:
                return JSONResponse(
                    {"code": 20404, "message": "not found", "status": 404}, status_code=404
                )
            status = form.get("Status", "in-progress")
            return JSONResponse({"sid": call, "account_sid": account, "status": status})

        return app
