"""Capacity holds under concurrent enrolments (threads, each with its own database
connection, on one SQLite file): never more enrolments than places."""

from __future__ import annotations

import threading

from people_helpers import make_course, make_user
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from fivesafes.people import learning
from fivesafes.people.learning import EnrolmentRefused
from fivesafes.people.models import Course, Enrolment
from fivesafes.settings import session_factory


def test_concurrent_enrolments_never_exceed_the_capacity(session: Session, db_url: str) -> None:
    course = make_course(session, capacity=5)
    users = [make_user(session, f"learner{i}") for i in range(16)]
    factory = session_factory(create_engine(db_url, poolclass=NullPool))
    barrier = threading.Barrier(len(users), timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(user_id: int) -> None:
        with factory() as s:
            mine = s.get(Course, course.id)
            me = s.get(type(users[0]), user_id)
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
    assert sorted(outcomes) == ["enrolled"] * 5 + ["full"] * 11
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Enrolment)) == 5
    assert session.get(Course, course.id).enrolled_count == 5  # type: ignore[union-attr]
