"""Fixtures for the learning-platform library: a fresh SQLite file with every table
(the models' metadata; the migration itself is compared in tests/unit), users, and
a small course."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from people_helpers import make_user
from sqlalchemy.orm import Session

import fivesafes.people.models
import fivesafes.people.workgroups.models  # noqa: F401  (these register the tables)
from fivesafes.appdb import engine_for, session_factory
from fivesafes.appdb.models import Base, User


@pytest.fixture(scope="session")
def _schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database with every table, made once and copied for each test."""
    path = tmp_path_factory.mktemp("people-schema") / "schema.db"
    engine = engine_for(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    return path


@pytest.fixture
def db_url(tmp_path: Path, _schema: Path) -> str:
    path = tmp_path / "people.db"
    shutil.copyfile(_schema, path)
    return f"sqlite:///{path}"


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    with session_factory(db_url)() as s:
        yield s


@pytest.fixture
def alice(session: Session) -> User:
    return make_user(session, "alice")
