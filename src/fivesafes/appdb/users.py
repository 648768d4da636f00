"""Users and their roles (who may do what).

A user holds one or more roles: the primary ``User.role`` (the one the airlock
library reads) and every role in ``user_roles`` (which includes the primary one).
Every change is written to the audit log."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.appdb.models import Role, User, UserRole
from fivesafes.errors import FivesafesError

#: The actor name of the automatic machinery (never a user's name).
SYSTEM = "system"


def parse_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise FivesafesError(
            f"unknown role {role!r}; choose one of {', '.join(r.value for r in Role)}"
        ) from None


def add_user(session: Session, name: str, role: str, actor: str = SYSTEM) -> User:
    """Register a user with a role; written to the audit log and committed."""
    from fivesafes.audit import record  # the audit log imports the models from here

    chosen = parse_role(role)
    name = name.strip()
    if not name or name == SYSTEM:
        raise FivesafesError(f"{name!r} cannot be a user name; choose another")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise FivesafesError(f"a user called {name!r} already exists; choose another name")
    user = User(name=name, role=chosen.value)
    user.role_rows.append(UserRole(role=chosen.value, granted_by=actor))
    session.add(user)
    session.flush()
    record(session, actor, "user.add", f"user:{name}", {"role": chosen.value})
    session.commit()
    return user


def set_role(session: Session, name: str, role: str, actor: str = SYSTEM) -> User:
    """Change a user's role; written to the audit log and committed."""
    from fivesafes.audit import record

    chosen = parse_role(role)
    user = get_user(session, name)
    old = user.role
    user.role = chosen.value
    user.role_rows[:] = [row for row in user.role_rows if row.role != old]
    if all(row.role != chosen.value for row in user.role_rows):
        user.role_rows.append(UserRole(role=chosen.value, granted_by=actor))
    record(session, actor, "user.set_role", f"user:{name}", {"from": old, "to": chosen.value})
    session.commit()
    return user


def find_user(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name))


def get_user(session: Session, name: str) -> User:
    user = find_user(session, name)
    if user is None:
        raise FivesafesError(f"no user called {name!r}; add them with `fivesafes users add`")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


#: Which held role becomes the primary ``User.role`` when several are held.
PRIMARY_ORDER = [r.value for r in Role]


def set_roles(
    session: Session, user: User, roles: set[str], actor: str
) -> tuple[set[str], set[str]]:
    """Give ``user`` exactly ``roles`` (granting and revoking the difference), keep the
    primary role one they hold (empty when they hold none), write each change to the
    audit log. The caller commits. Returns ``(granted, revoked)``."""
    from fivesafes.audit import record

    for role in roles:
        parse_role(role)
    held = user.roles
    granted, revoked = roles - held, held - roles
    user.role_rows[:] = [row for row in user.role_rows if row.role in roles]
    for role in sorted(granted, key=PRIMARY_ORDER.index):
        user.role_rows.append(UserRole(role=role, granted_by=actor))
        record(session, actor, "user.grant_role", f"user:{user.name}", {"role": role})
    for role in sorted(revoked, key=PRIMARY_ORDER.index):
        record(session, actor, "user.revoke_role", f"user:{user.name}", {"role": role})
    if user.role not in roles:
        user.role = next((r for r in PRIMARY_ORDER if r in roles), "")
    if user.role_requested in roles:
        user.role_requested = None
    session.flush()
    return granted, revoked
