"""The Social Services Checkpoint dashboard in the browser, over
:mod:`fivesafes.collections.checkpoint` (the rule is there: only a grant opens it,
every view audited), and the administrators' page of grants."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from fivesafes.appdb.models import Role, User
from fivesafes.collections import checkpoint as cp
from fivesafes.collections import submissions as subs
from fivesafes.errors import FivesafesError, PolicyRefusal
from fivesafes.web.deps import DB, Forbidden, LoggedIn, WriteDB, require_role
from fivesafes.web.forms import Posted
from fivesafes.web.i18n import _
from fivesafes.web.templating import as_sentence, flash, render

router = APIRouter(prefix="/collections/checkpoint")
Admin = Annotated[User, Depends(require_role(Role.ADMINISTRATOR.value))]


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request, user: LoggedIn, db: WriteDB) -> HTMLResponse:
    try:
        view = cp.dashboard(db, user.name)
    except PolicyRefusal as exc:
        db.rollback()
        raise Forbidden(reason=as_sentence(str(exc))) from None
    return render(request, "collections/checkpoint.html", view=view)


def _grants_page(
    request: Request, db: Session, errors: dict[str, str] | None = None, status_code: int = 200
) -> HTMLResponse:
    providers = [(p.code, f"{p.name} ({p.code})") for p in subs.list_providers(db)]
    return render(
        request,
        "collections/checkpoint_grants.html",
        status_code=status_code,
        grants=cp.grants(db),
        scopes=[(cp.NATIONAL, _("Every authority (a national stakeholder)")), *providers],
        errors=errors or {},
    )


@router.get("/grants", response_class=HTMLResponse)
def grants_page(request: Request, admin: Admin, db: DB) -> HTMLResponse:
    return _grants_page(request, db)


@router.post("/grants", response_class=HTMLResponse)
def add_grant(request: Request, admin: Admin, db: DB, form: Posted) -> Response:
    user = str(form.get("user", "")).strip()
    where = str(form.get("scope", "")).strip()
    try:
        cp.grant(db, admin.name, user, None if where == cp.NATIONAL else where)
    except FivesafesError as exc:
        db.rollback()
        return _grants_page(request, db, {"user": str(exc)}, 422)
    flash(
        request, db, _("%(user)s may now see the checkpoint (%(scope)s).", user=user, scope=where)
    )
    db.commit()
    return RedirectResponse("/collections/checkpoint/grants", status_code=303)


@router.post("/grants/{grant_id}/revoke", response_class=HTMLResponse)
def revoke_grant(request: Request, admin: Admin, db: DB, grant_id: int) -> Response:
    try:
        cp.revoke(db, admin.name, grant_id)
    except FivesafesError as exc:
        db.rollback()
        return _grants_page(request, db, {"user": str(exc)}, 404)
    flash(request, db, _("The grant is revoked."))
    db.commit()
    return RedirectResponse("/collections/checkpoint/grants", status_code=303)
