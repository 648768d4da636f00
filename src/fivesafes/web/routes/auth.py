"""Log in, log out, registration with a profile, and password reset by a one-time
link an administrator issued."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fivesafes import audit
from fivesafes.appdb.models import (
    PasswordResetToken,
    Role,
    User,
    UserRole,
    WebSession,
    as_utc,
)
from fivesafes.appdb.users import SYSTEM
from fivesafes.web import throttle
from fivesafes.web.deps import DB
from fivesafes.web.forms import Form, Posted, check_email, check_text
from fivesafes.web.i18n import N_, _, options
from fivesafes.web.security import (
    hash_password,
    needs_rehash,
    password_problem,
    token_hash,
    verify_password,
)
from fivesafes.web.sessions import start_session
from fivesafes.web.templating import auth_of, flash, render

router = APIRouter()

#: Roles a person may ask for when registering (administrators are made by others).
REQUESTABLE = [
    (Role.RESEARCHER.value, N_("Researcher")),
    (Role.OUTPUT_CHECKER.value, N_("Output checker")),
    (Role.DATA_OWNER.value, N_("Data owner or provider")),
    (Role.LINKAGE_OPERATOR.value, N_("Linkage operator (trusted third party)")),
    (Role.TRAINER.value, N_("Trainer")),
    (Role.PANEL_MEMBER.value, N_("Approval panel member")),
]
#: Roles granted at once on registration; others wait for an administrator.
SELF_SERVICE = {Role.RESEARCHER.value}


#: How failed log-ins are throttled: see :mod:`fivesafes.web.throttle` (the names
#: stay here too for those who read them from this module: the defaults; the site's
#: settings may change them, :func:`login_limits`).
LOCK_AFTER = throttle.LOCK_AFTER
LOCK_FOR = throttle.LOCK_FOR


def login_limits(request: Request) -> throttle.Limits:
    """The site's log-in limits, read from its settings when the app started
    (:func:`fivesafes.web.throttle.limits_from_env`)."""
    limits = getattr(request.app.state, "login_limits", None)
    return limits if isinstance(limits, throttle.Limits) else throttle.DEFAULT_LIMITS


def login_subject(email: str, user: User | None) -> str:
    """The audit subject a log-in attempt counts against: the account when the e-mail
    address is known, otherwise a digest of the address. Unknown addresses lock in
    the same way as known ones, so the lock-out message never tells an attacker
    which addresses have an account (and the log never holds a stranger's address)."""
    if user is not None:
        return f"user:{user.name}"
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]
    return f"login:{digest}"


def client_of(request: Request) -> str:
    """The client a log-in attempt counts against (see :func:`throttle.client_address`)."""
    return throttle.client_address(request.client.host if request.client else None)


def lock_message(lock: throttle.Lock) -> str:
    """What the log-in page says while ``lock`` refuses log-ins."""
    if lock.scope == throttle.CLIENT:
        return _(
            "Too many wrong passwords from your network address: try again after %(m)s UTC",
            m=format(lock.until, "%H:%M"),
        )
    return _(
        "Too many wrong passwords for this e-mail address: try again after "
        "%(m)s UTC, or ask an administrator for a password-reset link",
        m=format(lock.until, "%H:%M"),
    )


