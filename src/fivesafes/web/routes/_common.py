"""Helpers shared by the route modules: the redirect after a form post, the usual
end of a successful one (say what was done, commit, go back), and the "not found"
of a thing named in the address."""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from fivesafes.web.i18n import N_, _
from fivesafes.web.templating import flash

#: What a 404 page says, by the thing the address names (one whole sentence each,
#: for the translators: never a word spliced into a sentence).
NOT_FOUND = {
    "course": N_("There is no course at this address."),
    "resource": N_("There is no resource at this address."),
    "featured dataset": N_("There is no featured dataset at this address."),
    "project": N_("There is no project at this address."),
    "learning plan": N_("There is no learning plan at this address."),
    "lesson": N_("There is no lesson at this address."),
    "quiz": N_("There is no quiz at this address."),
    "statement": N_("There is no statement at this address."),
    "enrolment": N_("There is no enrolment at this address."),
    "question": N_("There is no question at this address."),
    "accreditation": N_("There is no accreditation at this address."),
    "workgroup": N_("There is no workgroup at this address."),
    "session": N_("There is no session at this address."),
    "file": N_("There is no file at this address."),
}


def not_found(what: str) -> HTTPException:
    """A 404 saying there is no ``what`` (a key of :data:`NOT_FOUND`) at this address,
    in the request's language."""
    return HTTPException(404, _(NOT_FOUND[what]))


def back_to(url: str) -> RedirectResponse:
    """A 303 redirect: the browser follows it with a GET."""
    return RedirectResponse(url, status_code=303)


def done(request: Request, db: Session, message: str, url: str) -> RedirectResponse:
    """Flash *message*, commit the session and redirect to *url*."""
    flash(request, db, message)
    db.commit()
    return back_to(url)
