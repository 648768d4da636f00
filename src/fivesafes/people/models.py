"""The learning platform's tables (safe people): courses and their lessons and quiz
questions, enrolments with per-lesson progress and quiz attempts, statements of
participation, accreditations, resources and featured datasets.

They share :class:`fivesafes.appdb.models.Base` with the rest of the application
state; the Alembic migration ``0003_people`` creates them and a test compares the two.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fivesafes.appdb.models import Base, User, utcnow


class CourseFormat(StrEnum):
    SELF_PACED = "self_paced"
    LIVE_ONLINE = "live_online"
    IN_PERSON = "in_person"

    @property
    def label(self) -> str:
        return {
            "self_paced": "Self-paced online",
            "live_online": "Live online",
            "in_person": "In person",
        }[self.value]


class LessonKind(StrEnum):
    READING = "reading"
    QUIZ = "quiz"


class ResourceKind(StrEnum):
    ARTICLE = "article"
    VIDEO = "video"
    PODCAST = "podcast"


class Course(Base):
    """A course in the catalogue.

    ``required_for_everyone`` / ``required_for_roles`` / ``required_for_datasets``
    / ``required_for_outputs`` are the precision-training rules (see
    :mod:`fivesafes.people.plan`); a course that
    ``grants_accreditation`` (e.g. ``safe_researcher``) is satisfied by a valid
    accreditation of that kind, which any course granting it renews.
    ``enrolled_count`` is kept by :func:`fivesafes.people.learning.enrol` with an
    atomic conditional update, so that concurrent enrolments never pass ``capacity``.
    """

    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[str] = mapped_column(String(20))
    duration: Mapped[str] = mapped_column(String(80))
    fee_pence: Mapped[int] = mapped_column(Integer, default=0)
    enrolment_opens_on: Mapped[date | None] = mapped_column(Date)
    enrolment_closes_on: Mapped[date | None] = mapped_column(Date)
    starts_on: Mapped[date | None] = mapped_column(Date)
    location: Mapped[str] = mapped_column(String(200), default="")
    capacity: Mapped[int | None] = mapped_column(Integer)
    enrolled_count: Mapped[int] = mapped_column(Integer, default=0)
    required_for_everyone: Mapped[bool] = mapped_column(Boolean, default=False)
    required_for_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    required_for_datasets: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Kinds of output (``model``) whose release needs this course.
    required_for_outputs: Mapped[list[str]] = mapped_column(JSON, default=list)
    grants_accreditation: Mapped[str | None] = mapped_column(String(64))
    accreditation_valid_days: Mapped[int | None] = mapped_column(Integer)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The course's text in other languages than English, by language code:
    #: ``{"cy": {"title": ..., "summary": ..., "description": ..., "duration": ...}}``.
    translations: Mapped[dict[str, dict[str, Any]] | None] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    owner: Mapped[User | None] = relationship()
    lessons: Mapped[list[Lesson]] = relationship(
        back_populates="course",
        cascade="all, delete-orphan",
        order_by=lambda: [Lesson.position, Lesson.id],
    )

    @property
    def languages(self) -> list[str]:
        """The languages the course comes in: English (the source) first, then those
        it has translations of (``["en", "cy"]``)."""
        return ["en", *sorted(code for code in (self.translations or {}) if code != "en")]

    @property
    def format_label(self) -> str:
        try:
            return CourseFormat(self.format).label
        except ValueError:
            return self.format

    @property
    def fee_label(self) -> str:
        if not self.fee_pence:
            return "Free"
        pounds, pence = divmod(self.fee_pence, 100)
        return f"£{pounds:,}" + (f".{pence:02d}" if pence else "")


class Lesson(Base):
    """One lesson of a course: Markdown to read, or a short quiz with a pass mark (%)."""

    __tablename__ = "lessons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default=LessonKind.READING.value)
    body: Mapped[str] = mapped_column(Text, default="")
    pass_mark: Mapped[int | None] = mapped_column(Integer)
    #: ``{"cy": {"title": ..., "body": ...}}`` (see :attr:`Course.translations`).
    translations: Mapped[dict[str, dict[str, Any]] | None] = mapped_column(JSON, default=dict)

    course: Mapped[Course] = relationship(back_populates="lessons")
    questions: Mapped[list[QuizQuestion]] = relationship(
        back_populates="lesson",
        cascade="all, delete-orphan",
        order_by=lambda: [QuizQuestion.position, QuizQuestion.id],
    )

    @property
    def is_quiz(self) -> bool:
        return self.kind == LessonKind.QUIZ.value


class QuizQuestion(Base):
    """A multiple-choice question: ``options`` in order, ``answer`` the index of the
    right one (never sent to the browser), ``explanation`` shown after marking."""

    __tablename__ = "quiz_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    options: Mapped[list[str]] = mapped_column(JSON)
    answer: Mapped[int] = mapped_column(Integer)
    explanation: Mapped[str] = mapped_column(Text, default="")
    #: ``{"cy": {"text": ..., "options": [...], "explanation": ...}}``: the options in
    #: the same order as the English, so ``answer`` (an index) is right in every
    #: language and marking never depends on the language.
    translations: Mapped[dict[str, dict[str, Any]] | None] = mapped_column(JSON, default=dict)

    lesson: Mapped[Lesson] = relationship(back_populates="questions")


class Enrolment(Base):
    """A learner on a course; ``last_lesson_id`` is where they resume."""

    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("course_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    enrolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id"))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    course: Mapped[Course] = relationship()
    user: Mapped[User] = relationship()
    progress: Mapped[list[LessonProgress]] = relationship(
        back_populates="enrolment", cascade="all, delete-orphan"
    )
    attempts: Mapped[list[QuizAttempt]] = relationship(
        back_populates="enrolment", cascade="all, delete-orphan", order_by="QuizAttempt.id"
    )


class LessonProgress(Base):
    """A lesson a learner has finished (read, or passed its quiz)."""

    __tablename__ = "lesson_progress"
    __table_args__ = (UniqueConstraint("enrolment_id", "lesson_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"))
    completed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    enrolment: Mapped[Enrolment] = relationship(back_populates="progress")


class QuizAttempt(Base):
    """One marked attempt at a quiz: the answers given (question id → option index)."""

    __tablename__ = "quiz_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    enrolment: Mapped[Enrolment] = relationship(back_populates="attempts")


class Statement(Base):
    """A statement of participation; ``code`` is what anyone checks on /verify.

    The holder's name and the course title are kept as they were when it was issued.
    """

    __tablename__ = "statements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    holder_name: Mapped[str] = mapped_column(String(200))
    course_title: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str] = mapped_column(Text, default="")

    user: Mapped[User] = relationship()
    course: Mapped[Course] = relationship()


class Accreditation(Base):
    """An accreditation (e.g. ``safe_researcher``) held from ``granted_at`` until
    ``expires_at`` (or revocation). Renewal adds a new row; the old one is kept."""

    __tablename__ = "accreditations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(64))
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"))
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("statements.id"))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()
    course: Mapped[Course | None] = relationship()


class Resource(Base):
    """An article (Markdown body), video or podcast (a link and a summary)."""

    __tablename__ = "learning_resources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(500), default="")
    duration: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FeaturedDataset(Base):
    """A dataset of :mod:`fivesafes.datasets` shown on the learning pages, with a note."""

    __tablename__ = "featured_datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(64), unique=True)
    blurb: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
