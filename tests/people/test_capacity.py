"""Capacity holds under concurrent enrolments (threads, each with its own database
connection): never more enrolments than places. On a SQLite file always, and on
PostgreSQL where ``$FIVESAFES_TEST_POSTGRES_URL`` reaches a server (its ``public``
schema is dropped and made again)."""

from __future__ import annotations

import os
import threading

import pytest
from people_helpers import make_course, make_user
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from fivesafes.appdb import engine_for, session_factory
from fivesafes.appdb.models import Base, User
from fivesafes.appdb.pgcluster import reachable
from fivesafes.people import learning
from fivesafes.people.learning import EnrolmentRefused
from fivesafes.people.models import Course, Enrolment


def _race(session: Session, url: str, places: int = 5, people: int = 16) -> list[str]:
    """``people`` threads enrol on one course with ``places`` at the same moment."""
    course = make_course(session, capacity=places)
    users = [make_user(session, f"learner{i}") for i in range(people)]
    factory = session_factory(create_engine(url, poolclass=NullPool))
    barrier = threading.Barrier(len(users), timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(user_id: int) -> None:
        with factory() as s:
            mine = s.get(Course, course.id)
            me = s.get(User, user_id)
            assert mine is not None and me is not None
            barrier.wait()
            try:
                learning.enrol(s, mine, me)
                result = "enrolled"
            except EnrolmentRefused as exc:
                result = exc.state
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(u.id,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Enrolment)) == places
    assert session.get(Course, course.id).enrolled_count == places  # type: ignore[union-attr]
    return sorted(outcomes)


def test_concurrent_enrolments_never_exceed_the_capacity(session: Session, db_url: str) -> None:
    assert _race(session, db_url) == ["enrolled"] * 5 + ["full"] * 11


def _postgres_url() -> str | None:
    return reachable(os.environ.get("FIVESAFES_TEST_POSTGRES_URL"))


@pytest.mark.skipif(
    _postgres_url() is None,
    reason="no PostgreSQL server reachable at $FIVESAFES_TEST_POSTGRES_URL",
)
def test_concurrent_enrolments_never_exceed_the_capacity_on_postgresql() -> None:
    url = _postgres_url()
    assert url is not None
    engine = engine_for(url)
    with engine.begin() as c:
        c.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    Base.metadata.create_all(engine)
    with session_factory(engine)() as session:
        assert _race(session, url, places=4, people=12) == ["enrolled"] * 4 + ["full"] * 8
