"""A user's own profile: see and change it, and change the password."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import delete, update

from fivesafes import audit
from fivesafes.appdb.models import PasswordResetToken, User, WebSession
from fivesafes.web.deps import DB, LoggedIn
from fivesafes.web.forms import Posted, check_email
from fivesafes.web.i18n import N_, Labels, _
from fivesafes.web.routes.auth import REQUESTABLE, check_profile, find_by_email
from fivesafes.web.security import hash_password, password_problem, verify_password
from fivesafes.web.templating import auth_of, flash, render

router = APIRouter()

PROFILE_FIELDS = ("display_name", "email", "organisation", "research_interests")
ROLE_LABELS = Labels(dict(REQUESTABLE) | {"administrator": N_("Administrator")})


def _page(request: Request, user: User, **context: Any) -> dict[str, Any]:
    values = {key: getattr(user, key) or "" for key in PROFILE_FIELDS}
    base: dict[str, Any] = {
        "who": user,
        "values": values,
        "errors": {},
        "password_errors": {},
        "role_labels": ROLE_LABELS,
    }
    return base | context


@router.get("/profile", response_class=HTMLResponse)
def profile(request: Request, user: LoggedIn) -> HTMLResponse:
    return render(request, "account/profile.html", **_page(request, user))


@router.post("/profile", response_class=HTMLResponse)
def update_profile(
    request: Request,
    form: Posted,
    user: LoggedIn,
    db: DB,
) -> Response:
    values = {key: form.get(key, "") for key in PROFILE_FIELDS}
    values["email"] = values["email"].lower()
    errors = check_profile(form)
    if problem := check_email(values["email"]):
        errors["email"] = problem
    elif values["email"] != (user.email or "") and find_by_email(db, values["email"]):
        errors["email"] = _("Another account uses this e-mail address")
    if errors:
        return render(
            request,
            "account/profile.html",
            status_code=422,
            **_page(request, user, values=values, errors=errors),
        )
    changed = {}
    for key, value in values.items():
        if (getattr(user, key) or "") != value:
            changed[key] = value
            setattr(user, key, value)
    if changed:
        audit.record(
            db, user.name, "user.profile", f"user:{user.name}", {"changed": sorted(changed)}
        )
        auth_of(request).user_label = user.label
        flash(request, db, _("Your profile has been saved."))
    else:
        flash(request, db, _("Nothing was changed."))
    db.commit()
    return RedirectResponse("/profile", status_code=303)


@router.post("/profile/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    form: Posted,
    user: LoggedIn,
    db: DB,
) -> Response:
    errors: dict[str, str] = {}
    current, new = form.get("current_password", ""), form.get("new_password", "")
    if not verify_password(user.password_hash, current):
        errors["current_password"] = _("Enter your current password")
    if problem := password_problem(new, email=user.email or "", name=user.display_name):
        errors["new_password"] = problem
    elif form.get("new_password_confirm", "") != new:
        errors["new_password_confirm"] = _("Enter the same new password twice")
    if errors:
        return render(
            request,
            "account/profile.html",
            status_code=422,
            **_page(request, user, password_errors=errors),
        )
    user.password_hash = hash_password(new)
    auth = auth_of(request)
    # Every other browser logged in as this user is logged out.
    db.execute(
        delete(WebSession).where(WebSession.user_id == user.id, WebSession.id != auth.session_id)
    )
    # A reset link still pending would let whoever holds it take the account over.
    db.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=datetime.now(UTC))
    )
    audit.record(db, user.name, "user.password_change", f"user:{user.name}")
    flash(request, db, _("Your password has been changed."))
    db.commit()
    return RedirectResponse("/profile", status_code=303)
