"""GET pages that write do so in a writer's session (see :mod:`fivesafes.web.db`),
and those that change nothing open none. Each test records, for every session the
app opens, whether it was a writer's."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session
from webclient import WebClient

from fivesafes import audit
from fivesafes.appdb import session_factory
from fivesafes.appdb.users import get_user
from fivesafes.people.models import Course, Enrolment
from fivesafes.projects.release import BUNDLES_ENV
from fivesafes.web.db import Database

INDUCTION = "safe-researcher-induction"
APPROVED_PROJECT = 1
SEEDED_REQUEST = 1


@pytest.fixture
def turns(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each writer's session the app opens: True."""
    database: Database = app.state.db
    original = database.session
    seen: list[bool] = []

    def spying(write: bool = False) -> Session:
        if write:
            seen.append(True)
        return original(write)

    monkeypatch.setattr(database, "session", spying)
    return seen


@pytest.fixture
def db(app: FastAPI) -> Iterator[Session]:
    with session_factory(app.state.db.engine)() as session:
        yield session


def test_opening_a_lesson_saves_the_place_in_a_writers_session(
    client: WebClient, turns: list[bool], db: Session
) -> None:
    learner = client.login_as("researcher2")  # the induction, three lessons in
    course = db.scalar(select(Course).where(Course.slug == INDUCTION))
    assert course is not None
    first = course.lessons[0]
    user = get_user(db, "researcher2")
    enrolment = db.scalar(
        select(Enrolment).where(Enrolment.course_id == course.id, Enrolment.user_id == user.id)
    )
    assert enrolment is not None and enrolment.last_lesson_id != first.id
    turns.clear()
    page = learner.get(f"/learning/courses/{INDUCTION}/lessons/{first.id}")
    assert page.status_code == 200
    assert first.title in page.text
    db.rollback()  # a fresh read
    assert enrolment.last_lesson_id == first.id
    assert turns and all(turns), turns
    # Opening it again changes nothing, so nothing is written.
    turns.clear()
    assert learner.get(f"/learning/courses/{INDUCTION}/lessons/{first.id}").status_code == 200
    assert turns == []


def test_not_enrolled_on_a_lesson_is_refused_without_writing(
    client: WebClient, turns: list[bool], db: Session
) -> None:
    course = db.scalar(select(Course).where(Course.slug == INDUCTION))
    assert course is not None
    stranger = client.login_as("panel_member")
    turns.clear()
    page = stranger.get(f"/learning/courses/{INDUCTION}/lessons/{course.lessons[0].id}")
    assert page.status_code == 403
    assert "Enrol on" in page.text
    assert turns == []


def test_airlock_views_and_downloads_are_logged_in_a_writers_session(
    client: WebClient,
    turns: list[bool],
    db: Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(BUNDLES_ENV, str(tmp_path / "bundles"))
    subject = f"request:{SEEDED_REQUEST}"
    views = len(audit.entries(db, subject=subject, action="airlock.view"))
    turns.clear()
    checker = client.login_as("output_checker")
    page = checker.get(f"/airlock/requests/{SEEDED_REQUEST}")
    assert page.status_code == 200
    assert "Disclosure report for offenders_by_area.csv" in page.text
    db.rollback()
    assert len(audit.entries(db, subject=subject, action="airlock.view")) == views + 1
    # Two checkers approve; the request is released and its bundle written.
    for who in ("output_checker", "output_checker2"):
        reviewer = client.fresh().login_as(who)
        answer = reviewer.post_form(
            f"/airlock/requests/{SEEDED_REQUEST}/review",
            {"output": "offenders_by_area.csv", "decision": "approve", "comment": ""},
        )
        assert answer.status_code == 303, answer.text
    member = client.fresh().login_as("researcher2")
    download = member.get(f"/projects/{APPROVED_PROJECT}/airlock/{SEEDED_REQUEST}/bundle")
    assert download.status_code == 200
    assert (
        f"request-{SEEDED_REQUEST}/manifest.json"
        in zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    )
    db.rollback()
    downloads = audit.entries(db, subject=subject, action="airlock.download")
    assert [e.actor for e in downloads] == ["researcher2"]
    assert turns and all(turns), turns


# --- writers hold the lock only from their first change (issue 14) --------------------


def test_a_writer_holds_the_write_lock_only_from_its_first_change(app: FastAPI) -> None:
    import threading

    from fivesafes.appdb.models import User

    database: Database = app.state.db
    first = database.session(write=True)
    try:
        name = first.scalars(select(User.name).order_by(User.id)).first()  # reads: no lock
        assert name is not None

        def write(tag: str) -> None:
            with database.session(write=True) as other:
                audit.record(other, "system", "test.write", f"test:{tag}")
                other.commit()

        while_reading = threading.Thread(target=write, args=("while-reading",))
        while_reading.start()
        while_reading.join(timeout=30)
        assert not while_reading.is_alive()  # another writer went ahead meanwhile
        audit.record(first, "system", "test.write", "test:first")  # now it holds the lock
        waiting = threading.Thread(target=write, args=("after-first-change",))
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive()  # it waits for the first writer to commit ...
        first.commit()
        waiting.join(timeout=30)
        assert not waiting.is_alive()  # ... and then goes ahead
    finally:
        first.close()
    with database.session() as reader:
        order = [e.subject for e in audit.entries(reader, action="test.write")]
        assert order == ["test:while-reading", "test:first", "test:after-first-change"]
        assert audit.verify(reader).ok


def test_many_writers_at_once_keep_the_chain_one_line(app: FastAPI) -> None:
    from concurrent.futures import ThreadPoolExecutor

    database: Database = app.state.db

    def write(n: int) -> None:
        with database.session(write=True) as session:
            audit.record(session, "system", "test.many", f"test:{n}")
            session.commit()

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(write, range(64)))
    with database.session() as reader:
        assert len(audit.entries(reader, action="test.many")) == 64
        assert audit.verify(reader).ok
