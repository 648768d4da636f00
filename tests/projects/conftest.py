"""Fixtures for the safe-projects library: a migrated SQLite database with a user
for each part (researchers, the panel, dataset owners, checkers, an administrator);
the researchers hold a valid safe researcher accreditation (members need one),
except ``rex``, a researcher who has none yet."""

from __future__ import annotations

import shutil
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from fivesafes.appdb import add_user, migrate, session_factory
from fivesafes.appdb.models import User
from fivesafes.people import accreditation
from fivesafes.projects import applications as apps

PEOPLE = {
    "ana": "researcher",
    "ben": "researcher",
    "cat": "researcher",
    "rex": "researcher",
    "pat": "panel_member",
    "pia": "panel_member",
    "olly": "data_owner",
    "oona": "data_owner",
    "cy": "output_checker",
    "di": "output_checker",
    "adam": "administrator",
}


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database migrated once, with the people in it, copied for each test."""
    path = tmp_path_factory.mktemp("projects-db") / "template.db"
    url = f"sqlite:///{path}"
    migrate(url)
    with session_factory(url)() as session:
        for name, role in PEOPLE.items():
            user = add_user(session, name, role)
            if role == "researcher" and name != "rex":
                accreditation.grant(session, user.id, apps.MEMBER_ACCREDITATION)
        session.commit()
    return path


@pytest.fixture
def db(migrated_db: Path, tmp_path: Path) -> Iterator[Session]:
    path = tmp_path / "state.db"
    shutil.copyfile(migrated_db, path)
    with session_factory(f"sqlite:///{path}")() as session:
        yield session


@pytest.fixture
def people(db: Session) -> dict[str, User]:
    from sqlalchemy import select

    return {u.name: u for u in db.scalars(select(User))}


@pytest.fixture
def owned(db: Session, people: dict[str, User]) -> dict[str, User]:
    """pupil_census owned by olly, justice_offences by oona."""
    apps.assign_owner(db, people["adam"], "pupil_census", "olly")
    apps.assign_owner(db, people["adam"], "justice_offences", "oona")
    return people


def _application(**changes: object) -> apps.ApplicationInput:
    data = apps.ApplicationInput(
        title="Attainment and offending",
        lay_summary="Whether falling attainment goes with later convictions.",
        public_benefit="Earlier help for pupils.",
        organisation="University of Northbridge",
        datasets=["pupil_census", "justice_offences"],
        members="ben, researcher",
    )
    for key, value in changes.items():
        setattr(data, key, value)
    return data


@pytest.fixture
def application() -> object:
    """A factory of good application forms (keyword arguments change fields)."""
    return _application


class FakePlan:
    """Stands in for the learning platform's plan: ``outstanding`` is what it says
    is still to do (nothing by default), and ``calls`` what it was asked."""

    def __init__(self) -> None:
        self.outstanding: list[object] = []
        self.calls: list[tuple[int, list[str], str]] = []

    def outstanding_courses(
        self,
        session: Session,
        user_id: int,
        datasets: list[str],
        project_role: str,
        outputs: tuple[str, ...] | list[str] = (),
    ) -> list[object]:
        self.calls.append((user_id, list(datasets), project_role))
        return list(self.outstanding)


@pytest.fixture(autouse=True)
def plan(monkeypatch: pytest.MonkeyPatch) -> FakePlan:
    """The learning plan, complete unless a test says otherwise (the plan's own
    rules are the learning platform's, tested there)."""
    fake = FakePlan()
    module = types.ModuleType("fivesafes.people.plan")
    module.outstanding_courses = fake.outstanding_courses  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fivesafes.people.plan", module)
    return fake
