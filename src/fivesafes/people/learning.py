"""Enrolment, progress and quizzes.

:func:`enrol` takes a place with one atomic conditional ``UPDATE`` of the course's
``enrolled_count`` (``... WHERE enrolled_count < capacity``,
:func:`fivesafes.people.places.take_place`), so that concurrent enrolments never
exceed the capacity on SQLite or PostgreSQL; the unique (course, user) constraint
makes a double submit harmless (:func:`~fivesafes.people.places.add_once`). Progress is saved per
lesson as the learner goes (:func:`mark_read`, :func:`submit_quiz`) and
``last_lesson_id`` records where to resume (:func:`visit`). When every lesson is
done the course is complete: a statement of participation is issued and, if the
course grants one, an accreditation (:func:`complete`). Live and in-person courses
are completed only by a trainer recording attendance (:func:`record_attendance`):
their lessons are preparation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.appdb.models import User, utcnow
from fivesafes.audit import record
from fivesafes.errors import FivesafesError
from fivesafes.people import accreditation, places, statements
from fivesafes.people.catalogue import enrolment_status
from fivesafes.people.models import (
    Accreditation,
    Course,
    CourseFormat,
    Enrolment,
    Lesson,
    LessonProgress,
    QuizAttempt,
    Statement,
)


class EnrolmentRefused(FivesafesError):
    """The course does not take this enrolment (closed, not yet open, full)."""

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state


def find_enrolment(session: Session, course_id: int, user_id: int) -> Enrolment | None:
    return session.scalar(
        select(Enrolment).where(Enrolment.course_id == course_id, Enrolment.user_id == user_id)
    )


def enrolments_of(session: Session, user_id: int) -> list[Enrolment]:
    return list(
        session.scalars(
            select(Enrolment)
            .where(Enrolment.user_id == user_id)
            .order_by(Enrolment.enrolled_at.desc(), Enrolment.id.desc())
        )
    )


def enrol(session: Session, course: Course, user: User, today: date | None = None) -> Enrolment:
    """Enrol ``user`` on ``course`` and commit; enrolling twice returns the first
    enrolment. Raises :class:`EnrolmentRefused` when the course is closed, not yet
    open or full (nothing is stored then)."""
    existing = find_enrolment(session, course.id, user.id)
    if existing is not None:
        return existing
    status = enrolment_status(course, today)
    if status.state in ("closed", "opens"):
        label = status.label[0].lower() + status.label[1:]
        raise EnrolmentRefused(f"{course.title}: {label}", status.state)
    if not places.take_place(session, Course, course.id):
        session.rollback()
        session.refresh(course)
        raise EnrolmentRefused(f"{course.title} is full: every place is taken", "full")
    enrolment, added = places.add_once(
        session,
        Enrolment(course_id=course.id, user_id=user.id, enrolled_at=utcnow()),
        lambda: find_enrolment(session, course.id, user.id),
    )
    if not added:  # the same user enrolled at the same moment
        return enrolment
    record(session, user.name, "people.enrol", f"course:{course.slug}", {"user": user.name})
    session.commit()
    session.refresh(course)
    return enrolment


def done_lesson_ids(enrolment: Enrolment) -> set[int]:
    return {p.lesson_id for p in enrolment.progress}


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def progress_of(enrolment: Enrolment) -> Progress:
    lessons = enrolment.course.lessons
    done = done_lesson_ids(enrolment)
    return Progress(sum(1 for lesson in lessons if lesson.id in done), len(lessons))


def resume_lesson(enrolment: Enrolment) -> Lesson | None:
    """Where the learner carries on: the lesson they last opened if it is not done,
    else the first lesson not done, else (all done) None."""
    lessons = enrolment.course.lessons
    done = done_lesson_ids(enrolment)
    if enrolment.last_lesson_id is not None and enrolment.last_lesson_id not in done:
        for lesson in lessons:
            if lesson.id == enrolment.last_lesson_id:
                return lesson
    for lesson in lessons:
        if lesson.id not in done:
            return lesson
    return None


def visit(session: Session, enrolment: Enrolment, lesson: Lesson) -> None:
    """Remember that the learner opened ``lesson`` (for resuming); commits."""
    if enrolment.last_lesson_id != lesson.id:
        enrolment.last_lesson_id = lesson.id
        session.commit()


@dataclass
class Completion:
    """What finishing a lesson led to (``statement`` is set when the course was just
    completed; ``accreditation`` when that granted one)."""

    statement: Statement | None = None
    accreditation: Accreditation | None = None


def _record_done(session: Session, enrolment: Enrolment, lesson: Lesson) -> Completion:
    if lesson.id not in done_lesson_ids(enrolment):
        enrolment.progress.append(LessonProgress(lesson_id=lesson.id, completed_at=utcnow()))
    following = next_lesson(enrolment.course, lesson)
    enrolment.last_lesson_id = following.id if following else lesson.id
    session.flush()
    if (
        completes_by_lessons(enrolment.course)
        and enrolment.completed_at is None
        and all(les.id in done_lesson_ids(enrolment) for les in enrolment.course.lessons)
    ):
        return complete(session, enrolment)
    return Completion()


def completes_by_lessons(course: Course) -> bool:
    """Whether finishing the lessons completes the course: only self-paced ones (a live
    or in-person course's lessons are preparation; attendance completes it)."""
    return course.format == CourseFormat.SELF_PACED.value


def next_lesson(course: Course, lesson: Lesson) -> Lesson | None:
    lessons = course.lessons
    for i, les in enumerate(lessons):
        if les.id == lesson.id and i + 1 < len(lessons):
            return lessons[i + 1]
    return None


def previous_lesson(course: Course, lesson: Lesson) -> Lesson | None:
    lessons = course.lessons
    for i, les in enumerate(lessons):
        if les.id == lesson.id and i > 0:
            return lessons[i - 1]
    return None


def mark_read(session: Session, enrolment: Enrolment, lesson: Lesson) -> Completion:
    """Record a reading lesson as done (idempotent) and commit."""
    if lesson.course_id != enrolment.course_id:
        raise FivesafesError("this lesson is not part of that course")
    if lesson.is_quiz:
        raise FivesafesError(f"{lesson.title!r} is a quiz: answer its questions to pass it")
    outcome = _record_done(session, enrolment, lesson)
    session.commit()
    return outcome


@dataclass
class QuizResult:
    """A marked quiz. ``errors`` (question field → message) means it was not marked:
    some question was unanswered or had an answer that is not one of its options."""

    errors: dict[str, str] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)
    score: int = 0
    total: int = 0
    pass_mark: int = 0
    passed: bool = False
    correct: dict[int, bool] = field(default_factory=dict)
    completion: Completion | None = None

    @property
    def percent(self) -> int:
        return round(100 * self.score / self.total) if self.total else 0


