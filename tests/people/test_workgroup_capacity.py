"""A workgroup session's capacity holds under concurrent enrolments (threads, each
with its own database connection), as a course's does (test_capacity.py, the same
race: people_helpers.race): never more places taken than the session has, and
``enrolled_count`` equal to the rows. On a SQLite file always, and on PostgreSQL
where ``$FIVESAFES_TEST_POSTGRES_URL`` reaches a server (its ``public`` schema is
dropped and made again)."""

from __future__ import annotations

import pytest
from people_helpers import fresh_postgres, make_user, postgres_url, race
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from workgroup_helpers import make_session, make_workgroup

from fivesafes.appdb.models import User
from fivesafes.people.workgroups import groups, live
from fivesafes.people.workgroups.live import EnrolmentRefused
from fivesafes.people.workgroups.models import LiveSession, SessionEnrolment


def _race(session: Session, url: str, places: int, members: int, outsiders: int = 2) -> list[str]:
    """``members`` members and ``outsiders`` non-members enrol at the same moment on
    one session with ``places`` places."""
    workgroup = make_workgroup(session)
    target = make_session(session, workgroup, capacity=places)
    people = [make_user(session, f"member{i}") for i in range(members)]
    for person in people:
        groups.join(session, workgroup, person)
    strangers = [make_user(session, f"outsider{i}") for i in range(outsiders)]

    def attempt(s: Session, me: User) -> str:
        mine = s.get(LiveSession, target.id)
        assert mine is not None
        mine.workgroup  # noqa: B018  (loaded before the race)
        s.info["barrier"].wait()
        try:
            live.enrol(s, mine, me)
        except EnrolmentRefused as exc:
            return exc.state
        return "enrolled"

    outcomes = race(url, [p.id for p in people] + [s.id for s in strangers], attempt)
    session.expire_all()
    rows = session.scalar(select(func.count()).select_from(SessionEnrolment))
    assert rows == places
    assert session.get(LiveSession, target.id).enrolled_count == places  # type: ignore[union-attr]
    holders = set(session.scalars(select(SessionEnrolment.user_id)))
    assert holders <= {p.id for p in people}  # no outsider got in
    return outcomes


def test_concurrent_enrolments_never_exceed_a_sessions_capacity(
    session: Session, db_url: str
) -> None:
    outcomes = _race(session, db_url, places=4, members=10)
    assert outcomes == ["enrolled"] * 4 + ["full"] * 6 + ["not_member"] * 2


@pytest.mark.skipif(
    postgres_url() is None,
    reason="no PostgreSQL server reachable at $FIVESAFES_TEST_POSTGRES_URL",
)
def test_concurrent_enrolments_never_exceed_a_sessions_capacity_on_postgresql() -> None:
    url = postgres_url()
    assert url is not None
    with fresh_postgres(url) as session:
        outcomes = _race(session, url, places=3, members=12)
    assert outcomes == ["enrolled"] * 3 + ["full"] * 9 + ["not_member"] * 2
