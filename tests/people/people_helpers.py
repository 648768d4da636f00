"""Helpers for the learning-platform tests: users, a small course, and races for
places (a course's, a workgroup session's) run from many threads at once."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from fivesafes.appdb import engine_for, session_factory
from fivesafes.appdb.models import Base, User
from fivesafes.appdb.pgcluster import reachable
from fivesafes.people.models import Course, Lesson, QuizQuestion


def make_user(session: Session, name: str, role: str = "researcher") -> User:
    user = User(name=name, role=role, display_name=name.title())
    session.add(user)
    session.commit()
    return user


def make_course(
    session: Session,
    slug: str = "intro",
    *,
    quiz: bool = True,
    pass_mark: int = 80,
    **values: object,
) -> Course:
    """A self-paced course: two reading lessons and (with ``quiz``) a five-question
    quiz whose right answer is always the second option (index 1)."""
    fields: dict[str, object] = {
        "slug": slug,
        "title": f"Course {slug}",
        "summary": "A course",
        "description": "",
        "format": "self_paced",
        "duration": "1 hour",
        "fee_pence": 0,
        "location": "",
        "enrolled_count": 0,
        "required_for_everyone": False,
        "required_for_roles": [],
        "required_for_datasets": [],
        "published": True,
    }
    fields.update(values)
    course = Course(**fields)
    course.lessons.append(Lesson(position=1, title="One", kind="reading", body="# One"))
    course.lessons.append(Lesson(position=2, title="Two", kind="reading", body="# Two"))
    if quiz:
        lesson = Lesson(position=3, title="Quiz", kind="quiz", body="", pass_mark=pass_mark)
        for i in range(5):
            lesson.questions.append(
                QuizQuestion(
                    position=i + 1, text=f"Q{i}", options=["a", "b", "c"], answer=1, explanation=""
                )
            )
        course.lessons.append(lesson)
    session.add(course)
    session.commit()
    return course


def race(url: str, user_ids: Sequence[int], attempt: Callable[[Session, User], str]) -> list[str]:
    """Every user in ``user_ids`` tries at the same moment, each in a thread with its
    own database connection: ``attempt(session, user)`` loads what it needs, waits at
    the barrier (``session.info["barrier"]``) and returns its outcome. The outcomes,
    sorted."""
    factory = session_factory(create_engine(url, poolclass=NullPool))
    barrier = threading.Barrier(len(user_ids), timeout=60)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(user_id: int) -> None:
        with factory() as s:
            me = s.get(User, user_id)
            assert me is not None
            s.info["barrier"] = barrier
            result = attempt(s, me)
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(u,)) for u in user_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(outcomes)


def postgres_url() -> str | None:
    """``$FIVESAFES_TEST_POSTGRES_URL`` if a server answers there."""
    return reachable(os.environ.get("FIVESAFES_TEST_POSTGRES_URL"))


@contextmanager
def fresh_postgres(url: str) -> Iterator[Session]:
    """A session on the server at ``url`` whose ``public`` schema is dropped and
    made again with every table."""
    engine = engine_for(url)
    with engine.begin() as c:
        c.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    Base.metadata.create_all(engine)
    with session_factory(engine)() as session:
        yield session
