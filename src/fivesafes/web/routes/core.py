"""The service's front page, its icon, its health check, the accessibility statement
and the language switch."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from fivesafes.web import i18n
from fivesafes.web.templating import error_response, render

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


def _local_path(target: str) -> str:
    """``target`` if it is a path on this site (``/...``, not ``//host`` or a
    backslash trick), else the front page: the switch never sends anyone away."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(ch) < 32 for ch in target):
        return "/"
    return target


@router.get("/language/{code}")
def choose_language(
    request: Request, code: str, next: str = Query("/", max_length=2000)
) -> Response:
    """The language switch on every page: remember ``code`` (``cy`` or ``en``) in the
    cookie and go back to the page the reader was on (``next``)."""
    if code not in i18n.LANGUAGES:
        return error_response(request, 404, i18n._("Check the address; the page may have moved."))
    response = RedirectResponse(_local_path(next), status_code=303)
    response.set_cookie(
        i18n.COOKIE,
        code,
        max_age=i18n.COOKIE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=bool(getattr(request.app.state, "secure_cookies", False)),
    )
    return response