def safe_next(target: str | None) -> str:
    """A local path to go to after logging in (never another site)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def find_by_email(db: Session, email: str) -> User | None:
    return db.scalar(select(User).where(func.lower(User.email) == email.lower()))


def log_in(request: Request, db: Session, user: User) -> None:
    """Start a fresh session for ``user`` (the visitor's old one is dropped, so a
    session id planted before log-in is worth nothing); the caller commits."""
    auth = auth_of(request)
    if auth.session_id is not None:
        db.execute(delete(WebSession).where(WebSession.id == auth.session_id))
    # Sessions past their expiry are of no use to anyone: clear them out now and then.
    db.execute(delete(WebSession).where(WebSession.expires_at < datetime.now(UTC)))
    row, token = start_session(db, user)
    auth.session_id, auth.csrf, auth.set_token = row.id, row.csrf_token, token
    auth.user_id, auth.user_name, auth.user_label = user.id, user.name, user.label
    auth.roles = frozenset(user.roles)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    if auth_of(request).logged_in:
        return RedirectResponse(safe_next(next), status_code=303)
    notice = None
    if request.query_params.get("out"):
        notice = _("You have logged out.")
    elif request.query_params.get("reset"):
        notice = _("Your password has been changed. Log in with the new one.")
    return render(
        request,
        "auth/login.html",
        values={"email": ""},
        errors={},
        next=safe_next(next),
        notice=notice,
    )


@dataclass(frozen=True)
class Credentials:
    """What checking a log-in's password found (before the request's turn to write)."""

    user_id: int | None
    password_ok: bool
    #: The hash the password was checked against (the route makes sure it is unchanged).
    checked_hash: str | None
    #: A lock that refuses the attempt (the password was then not checked at all).
    lock: throttle.Lock | None = None


def _check_credentials(request: Request, email: str, password: str) -> Credentials:
    with request.app.state.db.session() as s:
        user = find_by_email(s, email)
        lock = throttle.lock_in_force(s, login_subject(email, user), client_of(request))
        if lock is not None:  # refused whatever the password: spend no argon2 on it
            return Credentials(user.id if user is not None else None, False, None, lock)
        stored = user.password_hash if user is not None else None
        ok = verify_password(stored, password)  # takes the same time without a user
        return Credentials(user.id if user is not None else None, ok, stored)


async def checked_credentials(request: Request, form: Posted) -> Credentials | None:
    """Dependency: the password checked against the stored argon2 hash in a worker
    thread, before the request waits for its turn to write (argon2 takes a large
    part of a second: the other writers need not wait for it). None when the form
    lacks an e-mail or a password."""
    email, password = form.get("email", ""), form.get("password", "")
    if check_email(email) or not password:
        return None
    return await anyio.to_thread.run_sync(_check_credentials, request, email, password)


async def new_password_hash(form: Posted) -> str | None:
    """Dependency: the argon2 hash of a new password (fields ``password`` and
    ``password_confirm``), computed before the request's turn to write; None if the
    password is not acceptable (the route then says why)."""
    password = form.get("password", "")
    if password != form.get("password_confirm", "") or password_problem(
        password, email=form.get("email", ""), name=form.get("display_name", "")
    ):
        return None
    return await anyio.to_thread.run_sync(hash_password, password)


Checked = Annotated[Credentials | None, Depends(checked_credentials)]
NewHash = Annotated[str | None, Depends(new_password_hash)]


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: Posted, checked: Checked, db: DB) -> Response:
    email, password = form.get("email", ""), form.get("password", "")
    target = safe_next(form.get("next"))
    errors: dict[str, str] = {}
    if check_email(email):
        errors["email"] = check_email(email) or ""
    if not password:
        errors["password"] = _("Enter your password")
    user = db.get(User, checked.user_id) if checked and checked.user_id is not None else None
    client = client_of(request)
    subject = login_subject(email, user)
    if not errors and checked is not None:
        lock = checked.lock or throttle.lock_in_force(db, subject, client)
        if lock is not None:
            # Counted in the lock's row, not written to the audit log one by one.
            throttle.count_refused(db, subject, client)
            db.commit()
            message = lock_message(lock)
            errors = {"email": message, "password": message}
        elif (
            user is None
            or not checked.password_ok
            or user.password_hash != checked.checked_hash  # changed meanwhile
        ):
            message = _("The e-mail address or the password is not right")
            errors = {"email": message, "password": message}
            audit.record(db, SYSTEM, "user.login_failed", subject, {"client": client})
            limits = login_limits(request)
            for started in throttle.record_failure(db, subject, client, limits):
                audit.record(
                    db,
                    SYSTEM,
                    "user.login_throttled",
                    f"client:{client}" if started.scope == throttle.CLIENT else subject,
                    {
                        "scope": started.scope,
                        "client": client,
                        "failures": limits.after(started.scope),
                        "until": started.until.isoformat(timespec="seconds"),
                    },
                )
            db.commit()
        elif not user.is_active:
            message = _("This account has been closed; contact an administrator")
            errors = {"email": message, "password": message}
    if errors or user is None:
        return render(
            request,
            "auth/login.html",
            status_code=422,
            values={"email": email},
            errors=errors,
            next=target,
        )
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    log_in(request, db, user)
    throttle.clear_pair(db, subject, client)
    audit.record(db, user.name, "user.login", f"user:{user.name}")
    db.commit()
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request, db: DB) -> Response:
    auth = auth_of(request)
    if auth.session_id is not None:
        db.execute(delete(WebSession).where(WebSession.id == auth.session_id))
        if auth.user_name:
            audit.record(db, auth.user_name, "user.logout", f"user:{auth.user_name}")
        db.commit()
    auth.session_id = auth.csrf = None
    auth.clear = True
    return RedirectResponse("/login?out=1", status_code=303)


# -- registration -----------------------------------------------------------------

REGISTER_FIELDS = (
    "display_name",
    "email",
    "organisation",
    "role_requested",
    "research_interests",
)


def _handle_for(db: Session, email: str) -> str:
    """A unique handle for the audit log and the library, from the e-mail's local part."""
    base = re.sub(r"[^a-z0-9._-]", "", email.split("@")[0].lower())[:40].strip(".-_") or "user"
    if base == SYSTEM:
        base = "user"
    taken = set(db.scalars(select(User.name).where(User.name.startswith(base))))
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}{n}"
    return name


