"""Users and their roles (the safe-settings part of who may do what)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.errors import FivesafesError
from fivesafes.settings.models import Role, User

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