def question_field(question_id: int) -> str:
    """The form field name of a question's answer."""
    return f"q{question_id}"


def passes(score: int, total: int, pass_mark: int) -> bool:
    """Whether ``score`` out of ``total`` reaches ``pass_mark`` percent (exactly the
    mark passes; compared in integers, so 4 of 5 reaches 80% and 7 of 9 does not
    reach 78%)."""
    return total > 0 and score * 100 >= pass_mark * total


def mark_quiz(lesson: Lesson, answers: Mapping[str, str]) -> QuizResult:
    """Mark the submitted ``answers`` (field → option index as text) of a quiz."""
    result = QuizResult(total=len(lesson.questions), pass_mark=lesson.pass_mark or 0)
    for number, question in enumerate(lesson.questions, start=1):
        name = question_field(question.id)
        raw = str(answers.get(name, "") or "").strip()
        if not raw:
            result.errors[name] = f"Answer question {number}"
            continue
        try:
            chosen = int(raw)
        except ValueError:
            chosen = -1
        if not 0 <= chosen < len(question.options):
            result.errors[name] = f"Choose one of the options for question {number}"
            continue
        result.answers[name] = chosen
        result.correct[question.id] = chosen == question.answer
    if result.errors:
        return result
    result.score = sum(result.correct.values())
    result.passed = passes(result.score, result.total, result.pass_mark)
    return result