def check_profile(form: Form) -> dict[str, str]:
    errors: dict[str, str] = {}
    for key, problem in (
        (
            "display_name",
            check_text(
                form.get("display_name", ""),
                N_("Enter your full name"),
                N_("Your full name must be %(max)s characters or fewer"),
            ),
        ),
        (
            "organisation",
            check_text(
                form.get("organisation", ""),
                N_("Enter your organisation"),
                N_("Your organisation must be %(max)s characters or fewer"),
            ),
        ),
        (
            "research_interests",
            check_text(
                form.get("research_interests", ""),
                None,
                N_("Your research interests must be %(max)s characters or fewer"),
                max_len=2000,
            ),
        ),
    ):
        if problem:
            errors[key] = problem
    return errors


@router.get("/register", response_class=HTMLResponse)
def register_page(request: Request) -> Response:
    if auth_of(request).logged_in:
        return RedirectResponse("/profile", status_code=303)
    values: dict[str, Any] = {"role_requested": Role.RESEARCHER.value}
    return render(
        request, "auth/register.html", values=values, errors={}, roles=options(REQUESTABLE)
    )


@router.post("/register", response_class=HTMLResponse)
def register(request: Request, form: Posted, hashed: NewHash, db: DB) -> Response:
    values = {key: form.get(key, "") for key in REGISTER_FIELDS}
    values["email"] = values["email"].lower()
    errors = check_profile(form)
    if problem := check_email(values["email"]):
        errors["email"] = problem
    elif find_by_email(db, values["email"]) is not None:
        errors["email"] = _("An account with this e-mail address already exists; log in instead")
    if values["role_requested"] not in dict(REQUESTABLE):
        errors["role_requested"] = _("Choose the role you need")
    password = form.get("password", "")
    if problem := password_problem(password, email=values["email"], name=values["display_name"]):
        errors["password"] = problem
    elif form.get("password_confirm", "") != password:
        errors["password_confirm"] = _("Enter the same password twice")
    if errors:
        return render(
            request,
            "auth/register.html",
            status_code=422,
            values=values,
            errors=errors,
            roles=options(REQUESTABLE),
        )
    name = _handle_for(db, values["email"])
    requested = values["role_requested"]
    granted = requested if requested in SELF_SERVICE else ""
    user = User(
        name=name,
        role=granted,
        email=values["email"],
        password_hash=hashed or hash_password(password),
        display_name=values["display_name"],
        organisation=values["organisation"],
        research_interests=values["research_interests"],
        role_requested=None if granted else requested,
        is_active=True,
    )
    if granted:
        user.role_rows.append(UserRole(role=granted, granted_by=SYSTEM))
    db.add(user)
    db.flush()
    audit.record(
        db,
        name,
        "user.register",
        f"user:{name}",
        {
            "email": user.email,
            "organisation": user.organisation,
            "role_requested": requested,
            "granted": granted or None,
        },
    )
    log_in(request, db, user)
    flash(
        request,
        db,
        _("Your account has been created.")
        if granted
        else _(
            "Your account has been created. An administrator will look at the role you asked for."
        ),
    )
    db.commit()
    return RedirectResponse("/profile", status_code=303)


# -- password reset -------------------------------------------------------------------


def valid_reset(db: Session, token: str) -> PasswordResetToken | None:
    row = db.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == token_hash(token))
    )
    if row is None or row.used_at is not None or as_utc(row.expires_at) <= datetime.now(UTC):
        return None
    user = db.get(User, row.user_id)
    return row if user is not None and user.is_active else None


@router.get("/password-reset", response_class=HTMLResponse)
def reset_help(request: Request) -> HTMLResponse:
    return render(request, "auth/password_reset_help.html")


@router.get("/password-reset/{token}", response_class=HTMLResponse)
def reset_page(request: Request, token: str, db: DB) -> HTMLResponse:
    row = valid_reset(db, token)
    if row is None:
        return render(request, "auth/password_reset_invalid.html", status_code=404)
    user = db.get(User, row.user_id)
    return render(request, "auth/password_reset.html", errors={}, token=token, who=user)


@router.post("/password-reset/{token}", response_class=HTMLResponse)
def reset(request: Request, token: str, form: Posted, hashed: NewHash, db: DB) -> Response:
    row = valid_reset(db, token)
    if row is None:
        return render(request, "auth/password_reset_invalid.html", status_code=404)
    user = db.get(User, row.user_id)
    assert user is not None
    password = form.get("password", "")
    errors: dict[str, str] = {}
    if problem := password_problem(password, email=user.email or "", name=user.display_name):
        errors["password"] = problem
    elif form.get("password_confirm", "") != password:
        errors["password_confirm"] = _("Enter the same password twice")
    if errors:
        return render(
            request,
            "auth/password_reset.html",
            status_code=422,
            errors=errors,
            token=token,
            who=user,
        )
    user.password_hash = hashed or hash_password(password)
    row.used_at = datetime.now(UTC)
    db.execute(delete(WebSession).where(WebSession.user_id == user.id))
    throttle.clear_account(db, f"user:{user.name}")
    audit.record(
        db, user.name, "user.password_reset", f"user:{user.name}", {"issued_by": row.issued_by}
    )
    db.commit()
    return RedirectResponse("/login?reset=1", status_code=303)
