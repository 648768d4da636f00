"""Capacity holds under concurrent enrolments (threads, each with its own database
connection): never more enrolments than places. On a SQLite file always, and on
PostgreSQL where ``$FIVESAFES_TEST_POSTGRES_URL`` reaches a server (its ``public``
schema is dropped and made again). The race itself is people_helpers.race, shared
with a workgroup session's (test_workgroup_capacity.py)."""

from __future__ import annotations

import pytest
from people_helpers import fresh_postgres, make_course, make_user, postgres_url, race
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes.appdb.models import User
from fivesafes.people import learning
from fivesafes.people.learning import EnrolmentRefused
from fivesafes.people.models import Course, Enrolment


def _race(session: Session, url: str, places: int = 5, people: int = 16) -> list[str]:
    """``people`` threads enrol on one course with ``places`` at the same moment."""
    course = make_course(session, capacity=places)
    users = [make_user(session, f"learner{i}") for i in range(people)]

    def attempt(s: Session, me: User) -> str:
        mine = s.get(Course, course.id)
        assert mine is not None
        s.info["barrier"].wait()
        try:
            learning.enrol(s, mine, me)
        except EnrolmentRefused as exc:
            return exc.state
        return "enrolled"

    outcomes = race(url, [u.id for u in users], attempt)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Enrolment)) == places
    assert session.get(Course, course.id).enrolled_count == places  # type: ignore[union-attr]
    return outcomes


def test_concurrent_enrolments_never_exceed_the_capacity(session: Session, db_url: str) -> None:
    assert _race(session, db_url) == ["enrolled"] * 5 + ["full"] * 11


@pytest.mark.skipif(
    postgres_url() is None,
    reason="no PostgreSQL server reachable at $FIVESAFES_TEST_POSTGRES_URL",
)
def test_concurrent_enrolments_never_exceed_the_capacity_on_postgresql() -> None:
    url = postgres_url()
    assert url is not None
    with fresh_postgres(url) as session:
        assert _race(session, url, places=4, people=12) == ["enrolled"] * 4 + ["full"] * 8
