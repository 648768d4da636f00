"""The service's front page, its icon, its health check and the accessibility statement."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from fivesafes.web.templating import render

router = APIRouter()


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    """For monitoring: 200 ``{"status": "ok"}`` while the app and its database
    answer; 503 ``{"status": "error", "detail": ...}`` when the database does not."""
    try:
        with request.app.state.db.session() as s:
            s.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        detail = f"the database does not answer: {type(exc).__name__}"
        return JSONResponse({"status": "error", "detail": detail}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> RedirectResponse:
    """Browsers ask for /favicon.ico whatever the page says: send them to the icon."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render(request, "home.html")


@router.get("/accessibility", response_class=HTMLResponse)
def accessibility(request: Request) -> HTMLResponse:
    return render(request, "accessibility.html")
