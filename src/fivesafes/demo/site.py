"""The demo site: one user for each role, then every seeder in :data:`SEEDERS`.

Each seeder is ``"module:function"`` with ``function(session, users)`` where
``users`` maps a demo key ("researcher", "researcher2", "output_checker", ...)
to the created :class:`User`. A seeder whose module does not exist yet is skipped
with a warning.
"""

from __future__ import annotations

import importlib
import secrets
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes import audit
from fivesafes.appdb.db import migrate
from fivesafes.appdb.models import Role, User, UserRole
from fivesafes.appdb.users import SYSTEM
from fivesafes.errors import FivesafesError
from fivesafes.web.db import Database
from fivesafes.web.security import hash_password

#: Called in this order after the demo users exist.
SEEDERS: list[str] = [
    "fivesafes.demo.people:seed",
    "fivesafes.demo.workgroups:seed",
    "fivesafes.demo.projects:seed",
    "fivesafes.demo.collections:seed",
]

DEMO_DOMAIN = "example.org"


@dataclass(frozen=True)
class DemoUser:
    key: str
    display_name: str
    organisation: str
    roles: tuple[str, ...]
    interests: str = ""

    @property
    def email(self) -> str:
        return f"{self.key.replace('_', '.')}@{DEMO_DOMAIN}"


DEMO_USERS: list[DemoUser] = [
    DemoUser(
        "researcher",
        "Rosa Researcher",
        "University of Northshire",
        (Role.RESEARCHER,),
        "Educational trajectories and later offending",
    ),
    DemoUser(
        "researcher2",
        "Ravi Researcher",
        "Institute for Fiscal Questions",
        (Role.RESEARCHER,),
        "Pay gaps of immigrant employees",
    ),
    DemoUser("output_checker", "Olu Checker", "fivesafes TRE", (Role.OUTPUT_CHECKER,)),
    DemoUser("output_checker2", "Orla Checker", "fivesafes TRE", (Role.OUTPUT_CHECKER,)),
    DemoUser("data_owner", "Dara Owner", "Department for Education (demo)", (Role.DATA_OWNER,)),
    DemoUser("panel_member", "Pat Panel", "Approval panel", (Role.PANEL_MEMBER,)),
    DemoUser("trainer", "Tam Trainer", "fivesafes TRE", (Role.TRAINER,)),
    DemoUser("administrator", "Ada Administrator", "fivesafes TRE", (Role.ADMINISTRATOR,)),
    DemoUser("linkage_operator", "Lin Operator", "Trusted third party", (Role.LINKAGE_OPERATOR,)),
]


def demo_password() -> str:
    """A fresh random password for a demo user (printed once by ``seed-demo``)."""
    return "demo-" + secrets.token_urlsafe(9)


def _load(target: str) -> Callable[[Session, dict[str, User]], None] | None:
    module_name, _, function = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            warnings.warn(
                f"seeder {target} skipped: {module_name} does not exist yet", stacklevel=2
            )
            return None
        raise
    fn = getattr(module, function, None)
    if fn is None:
        warnings.warn(f"seeder {target} skipped: {module_name} has no {function}", stacklevel=2)
        return None
    return fn  # type: ignore[no-any-return]


def create_demo_users(
    session: Session, passwords: dict[str, str] | None = None
) -> tuple[dict[str, User], list[dict[str, Any]]]:
    """Add the demo users (caller commits); returns ``users`` by key and, for each,
    ``{"key", "name", "email", "password", "roles"}``."""
    emails = [d.email for d in DEMO_USERS]
    if session.scalar(select(User).where(User.email.in_(emails))) is not None:
        raise FivesafesError(
            "this database already has the demo users; seed a fresh database (give --db)"
        )
    users: dict[str, User] = {}
    listing: list[dict[str, Any]] = []
    for demo in DEMO_USERS:
        password = (passwords or {}).get(demo.key) or demo_password()
        roles = [str(r) for r in demo.roles]
        user = User(
            name=demo.key,
            role=roles[0],
            email=demo.email,
            password_hash=hash_password(password),
            display_name=demo.display_name,
            organisation=demo.organisation,
            research_interests=demo.interests,
            is_active=True,
        )
        user.role_rows.extend(UserRole(role=r, granted_by=SYSTEM) for r in roles)
        session.add(user)
        session.flush()
        audit.record(session, SYSTEM, "user.create", f"user:{user.name}", {"demo": True})
        users[demo.key] = user
        listing.append(
            {
                "key": demo.key,
                "name": user.name,
                "email": demo.email,
                "password": password,
                "roles": roles,
            }
        )
    return users, listing


def seed_demo(
    db_url: str | None = None, passwords: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Fill the database at ``db_url`` with the demo site; returns the demo users
    with their passwords. Each seeder runs and commits in turn."""
    database = Database(db_url)
    migrate(database.url)
    try:
        with database.session(write=True) as session:
            users, listing = create_demo_users(session, passwords)
            session.commit()
            for target in SEEDERS:
                fn = _load(target)
                if fn is not None:
                    fn(session, users)
                    session.commit()
    finally:
        database.dispose()
    return listing
