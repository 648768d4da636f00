"""The service's front page, its health check and the accessibility statement."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from fivesafes.web.templating import render

router = APIRouter()


@router.get("/healthz")
def healthz() -> JSONResponse:
    """For monitoring: 200 ``{"status": "ok"}`` while the app answers."""
    return JSONResponse({"status": "ok"})


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render(request, "home.html")


@router.get("/accessibility", response_class=HTMLResponse)
def accessibility(request: Request) -> HTMLResponse:
    return render(request, "accessibility.html")
