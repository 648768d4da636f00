"""Administration: users (profiles, roles, deactivation, password-reset links,
new accounts) and the audit log with its chain verification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from fivesafes import audit
from fivesafes.appdb.models import (
    AuditEntry,
    PasswordResetToken,
    Role,
    User,
    UserRole,
    WebSession,
)
from fivesafes.appdb.users import set_roles
from fivesafes.web import throttle
from fivesafes.web.deps import DB, Forbidden, require_role, role_name
from fivesafes.web.forms import Posted, check_email
from fivesafes.web.i18n import _, options
from fivesafes.web.routes.account import ROLE_LABELS
from fivesafes.web.routes.auth import _handle_for, check_profile, find_by_email
from fivesafes.web.security import new_token, token_hash
from fivesafes.web.templating import flash, render, site_url

router = APIRouter(prefix="/admin")
admin_only = require_role(Role.ADMINISTRATOR.value)
Admin = Annotated[User, Depends(admin_only)]

RESET_VALID = timedelta(days=2)
PAGE_SIZE = 50
ALL_ROLES = [(r.value, dict.get(ROLE_LABELS, r.value, r.value)) for r in Role]


def _user_or_404(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        from starlette.exceptions import HTTPException

        raise HTTPException(404, _("There is no such user."))
    return user


@router.get("", response_class=HTMLResponse)
def index(request: Request, admin: Admin, db: DB) -> HTMLResponse:
    pending = db.scalar(
        select(func.count()).select_from(User).where(User.role_requested.is_not(None))
    )
    users = db.scalar(select(func.count()).select_from(User))
    return render(
        request,
        "admin/index.html",
        pending=pending or 0,
        users=users or 0,
        entries=audit.count(db),
    )


@router.get("/users", response_class=HTMLResponse)
def users(
    request: Request,
    admin: Admin,
    db: DB,
    q: str = "",
    role: str = "",
    status: str = "",
) -> HTMLResponse:
    query = select(User).order_by(User.name)
    if q.strip():
        like = f"%{q.strip().lower()}%"
        query = query.where(
            or_(
                func.lower(User.name).like(like),
                func.lower(User.email).like(like),
                func.lower(User.display_name).like(like),
                func.lower(User.organisation).like(like),
            )
        )
    if role:
        query = query.where(
            or_(
                User.role == role,
                User.id.in_(select(UserRole.user_id).where(UserRole.role == role)),
            )
        )
    if status == "pending":
        query = query.where(User.role_requested.is_not(None))
    elif status == "inactive":
        query = query.where(User.is_active.is_(False))
    found = list(db.scalars(query.limit(500)))
    return render(
        request,
        "admin/users.html",
        users=found,
        q=q,
        role=role,
        status=status,
        roles=options(ALL_ROLES),
        role_labels=ROLE_LABELS,
    )


def _user_page(
    request: Request, db: Session, user: User, status_code: int = 200, **extra: object
) -> HTMLResponse:
    sessions = db.scalar(
        select(func.count()).select_from(WebSession).where(WebSession.user_id == user.id)
    )
    history = list(
        db.scalars(
            select(AuditEntry)
            .where(or_(AuditEntry.subject == f"user:{user.name}", AuditEntry.actor == user.name))
            .order_by(AuditEntry.seq.desc())
            .limit(20)
        )
    )
    context: dict[str, object] = {
        "who": user,
        "roles": options(ALL_ROLES),
        "role_labels": ROLE_LABELS,
        "errors": {},
        "sessions": sessions or 0,
        "history": history,
        "reset_link": None,
        "details": {
            "display_name": user.display_name,
            "email": user.email or "",
            "organisation": user.organisation,
        },
    }
    return render(request, "admin/user.html", status_code=status_code, **(context | extra))


@router.get("/users/new", response_class=HTMLResponse)
def new_user_page(request: Request, admin: Admin) -> HTMLResponse:
    return render(
        request, "admin/new_user.html", values={}, errors={}, roles=options(ALL_ROLES), selected=[]
    )


@router.post("/users/new", response_class=HTMLResponse)
def new_user(
    request: Request,
    form: Posted,
    admin: Admin,
    db: DB,
) -> Response:
    values = {
        k: form.get(k, "") for k in ("display_name", "email", "organisation", "research_interests")
    }
    values["email"] = values["email"].lower()
    chosen = [r for r in form.getlist("roles")]
    errors = check_profile(form)
    if problem := check_email(values["email"]):
        errors["email"] = problem
    elif find_by_email(db, values["email"]):
        errors["email"] = _("An account with this e-mail address already exists")
    if not chosen or any(r not in {v for v, _label in ALL_ROLES} for r in chosen):
        errors["roles"] = _("Choose at least one role")
    if errors:
        return render(
            request,
            "admin/new_user.html",
            status_code=422,
            values=values,
            errors=errors,
            roles=options(ALL_ROLES),
            selected=chosen,
        )
    user = User(
        name=_handle_for(db, values["email"]),
        role="",
        email=values["email"],
        display_name=values["display_name"],
        organisation=values["organisation"],
        research_interests=values["research_interests"],
        is_active=True,
    )
    db.add(user)
    db.flush()
    audit.record(db, admin.name, "user.create", f"user:{user.name}", {"email": user.email})
    set_roles(db, user, set(chosen), admin.name)
    link = _issue_reset(request, db, user, admin)
    db.commit()
    return _user_page(request, db, user, reset_link=link, created=True)


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_detail(request: Request, user_id: int, admin: Admin, db: DB) -> HTMLResponse:
    return _user_page(request, db, _user_or_404(db, user_id))


@router.post("/users/{user_id}/roles", response_class=HTMLResponse)
def change_roles(
    request: Request,
    user_id: int,
    form: Posted,
    admin: Admin,
    db: DB,
) -> Response:
    user = _user_or_404(db, user_id)
    chosen = set(form.getlist("roles"))
    known = {v for v, _label in ALL_ROLES}
    if chosen - known:
        return _user_page(request, db, user, 422, errors={"roles": _("Choose roles from the list")})
    if user.id == admin.id and Role.ADMINISTRATOR.value not in chosen:
        return _user_page(
            request,
            db,
            user,
            422,
            errors={
                "roles": _(
                    "You cannot remove your own administrator role; ask another administrator"
                )
            },
        )
    decline = form.get("decline_request") == "yes"
    granted, revoked = set_roles(db, user, chosen, admin.name)
    if decline and user.role_requested:
        audit.record(
            db, admin.name, "user.decline_role", f"user:{user.name}", {"role": user.role_requested}
        )
        user.role_requested = None
    # The user's open sessions see the new roles at their next request.
    flash(
        request,
        db,
        _roles_saved(user.label, granted, revoked),
    )
    db.commit()
    return RedirectResponse(f"/admin/users/{user.id}", status_code=303)


def _roles_saved(label: str, granted: set[str], revoked: set[str]) -> str:
    """What changing a user's roles did, in the request's language."""
    given = ", ".join(sorted(role_name(r) for r in granted))
    taken = ", ".join(sorted(role_name(r) for r in revoked))
    if granted and revoked:
        return _(
            "Roles of %(user)s saved: granted %(granted)s; revoked %(revoked)s.",
            user=label,
            granted=given,
            revoked=taken,
        )
    if granted:
        return _("Roles of %(user)s saved: granted %(granted)s.", user=label, granted=given)
    if revoked:
        return _("Roles of %(user)s saved: revoked %(revoked)s.", user=label, revoked=taken)
    return _("Roles of %(user)s saved.", user=label)


@router.post("/users/{user_id}/details", response_class=HTMLResponse)
def change_details(request: Request, user_id: int, form: Posted, admin: Admin, db: DB) -> Response:
    """Correct a user's name, e-mail or organisation (e.g. give a user made on the
    command line an e-mail, so that a reset link lets them log in)."""
    user = _user_or_404(db, user_id)
    values = {k: form.get(k, "") for k in ("display_name", "email", "organisation")}
    values["email"] = values["email"].lower()
    errors = check_profile(form)
    errors.pop("research_interests", None)
    if problem := check_email(values["email"]):
        errors["email"] = problem
    elif values["email"] != (user.email or "") and find_by_email(db, values["email"]):
        errors["email"] = _("Another account uses this e-mail address")
    if errors:
        return _user_page(request, db, user, 422, errors=errors, details=values)
    changed = sorted(k for k, v in values.items() if (getattr(user, k) or "") != v)
    for key in changed:
        setattr(user, key, values[key])
    if changed:
        audit.record(db, admin.name, "user.details", f"user:{user.name}", {"changed": changed})
    flash(
        request,
        db,
        _("Details of %(user)s saved.", user=user.label) if changed else _("Nothing was changed."),
    )
    db.commit()
    return RedirectResponse(f"/admin/users/{user.id}", status_code=303)


@router.post("/users/{user_id}/active", response_class=HTMLResponse)
def change_active(
    request: Request,
    user_id: int,
    form: Posted,
    admin: Admin,
    db: DB,
) -> Response:
    user = _user_or_404(db, user_id)
    action = form.get("action", "")
    if action not in ("deactivate", "reactivate"):
        return _user_page(
            request, db, user, 422, errors={"action": _("Choose deactivate or reactivate")}
        )
    if user.id == admin.id:
        raise Forbidden(_("You cannot deactivate your own account."))
    user.is_active = action == "reactivate"
    if not user.is_active:
        db.execute(delete(WebSession).where(WebSession.user_id == user.id))
        db.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
            .values(used_at=datetime.now(UTC))
        )
    audit.record(db, admin.name, f"user.{action}", f"user:{user.name}")
    flash(
        request,
        db,
        _("%(user)s has been deactivated.", user=user.label)
        if action == "deactivate"
        else _("%(user)s has been reactivated.", user=user.label),
    )
    db.commit()
    return RedirectResponse(f"/admin/users/{user.id}", status_code=303)


def _issue_reset(request: Request, db: Session, user: User, admin: User) -> str:
    db.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=datetime.now(UTC))
    )
    token = new_token()
    db.add(
        PasswordResetToken(
            token_hash=token_hash(token),
            user_id=user.id,
            issued_by=admin.name,
            expires_at=datetime.now(UTC) + RESET_VALID,
        )
    )
    audit.record(db, admin.name, "user.reset_issued", f"user:{user.name}")
    return site_url(request) + f"/password-reset/{token}"


@router.post("/users/{user_id}/reset", response_class=HTMLResponse)
def issue_reset(request: Request, user_id: int, admin: Admin, db: DB) -> Response:
    user = _user_or_404(db, user_id)
    if not user.is_active:
        return _user_page(
            request, db, user, 422, errors={"reset": _("Reactivate the account first")}
        )
    link = _issue_reset(request, db, user, admin)
    db.commit()
    return _user_page(request, db, user, reset_link=link)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    admin: Admin,
    db: DB,
    actor: str = "",
    action: str = "",
    page: int = 1,
    full: int = 0,
) -> HTMLResponse:
    # Only the entries after the last verified one are read (``full=1``: every entry);
    # an intact chain moves the checkpoint on, in a writer's session of its own.
    result, mark = audit.verify_from_checkpoint(db, full=bool(full))
    if result.ok and (mark is None or result.head_seq > mark.seq):
        with request.app.state.db.session(write=True) as w:
            if audit.advance_checkpoint(w, result):
                w.commit()
    query = select(AuditEntry)
    if actor.strip():
        query = query.where(AuditEntry.actor == actor.strip())
    if action.strip():
        query = query.where(AuditEntry.action.startswith(action.strip()))
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = list(
        db.scalars(
            query.order_by(AuditEntry.seq.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
        )
    )
    actions = sorted({a.split(".")[0] for a in db.scalars(select(AuditEntry.action).distinct())})
    return render(
        request,
        "admin/audit.html",
        result=result,
        checkpoint=mark,
        throttled=throttle.recent(db),
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        actor=actor,
        action=action,
        actions=actions,
    )
