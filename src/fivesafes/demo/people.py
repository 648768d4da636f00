"""The demo site's learning platform: the courses, resources and featured datasets
of ``content/``, and learners at different stages.

:func:`seed` is called by ``fivesafes web seed-demo`` with the demo users by role:

- ``researcher`` has completed the induction (accredited safe researcher) and both
  dataset courses (justice, school census);
- ``researcher2`` was accredited almost three years ago (it expires within months), has
  both dataset courses, and is partly through the induction again to renew: two of
  its five lessons done, resuming at the third;
- ``output_checker`` and ``output_checker2`` hold the safe researcher and output
  checker accreditations (they attended the live checking workshop);
- the data owner owns the dataset courses, the trainer the others.

So the seeded project's members and checkers have complete learning plans.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy.orm import Session

from fivesafes.appdb.models import User, utcnow
from fivesafes.appdb.users import SYSTEM
from fivesafes.audit import record
from fivesafes.people import learning
from fivesafes.people.catalogue import find_course
from fivesafes.people.content import load_courses, load_resources
from fivesafes.people.models import (
    Course,
    Enrolment,
    FeaturedDataset,
    Lesson,
    LessonProgress,
    QuizQuestion,
    Resource,
)

INDUCTION = "safe-researcher-induction"


def load_content(session: Session, users: Mapping[str, User], actor: str = SYSTEM) -> None:
    """Create the content's courses (owned by the user of their ``owner`` role),
    resources and featured datasets that do not exist yet; flushes, does not commit."""
    for spec in load_courses():
        if find_course(session, spec.values["slug"]) is not None:
            continue
        owner = users.get(spec.owner) if spec.owner else None
        course = Course(**spec.values, owner_id=owner.id if owner else None, enrolled_count=0)
        session.add(course)
        for position, ls in enumerate(spec.lessons, start=1):
            lesson = Lesson(
                course=course,
                position=position,
                title=ls.title,
                kind=ls.kind,
                body=ls.body,
                pass_mark=ls.pass_mark,
                translations=ls.translations,
            )
            for qpos, q in enumerate(ls.questions, start=1):
                lesson.questions.append(
                    QuizQuestion(
                        position=qpos,
                        text=q.text,
                        options=q.options,
                        answer=q.answer,
                        explanation=q.explanation,
                        translations=q.translations,
                    )
                )
            session.add(lesson)
        session.flush()
        record(session, actor, "people.course.create", f"course:{course.slug}", {"seed": True})
    resources, featured = load_resources()
    existing = {r.slug for r in session.query(Resource)}
    for values in resources:
        if values["slug"] not in existing:
            session.add(Resource(**values))
    shown = {f.dataset for f in session.query(FeaturedDataset)}
    for position, item in enumerate(featured, start=1):
        if item["dataset"] not in shown:
            session.add(
                FeaturedDataset(
                    dataset=item["dataset"],
                    blurb=" ".join(item["blurb"].split()),
                    position=position,
                )
            )
    session.flush()


def _complete_in_past(session: Session, course: Course, user: User, days_ago: int) -> Enrolment:
    """Enrol ``user`` and complete ``course`` as if it happened ``days_ago``."""
    when = utcnow() - timedelta(days=days_ago)
    enrolment = learning.find_enrolment(session, course.id, user.id)
    if enrolment is None:
        enrolment = Enrolment(course_id=course.id, user_id=user.id, enrolled_at=when)
        session.add(enrolment)
        course.enrolled_count += 1
        session.flush()
    for lesson in course.lessons:
        enrolment.progress.append(LessonProgress(lesson_id=lesson.id, completed_at=when))
    enrolment.last_lesson_id = course.lessons[-1].id if course.lessons else None
    session.flush()
    learning.complete(session, enrolment, now=when, actor=SYSTEM)
    return enrolment


def seed(session: Session, users: dict[str, User]) -> None:
    """Fill the learning platform of a fresh demo site (see the module docstring)."""
    load_content(session, users)
    courses = {c.slug: c for c in session.query(Course)}
    induction = courses[INDUCTION]
    datasets = [courses["justice-data"], courses["education-data"]]
    if "researcher" in users:
        person = users["researcher"]
        if learning.find_enrolment(session, induction.id, person.id) is None:
            _complete_in_past(session, induction, person, days_ago=60)
            for course in datasets:
                _complete_in_past(session, course, person, days_ago=45)
    if "researcher2" in users:
        person = users["researcher2"]
        if learning.find_enrolment(session, induction.id, person.id) is None:
            enrolment = _complete_in_past(session, induction, person, days_ago=1000)
            for course in datasets:
                _complete_in_past(session, course, person, days_ago=400)
            # Renewing: the induction again, two lessons in, the third opened.
            enrolment.progress.clear()
            enrolment.completed_at = None
            session.flush()
            now = utcnow()
            for lesson in induction.lessons[:2]:
                enrolment.progress.append(LessonProgress(lesson_id=lesson.id, completed_at=now))
            enrolment.last_lesson_id = induction.lessons[2].id
    for role in ("output_checker", "output_checker2"):
        if role in users:
            person = users[role]
            if learning.find_enrolment(session, induction.id, person.id) is None:
                _complete_in_past(session, induction, person, days_ago=200)
                _complete_in_past(session, courses["output-checking"], person, days_ago=150)
    session.commit()
