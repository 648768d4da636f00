"""Enrolment, progress saved per lesson, resuming, quiz marking and completion."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from people_helpers import make_course, make_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes.appdb.models import AuditEntry, User
from fivesafes.errors import FivesafesError
from fivesafes.people import learning
from fivesafes.people.learning import EnrolmentRefused, mark_quiz, passes, question_field
from fivesafes.people.models import Accreditation, QuizAttempt, Statement


def _answers(lesson, right: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Answers with the first ``right`` questions right and the rest wrong."""
    return {
        question_field(q.id): str(q.answer if i < right else (q.answer + 1) % len(q.options))
        for i, q in enumerate(lesson.questions)
    }


def test_enrolling_twice_gives_the_same_enrolment_and_one_place(
    session: Session, alice: User
) -> None:
    course = make_course(session, capacity=3)
    first = learning.enrol(session, course, alice)
    again = learning.enrol(session, course, alice)
    assert first.id == again.id
    assert course.enrolled_count == 1
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == 1


def test_closed_not_yet_open_and_full_courses_refuse_and_store_nothing(
    session: Session, alice: User
) -> None:
    today = date(2027, 3, 1)
    closed = make_course(session, "closed", enrolment_closes_on=today - timedelta(days=1))
    later = make_course(session, "later", enrolment_opens_on=today + timedelta(days=5))
    full = make_course(session, "full", capacity=1)
    learning.enrol(session, full, make_user(session, "bob"))
    with pytest.raises(EnrolmentRefused, match="closed on 28 February 2027") as err:
        learning.enrol(session, closed, alice, today=today)
    assert err.value.state == "closed"
    with pytest.raises(EnrolmentRefused, match="opens on 6 March 2027"):
        learning.enrol(session, later, alice, today=today)
    with pytest.raises(EnrolmentRefused, match="full") as err:
        learning.enrol(session, full, alice)
    assert err.value.state == "full"
    assert learning.enrolments_of(session, alice.id) == []
    assert full.enrolled_count == 1


def test_progress_is_saved_per_lesson_and_the_learner_resumes_where_they_left(
    session: Session, alice: User
) -> None:
    course = make_course(session)
    one, two, quiz = course.lessons
    enrolment = learning.enrol(session, course, alice)
    assert learning.resume_lesson(enrolment) == one
    learning.visit(session, enrolment, two)  # opened lesson two without finishing it
    assert learning.resume_lesson(enrolment) == two
    outcome = learning.mark_read(session, enrolment, one)
    assert outcome.statement is None
    session.expire_all()
    assert learning.progress_of(enrolment).done == 1
    # marking lesson one done moved the bookmark on to the next lesson
    assert learning.resume_lesson(enrolment) == two
    learning.mark_read(session, enrolment, two)
    learning.mark_read(session, enrolment, two)  # idempotent
    assert learning.progress_of(enrolment).done == 2
    assert learning.resume_lesson(enrolment) == quiz
    assert learning.progress_of(enrolment).percent == 67
    with pytest.raises(FivesafesError, match="is a quiz"):
        learning.mark_read(session, enrolment, quiz)


def test_an_unanswered_or_forged_quiz_is_not_marked_and_stores_nothing(
    session: Session, alice: User
) -> None:
    course = make_course(session)
    quiz = course.lessons[2]
    enrolment = learning.enrol(session, course, alice)
    answers = _answers(quiz, right=5)
    q1, q2 = (question_field(q.id) for q in quiz.questions[:2])
    del answers[q1]
    answers[q2] = "7"  # not one of its options
    result = learning.submit_quiz(session, enrolment, quiz, answers)
    assert result.errors == {
        q1: "Answer question 1",
        q2: "Choose one of the options for question 2",
    }
    assert not result.passed
    assert session.scalar(select(func.count()).select_from(QuizAttempt)) == 0
    # the answers that were given are kept, to show the form again
    assert set(result.answers) == {question_field(q.id) for q in quiz.questions[2:]}