def submit_quiz(
    session: Session, enrolment: Enrolment, lesson: Lesson, answers: Mapping[str, str]
) -> QuizResult:
    """Mark a quiz; a complete submission is recorded as an attempt (and, when it
    passes, the lesson is done) and committed. Incomplete ones store nothing."""
    if lesson.course_id != enrolment.course_id or not lesson.is_quiz:
        raise FivesafesError("this is not a quiz of that course")
    result = mark_quiz(lesson, answers)
    if result.errors:
        return result
    session.add(
        QuizAttempt(
            enrolment_id=enrolment.id,
            lesson_id=lesson.id,
            answers=dict(result.answers),
            score=result.score,
            total=result.total,
            passed=result.passed,
            created_at=utcnow(),
        )
    )
    enrolment.last_lesson_id = lesson.id
    session.flush()
    if result.passed:
        result.completion = _record_done(session, enrolment, lesson)
    record(
        session,
        enrolment.user.name,
        "people.quiz.attempt",
        f"course:{enrolment.course.slug}",
        {
            "lesson_id": lesson.id,
            "score": result.score,
            "total": result.total,
            "passed": result.passed,
        },
    )
    session.commit()
    return result


def attempts_at(enrolment: Enrolment, lesson: Lesson) -> list[QuizAttempt]:
    return [a for a in enrolment.attempts if a.lesson_id == lesson.id]


def complete(
    session: Session, enrolment: Enrolment, now: datetime | None = None, actor: str | None = None
) -> Completion:
    """Mark the enrolment complete, issue the statement and any accreditation
    (audited; the caller commits)."""
    moment = now or utcnow()
    course = enrolment.course
    enrolment.completed_at = moment
    statement = statements.issue(session, enrolment.user, course, now=moment)
    outcome = Completion(statement=statement)
    if course.grants_accreditation:
        outcome.accreditation = accreditation.grant(
            session,
            enrolment.user_id,
            course.grants_accreditation,
            course=course,
            statement_id=statement.id,
            now=moment,
        )
    record(
        session,
        actor or enrolment.user.name,
        "people.complete",
        f"course:{course.slug}",
        {
            "user": enrolment.user.name,
            "statement_id": statement.id,
            "accreditation": course.grants_accreditation,
        },
    )
    return outcome


def record_attendance(session: Session, enrolment: Enrolment, actor: str) -> Completion:
    """A trainer records that the learner attended a live or in-person course (or
    completes a self-paced one for them); every lesson counts as done. Commits."""
    if enrolment.completed_at is not None:
        raise FivesafesError("this learner has already completed the course")
    for lesson in enrolment.course.lessons:
        if lesson.id not in done_lesson_ids(enrolment):
            enrolment.progress.append(LessonProgress(lesson_id=lesson.id, completed_at=utcnow()))
    session.flush()
    outcome = complete(session, enrolment, actor=actor)
    session.commit()
    return outcome


def restart(session: Session, enrolment: Enrolment) -> None:
    """Take a completed course again (to renew its accreditation): progress is
    cleared, statements and accreditations already issued stay. Commits."""
    if enrolment.completed_at is None:
        raise FivesafesError("you have not completed this course yet: carry on where you left")
    enrolment.progress.clear()
    enrolment.completed_at = None
    enrolment.last_lesson_id = None
    record(
        session,
        enrolment.user.name,
        "people.restart",
        f"course:{enrolment.course.slug}",
        {"user": enrolment.user.name},
    )
    session.commit()
