"""Helpers shared by the route modules: the redirect after a form post, and the
usual end of a successful one (say what was done, commit, go back)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from fivesafes.web.templating import flash


def back_to(url: str) -> RedirectResponse:
    """A 303 redirect: the browser follows it with a GET."""
    return RedirectResponse(url, status_code=303)


def done(request: Request, db: Session, message: str, url: str) -> RedirectResponse:
    """Flash *message*, commit the session and redirect to *url*."""
    flash(request, db, message)
    db.commit()
    return back_to(url)
