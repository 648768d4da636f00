"""Helpers for the learning-platform tests: users and a small course."""

from __future__ import annotations

from sqlalchemy.orm import Session

from fivesafes.appdb.models import User
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
