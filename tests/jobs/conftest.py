"""Fixtures for jobs: a migrated SQLite database with two approved, provisioned
projects (each a small DuckDB workspace in its own folder of a store), their
members, and people who are not members."""

from __future__ import annotations

import shutil
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs_world import PEOPLE, FakePlan, World, add_project
from sqlalchemy import select

from fivesafes.appdb import add_user, migrate, session_factory
from fivesafes.appdb.models import User


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jobs-db") / "template.db"
    url = f"sqlite:///{path}"
    migrate(url)
    with session_factory(url)() as session:
        for name, role in PEOPLE.items():
            add_user(session, name, role)
    return path


@pytest.fixture
def world(migrated_db: Path, tmp_path: Path) -> Iterator[World]:
    path = tmp_path / "state" / "fivesafes.db"
    path.parent.mkdir()
    shutil.copyfile(migrated_db, path)
    url = f"sqlite:///{path}"
    store = tmp_path / "store"
    (store / "identifiers").mkdir(parents=True)
    (store / "identifiers" / "names.csv").write_text("pseudonym,name\nP0001,Ada Lovelace\n")
    with session_factory(url)() as session:
        people = {u.name: u for u in session.scalars(select(User))}
        project = add_project(session, store, "project-1", [people["ana"], people["ben"]])
        other = add_project(session, store, "project-2", [people["eve"]], title="Other")
        yield World(url, store, session, people, project, other)


@pytest.fixture(autouse=True)
def plan(monkeypatch: pytest.MonkeyPatch) -> FakePlan:
    """The learning plan, complete unless a test says otherwise."""
    fake = FakePlan()
    module = types.ModuleType("fivesafes.people.plan")
    module.outstanding_courses = fake.outstanding_courses  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fivesafes.people.plan", module)
    return fake
