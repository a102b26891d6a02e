"""Pages: the templates, and what every page is given (who is logged in, the CSRF token)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from bridge.store.users import Principal
from bridge.web import auth

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")


def page(request: Request, template: str, who: Principal | None, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, template, {"who": who, "csrf": auth.csrf_token(request), **context}
    )


def engine(request: Request) -> Any:
    return request.app.state.services.engine
