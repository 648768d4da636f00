"""FastAPI dependencies: the database session, the current user, and the access
requirements (each carries an ``access`` attribute that the security test reads
from the route table).

- ``get_db``: a SQLAlchemy session on the app's database; the route commits; a
  request that fails rolls back (nothing half-saved).
- ``current_user``: the logged-in :class:`User` or None.
- ``require_login``: the user, else 303 to ``/login?next=...`` (401 for JSON routes).
- ``require_role(*roles)``: the user if they hold one of ``roles`` (administrators
  hold every role), else 403.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, ClassVar

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from fivesafes.appdb.models import Role, User
from fivesafes.web.i18n import N_, _, gettext_plain
from fivesafes.web.sessions import SAFE_METHODS, Auth


class LoginRequired(Exception):
    """Raised for a visitor without a session on a page that needs one."""


class Forbidden(Exception):
    """Raised for a logged-in user without the right role or membership (403).
    ``message`` is the web app's own sentence, translated where it is raised (by
    default "You do not have permission...", in the request's language); ``reason``
    a sentence from the library (a refusal's), shown as written (English) under a
    translated heading and explanation."""

    def __init__(self, message: str | None = None, *, reason: str | None = None) -> None:
        super().__init__(message or reason or "")
        self.reason = reason
        self.message = message
        if message is None and reason is None:
            self.message = _("You do not have permission to see this page.")


@asynccontextmanager
async def _session(request: Request, write: bool) -> AsyncIterator[Session]:
    session = request.app.state.db.session(write=write)
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def get_db(request: Request) -> AsyncIterator[Session]:
    """A session on the app's database. For POST, PUT, PATCH and DELETE it is a
    writer's (see :mod:`fivesafes.web.db`: it holds the write lock only from its
    first change). Commit in the route; an error rolls everything back."""
    async with _session(request, write=request.method not in SAFE_METHODS) as session:
        yield session


async def get_write_db(request: Request) -> AsyncIterator[Session]:
    """A writer's session for a GET route that must write (e.g. an access written to
    the audit log, or where a learner is), like a POST's."""
    async with _session(request, write=True) as session:
        yield session


DB = Annotated[Session, Depends(get_db)]
#: A route parameter for a GET route that writes: ``db: WriteDB``. The session is
#: closed when the route function returns, before the response is sent (a download
#: holds no transaction while it streams).
WriteDB = Annotated[Session, Depends(get_write_db, scope="function")]


def current_user(request: Request, db: DB) -> User | None:
    """The logged-in user (loaded in the request's session), or None."""
    auth = getattr(request.state, "auth", None)
    if not isinstance(auth, Auth) or auth.user_id is None:
        return None
    user = db.get(User, auth.user_id)
    return user if user is not None and user.is_active else None


class LoginRequirement:
    """Dependency: the logged-in user, else :class:`LoginRequired`."""

    access: ClassVar[dict[str, Any]] = {"login": True}

    def __call__(self, user: Annotated[User | None, Depends(current_user)]) -> User:
        if user is None:
            raise LoginRequired()
        return user

    def __repr__(self) -> str:
        return "require_login"


require_login = LoginRequirement()


class RoleRequirement:
    """Dependency: the logged-in user if they hold one of ``roles``, else 403."""

    def __init__(self, roles: tuple[str, ...]) -> None:
        for role in roles:
            Role(role)  # a typo in a route's roles fails at start-up
        self.roles = roles
        self.access: dict[str, Any] = {"roles": list(roles)}

    def __call__(self, user: Annotated[User, Depends(require_login)]) -> User:
        if not user.has_role(*self.roles):
            raise Forbidden(role_refusal(self.roles))
        return user

    def __repr__(self) -> str:
        return f"require_role{self.roles!r}"


#: The roles of the site as the refusals name them (``appdb.models.Role``).
ROLE_NAMES = {
    "researcher": N_("researcher"),
    "output_checker": N_("output checker"),
    "panel_member": N_("approval panel member"),
    "data_owner": N_("data owner"),
    "trainer": N_("trainer"),
    "administrator": N_("administrator"),
    "linkage_operator": N_("linkage operator"),
}


def role_name(role: str) -> str:
    """A role's name ("output checker") in the request's language."""
    return gettext_plain(ROLE_NAMES.get(role, role.replace("_", " ")))


def role_refusal(roles: tuple[str, ...]) -> str:
    """ "This page is for users with the role X." (or "one of the roles X, Y") in the
    request's language."""
    names = [role_name(r) for r in roles]
    if len(names) == 1:
        return _("This page is for users with the role %(name)s.", name=names[0])
    return _(
        "This page is for users with one of the roles %(names)s.",
        names=", ".join(names),
    )


#: The ids the database holds are signed 64-bit integers.
_MAX_ID = 2**63 - 1


async def ids_in_range(request: Request) -> None:
    """Dependency of every route (set on the app): an id in the path (a parameter
    named ``..._id``) that no database id can be (beyond 64 bits) is "not found"
    before anything reads the database, which would fail on it (a 500, and a
    traceback logged per request)."""
    for name, value in request.path_params.items():
        text = str(value).removeprefix("-")
        if (
            name.endswith("_id")
            and text.isascii()
            and text.isdigit()
            and (len(text) > 19 or int(text) > _MAX_ID)
        ):
            raise HTTPException(404, _("Check the address; the page may have moved."))


#: A route parameter for the logged-in user: ``user: LoggedIn``.
LoggedIn = Annotated[User, Depends(require_login)]


def require_role(*roles: str) -> RoleRequirement:
    """A dependency that lets through users holding one of ``roles``."""
    if not roles:
        raise ValueError("require_role needs at least one role")
    return RoleRequirement(roles)


def requirements(dependant: Any) -> list[dict[str, Any]]:
    """Every ``access`` requirement in a route's dependency tree."""
    found: list[dict[str, Any]] = []
    for dep in getattr(dependant, "dependencies", []):
        access = getattr(dep.call, "access", None)
        if isinstance(access, dict):
            found.append(access)
        found.extend(requirements(dep))
    return found