@pytest.mark.parametrize(
    ("score", "total", "mark", "expected"),
    [
        (4, 5, 80, True),  # exactly the pass mark passes
        (3, 5, 80, False),
        (5, 5, 100, True),
        (4, 5, 100, False),
        (2, 3, 66, True),
        (2, 3, 67, False),  # 66.7% is below 67%
        (7, 9, 78, False),  # 77.8%
        (7, 9, 77, True),
        (0, 5, 0, True),
        (0, 0, 0, False),  # a quiz without questions cannot be passed
    ],
)
def test_pass_mark_boundaries(score: int, total: int, mark: int, expected: bool) -> None:
    assert passes(score, total, mark) is expected


def test_failing_then_passing_records_each_attempt_and_completes_the_course(
    session: Session, alice: User
) -> None:
    course = make_course(session, grants_accreditation="safe_researcher")
    one, two, quiz = course.lessons
    enrolment = learning.enrol(session, course, alice)
    learning.mark_read(session, enrolment, one)
    learning.mark_read(session, enrolment, two)
    failed = learning.submit_quiz(session, enrolment, quiz, _answers(quiz, right=3))
    assert (failed.score, failed.total, failed.passed) == (3, 5, False)
    assert failed.completion is None
    assert enrolment.completed_at is None
    passed = learning.submit_quiz(session, enrolment, quiz, _answers(quiz, right=4))
    assert (passed.score, passed.passed, passed.percent) == (4, True, 80)
    assert passed.completion is not None and passed.completion.statement is not None
    assert passed.completion.accreditation is not None
    assert enrolment.completed_at is not None
    attempts = learning.attempts_at(enrolment, quiz)
    assert [(a.score, a.passed) for a in attempts] == [(3, False), (4, True)]
    statement = session.scalars(select(Statement)).one()
    assert (statement.holder_name, statement.course_title) == ("Alice", course.title)
    accreditation = session.scalars(select(Accreditation)).one()
    assert accreditation.kind == "safe_researcher"
    assert learning.resume_lesson(enrolment) is None
    # a pass marks the quiz done once only, and nothing more is issued
    learning.submit_quiz(session, enrolment, quiz, _answers(quiz, right=5))
    assert session.scalar(select(func.count()).select_from(Statement)) == 1


def test_quiz_marking_is_server_side_and_reports_which_were_right(
    session: Session,
) -> None:
    course = make_course(session)
    quiz = course.lessons[2]
    result = mark_quiz(quiz, _answers(quiz, right=2))
    assert list(result.correct.values()) == [True, True, False, False, False]
    assert (result.score, result.passed) == (2, False)


def test_a_trainer_records_attendance_and_a_learner_can_restart_to_renew(
    session: Session, alice: User
) -> None:
    course = make_course(session, quiz=False, grants_accreditation="output_checker")
    enrolment = learning.enrol(session, course, alice)
    outcome = learning.record_attendance(session, enrolment, actor="trainer")
    assert outcome.statement is not None and outcome.accreditation is not None
    with pytest.raises(FivesafesError, match="already completed"):
        learning.record_attendance(session, enrolment, actor="trainer")
    learning.restart(session, enrolment)
    assert enrolment.completed_at is None and learning.progress_of(enrolment).done == 0
    assert session.scalar(select(func.count()).select_from(Statement)) == 1  # kept
    with pytest.raises(FivesafesError, match="not completed"):
        learning.restart(session, enrolment)


@given(
    total=st.integers(min_value=1, max_value=200),
    data=st.data(),
    mark=st.integers(min_value=0, max_value=100),
)
def test_passing_agrees_with_exact_fractions(total: int, data: st.DataObject, mark: int) -> None:
    """The integer rule agrees with exact rational arithmetic (``fractions.Fraction``)."""
    score = data.draw(st.integers(min_value=0, max_value=total))
    assert passes(score, total, mark) is (Fraction(score, total) * 100 >= mark)


def test_the_lessons_of_a_live_course_prepare_but_only_attendance_completes_it(
    session: Session, alice: User
) -> None:
    course = make_course(
        session, quiz=False, format="live_online", grants_accreditation="output_checker"
    )
    enrolment = learning.enrol(session, course, alice)
    for lesson in course.lessons:
        outcome = learning.mark_read(session, enrolment, lesson)
        assert outcome.statement is None
    assert enrolment.completed_at is None and learning.progress_of(enrolment).percent == 100
    assert session.scalar(select(func.count()).select_from(Accreditation)) == 0
    outcome = learning.record_attendance(session, enrolment, actor="trainer")
    assert outcome.statement is not None and outcome.accreditation is not None
