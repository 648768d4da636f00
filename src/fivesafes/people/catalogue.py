"""The course catalogue: courses, their enrolment status, lessons and quiz
questions, resources and featured datasets, and the validation of the forms that
trainers and administrators use to edit them.

Form validation is done here, not in the web layer: ``parse_*_form`` take the
submitted fields and return the cleaned values and a dict of field → message,
so that a page can re-show the form with the user's input and field-level errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.appdb.models import utcnow
from fivesafes.datasets import BY_NAME, Dataset
from fivesafes.errors import FivesafesError
from fivesafes.people.models import (
    Course,
    CourseFormat,
    FeaturedDataset,
    Lesson,
    LessonKind,
    QuizQuestion,
    Resource,
    ResourceKind,
)

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
#: Roles a course may be required for (the project roles and the site roles).
PLAN_ROLES = (
    "researcher",
    "principal_investigator",
    "output_checker",
    "data_owner",
    "linkage_operator",
)

#: Kinds of output whose release a course can be required for (see
#: :mod:`fivesafes.people.plan`), with how the catalogue names them.
OUTPUT_KINDS = {"model": "releasing trained models"}

Errors = dict[str, str]


@dataclass(frozen=True)
class EnrolmentStatus:
    """Whether a course takes enrolments now: ``state`` is ``open``, ``full``,
    ``closed`` or ``opens`` (a future date), ``label`` the sentence to show."""

    state: str
    label: str

    @property
    def open(self) -> bool:
        return self.state == "open"


def _day(d: date) -> str:
    return f"{d.day} {d:%B %Y}"


def enrolment_status(course: Course, today: date | None = None) -> EnrolmentStatus:
    day = today or utcnow().date()
    if not course.published:
        return EnrolmentStatus("closed", "Not published")
    if course.enrolment_opens_on is not None and day < course.enrolment_opens_on:
        return EnrolmentStatus("opens", f"Enrolment opens on {_day(course.enrolment_opens_on)}")
    if course.enrolment_closes_on is not None and day > course.enrolment_closes_on:
        return EnrolmentStatus("closed", f"Enrolment closed on {_day(course.enrolment_closes_on)}")
    if course.capacity is not None and course.enrolled_count >= course.capacity:
        return EnrolmentStatus("full", "Full: every place is taken")
    label = "Open for enrolment"
    if course.enrolment_closes_on is not None:
        label += f" until {_day(course.enrolment_closes_on)}"
    return EnrolmentStatus("open", label)


def places_left(course: Course) -> int | None:
    if course.capacity is None:
        return None
    return max(course.capacity - course.enrolled_count, 0)


def prepares_for(course: Course) -> list[str]:
    """What the course prepares for, in words (roles and datasets)."""
    out: list[str] = []
    if course.required_for_everyone:
        out.append("everyone who works in the research environment")
    for role in course.required_for_roles or []:
        out.append(f"the {role.replace('_', ' ')} role")
    for name in course.required_for_datasets or []:
        ds = BY_NAME.get(name)
        out.append(f"{ds.title} data" if ds else f"{name} data")
    for kind in course.required_for_outputs or []:
        out.append(OUTPUT_KINDS.get(kind, f"releasing {kind} outputs"))
    return out


def list_courses(session: Session, *, include_unpublished: bool = False) -> list[Course]:
    query = select(Course).order_by(Course.required_for_everyone.desc(), Course.title)
    if not include_unpublished:
        query = query.where(Course.published.is_(True))
    return list(session.scalars(query))


def find_course(session: Session, slug: str) -> Course | None:
    return session.scalar(select(Course).where(Course.slug == slug))


def courses_granting(session: Session, kind: str) -> list[Course]:
    return list(
        session.scalars(
            select(Course)
            .where(Course.grants_accreditation == kind, Course.published.is_(True))
            .order_by(Course.title)
        )
    )


# --- forms --------------------------------------------------------------------------


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return str(value).strip() if value is not None else ""


def _list(form: Mapping[str, Any], name: str) -> list[str]:
    """A multi-valued field: a list (checkboxes) or comma/space separated text."""
    value = form.get(name)
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else re.split(r"[,\s]+", str(value))
    return [str(v).strip() for v in items if str(v).strip()]


def _flag(form: Mapping[str, Any], name: str) -> bool:
    value = form.get(name)
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "on", "true", "yes")


def _date(form: Mapping[str, Any], name: str, errors: Errors, label: str) -> date | None:
    text = _text(form, name)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[name] = f"Enter {label} as a date like 2027-01-31"
        return None


def _int(
    form: Mapping[str, Any], name: str, errors: Errors, label: str, minimum: int = 0
) -> int | None:
    text = _text(form, name)
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        errors[name] = f"Enter {label} as a whole number"
        return None
    if value < minimum:
        errors[name] = f"Enter {label} of at least {minimum}"
        return None
    return value


def parse_course_form(
    session: Session, form: Mapping[str, Any], course: Course | None = None
) -> tuple[dict[str, Any], Errors]:
    """Clean a course form. Fields: slug, title, summary, description, format,
    duration, fee (pounds, e.g. ``0`` or ``120.50``), enrolment_opens_on,
    enrolment_closes_on, starts_on, location, capacity, required_for_everyone,
    required_for_roles, required_for_datasets, required_for_outputs, grants_accreditation,
    accreditation_valid_days, published."""
    errors: Errors = {}
    values: dict[str, Any] = {}
    slug = _text(form, "slug").lower()
    if not slug:
        errors["slug"] = "Enter a short name for the address, like justice-data"
    elif not SLUG.match(slug) or len(slug) > 80:
        errors["slug"] = "Use lower-case letters, digits and single dashes (at most 80)"
    else:
        other = find_course(session, slug)
        if other is not None and (course is None or other.id != course.id):
            errors["slug"] = f"Another course already uses {slug!r}; choose another"
    values["slug"] = slug
    for name, label, limit in (("title", "a title", 200), ("summary", "a summary", 2000)):
        values[name] = _text(form, name)
        if not values[name]:
            errors[name] = f"Enter {label}"
        elif len(values[name]) > limit:
            errors[name] = f"Keep it under {limit} characters"
    values["description"] = _text(form, "description")
    fmt = _text(form, "format")
    if fmt not in {f.value for f in CourseFormat}:
        errors["format"] = "Choose self-paced, live online or in person"
    values["format"] = fmt
    values["duration"] = _text(form, "duration")
    if not values["duration"]:
        errors["duration"] = "Enter how long it takes, like 3 hours"
    fee_text = _text(form, "fee").lstrip("£") or "0"
    try:
        fee = round(float(fee_text) * 100)
        if fee < 0 or not re.match(r"^\d+(\.\d{1,2})?$", fee_text):
            raise ValueError
        values["fee_pence"] = fee
    except ValueError:
        errors["fee"] = "Enter the fee in pounds, like 0 or 120.50"
    values["enrolment_opens_on"] = _date(form, "enrolment_opens_on", errors, "the opening date")
    values["enrolment_closes_on"] = _date(form, "enrolment_closes_on", errors, "the closing date")
    if (
        values["enrolment_opens_on"]
        and values["enrolment_closes_on"]
        and values["enrolment_closes_on"] < values["enrolment_opens_on"]
    ):
        errors["enrolment_closes_on"] = "Enrolment must close on or after the day it opens"
    values["starts_on"] = _date(form, "starts_on", errors, "the start date")
    values["location"] = _text(form, "location")
    values["capacity"] = _int(form, "capacity", errors, "the number of places", minimum=1)
    if (
        course is not None
        and values["capacity"] is not None
        and values["capacity"] < course.enrolled_count
    ):
        errors["capacity"] = (
            f"{course.enrolled_count} people are already enrolled; "
            "the capacity cannot be lower than that"
        )
    values["required_for_everyone"] = _flag(form, "required_for_everyone")
    roles = _list(form, "required_for_roles")
    bad_roles = [r for r in roles if r not in PLAN_ROLES]
    if bad_roles:
        errors["required_for_roles"] = f"Unknown role {bad_roles[0]!r}; choose from the list"
    values["required_for_roles"] = roles
    datasets = _list(form, "required_for_datasets")
    bad = [d for d in datasets if d not in BY_NAME]
    if bad:
        errors["required_for_datasets"] = f"Unknown dataset {bad[0]!r}; choose from the list"
    values["required_for_datasets"] = datasets
    kinds = _list(form, "required_for_outputs")
    bad_kinds = [k for k in kinds if k not in OUTPUT_KINDS]
    if bad_kinds:
        errors["required_for_outputs"] = (
            f"Unknown kind of output {bad_kinds[0]!r}; choose from the list"
        )
    values["required_for_outputs"] = kinds
    kind = _text(form, "grants_accreditation")
    if kind and not re.match(r"^[a-z][a-z0-9_]{1,63}$", kind):
        errors["grants_accreditation"] = (
            "Use lower-case letters, digits and underscores, like safe_researcher"
        )
    values["grants_accreditation"] = kind or None
    values["accreditation_valid_days"] = _int(
        form, "accreditation_valid_days", errors, "the number of days", minimum=1
    )
    values["published"] = _flag(form, "published")
    return values, errors


def save_course(
    session: Session,
    values: Mapping[str, Any],
    actor: str,
    course: Course | None = None,
    owner_id: int | None = None,
) -> Course:
    """Create or update a course from cleaned values (audited; the caller commits)."""
    from fivesafes.audit import record

    created = course is None
    if course is None:
        course = Course(owner_id=owner_id, enrolled_count=0)
        session.add(course)
    for name, value in values.items():
        setattr(course, name, value)
    course.updated_at = utcnow()
    session.flush()
    record(
        session,
        actor,
        "people.course.create" if created else "people.course.update",
        f"course:{course.slug}",
        {
            k: (v.isoformat() if isinstance(v, date) else v)
            for k, v in values.items()
            if k != "description"
        },
    )
    return course


def parse_lesson_form(form: Mapping[str, Any]) -> tuple[dict[str, Any], Errors]:
    """Clean a lesson form: title, kind (reading/quiz), body (Markdown), pass_mark, position."""
    errors: Errors = {}
    values: dict[str, Any] = {"title": _text(form, "title"), "body": _text(form, "body")}
    if not values["title"]:
        errors["title"] = "Enter a title"
    kind = _text(form, "kind") or LessonKind.READING.value
    if kind not in {k.value for k in LessonKind}:
        errors["kind"] = "Choose reading or quiz"
    values["kind"] = kind
    if kind == LessonKind.READING.value and not values["body"]:
        errors["body"] = "Write the lesson (Markdown)"
    mark = _int(form, "pass_mark", errors, "the pass mark")
    if kind == LessonKind.QUIZ.value:
        if mark is None and "pass_mark" not in errors:
            errors["pass_mark"] = "Enter the pass mark as a percentage, like 80"
        elif mark is not None and mark > 100:
            errors["pass_mark"] = "Enter a percentage from 0 to 100"
    values["pass_mark"] = mark if kind == LessonKind.QUIZ.value else None
    values["position"] = _int(form, "position", errors, "the position", minimum=1)
    return values, errors


def save_lesson(
    session: Session,
    course: Course,
    values: Mapping[str, Any],
    actor: str,
    lesson: Lesson | None = None,
) -> Lesson:
    from fivesafes.audit import record

    created = lesson is None
    data = dict(values)
    position = data.pop("position", None)
    if lesson is None:
        lesson = Lesson(course=course, position=position or len(course.lessons) + 1)
        session.add(lesson)
    elif position is not None:
        lesson.position = position
    for name, value in data.items():
        setattr(lesson, name, value)
    course.updated_at = utcnow()
    session.flush()
    record(
        session,
        actor,
        "people.lesson.create" if created else "people.lesson.update",
        f"course:{course.slug}",
        {"lesson_id": lesson.id, "title": lesson.title, "kind": lesson.kind},
    )
    return lesson


def parse_question_form(form: Mapping[str, Any]) -> tuple[dict[str, Any], Errors]:
    """Clean a quiz question form: text, options (one a line), answer (1-based
    number of the right option), explanation."""
    errors: Errors = {}
    text = _text(form, "text")
    if not text:
        errors["text"] = "Enter the question"
    options = [line.strip() for line in _text(form, "options").splitlines() if line.strip()]
    if len(options) < 2:
        errors["options"] = "Enter at least two options, one a line"
    answer = _int(form, "answer", errors, "the number of the right option", minimum=1)
    if answer is None and "answer" not in errors:
        errors["answer"] = "Enter the number of the right option, like 2"
    elif answer is not None and options and answer > len(options):
        errors["answer"] = f"There are only {len(options)} options"
    values = {
        "text": text,
        "options": options,
        "answer": (answer - 1) if answer else 0,
        "explanation": _text(form, "explanation"),
    }
    return values, errors


def save_question(
    session: Session,
    lesson: Lesson,
    values: Mapping[str, Any],
    actor: str,
    question: QuizQuestion | None = None,
) -> QuizQuestion:
    from fivesafes.audit import record

    created = question is None
    if question is None:
        question = QuizQuestion(lesson=lesson, position=len(lesson.questions) + 1)
        session.add(question)
    for name, value in values.items():
        setattr(question, name, value)
    session.flush()
    record(
        session,
        actor,
        "people.question.create" if created else "people.question.update",
        f"course:{lesson.course.slug}",
        {"lesson_id": lesson.id, "question_id": question.id},
    )
    return question


# --- resources and featured datasets --------------------------------------------------


def list_resources(session: Session, kind: str | None = None) -> list[Resource]:
    query = select(Resource).order_by(Resource.kind, Resource.title)
    if kind:
        query = query.where(Resource.kind == kind)
    return list(session.scalars(query))


def find_resource(session: Session, slug: str) -> Resource | None:
    return session.scalar(select(Resource).where(Resource.slug == slug))


def parse_resource_form(
    session: Session, form: Mapping[str, Any], resource: Resource | None = None
) -> tuple[dict[str, Any], Errors]:
    errors: Errors = {}
    values: dict[str, Any] = {}
    slug = _text(form, "slug").lower()
    if not slug or not SLUG.match(slug) or len(slug) > 80:
        errors["slug"] = "Use lower-case letters, digits and single dashes, like sdc-primer"
    else:
        other = find_resource(session, slug)
        if other is not None and (resource is None or other.id != resource.id):
            errors["slug"] = f"Another resource already uses {slug!r}; choose another"
    values["slug"] = slug
    kind = _text(form, "kind")
    if kind not in {k.value for k in ResourceKind}:
        errors["kind"] = "Choose article, video or podcast"
    values["kind"] = kind
    for name, label in (("title", "a title"), ("summary", "a summary")):
        values[name] = _text(form, name)
        if not values[name]:
            errors[name] = f"Enter {label}"
    values["body"] = _text(form, "body")
    values["url"] = _text(form, "url")
    values["duration"] = _text(form, "duration")
    if values["url"] and not re.match(r"^https?://", values["url"]):
        errors["url"] = "Enter a web address starting with https://"
    if kind == ResourceKind.ARTICLE.value and not values["body"] and not values["url"]:
        errors["body"] = "Write the article (Markdown) or give its web address"
    if kind in (ResourceKind.VIDEO.value, ResourceKind.PODCAST.value) and not values["url"]:
        errors.setdefault("url", "Enter the web address of the recording")
    return values, errors


def save_resource(
    session: Session, values: Mapping[str, Any], actor: str, resource: Resource | None = None
) -> Resource:
    from fivesafes.audit import record

    created = resource is None
    if resource is None:
        resource = Resource()
        session.add(resource)
    for name, value in values.items():
        setattr(resource, name, value)
    session.flush()
    record(
        session,
        actor,
        "people.resource.create" if created else "people.resource.update",
        f"resource:{resource.slug}",
        {"kind": resource.kind, "title": resource.title},
    )
    return resource


@dataclass(frozen=True)
class Featured:
    row: FeaturedDataset
    dataset: Dataset
    courses: Sequence[Course]


def featured_datasets(session: Session) -> list[Featured]:
    """Featured datasets with their catalogue entry and the courses they require."""
    rows = session.scalars(
        select(FeaturedDataset).order_by(FeaturedDataset.position, FeaturedDataset.id)
    )
    courses = list_courses(session)
    out = []
    for row in rows:
        ds = BY_NAME.get(row.dataset)
        if ds is None:
            continue
        needed = [
            c
            for c in courses
            if c.required_for_everyone or row.dataset in (c.required_for_datasets or [])
        ]
        out.append(Featured(row, ds, needed))
    return out


def find_featured(session: Session, name: str) -> Featured | None:
    for item in featured_datasets(session):
        if item.dataset.name == name:
            return item
    return None


def delete_lesson(session: Session, lesson: Lesson, actor: str) -> None:
    """Remove a lesson nobody has finished or attempted yet (the others move up);
    audited, the caller commits. A lesson with learners' progress is kept: change it
    instead."""
    from sqlalchemy import func, update

    from fivesafes.audit import record
    from fivesafes.people.models import Enrolment, LessonProgress, QuizAttempt

    used = (
        session.scalar(
            select(func.count())
            .select_from(LessonProgress)
            .where(LessonProgress.lesson_id == lesson.id)
        )
        or 0
    ) + (
        session.scalar(
            select(func.count()).select_from(QuizAttempt).where(QuizAttempt.lesson_id == lesson.id)
        )
        or 0
    )
    if used:
        raise FivesafesError(
            f"learners have already worked on {lesson.title!r}; change it instead of deleting it"
        )
    course = lesson.course
    session.execute(
        update(Enrolment)
        .where(Enrolment.last_lesson_id == lesson.id)
        .values(last_lesson_id=None)
        .execution_options(synchronize_session=False)
    )
    course.lessons.remove(lesson)
    session.flush()
    for position, other in enumerate(course.lessons, start=1):
        other.position = position
    course.updated_at = utcnow()
    record(
        session,
        actor,
        "people.lesson.delete",
        f"course:{course.slug}",
        {"lesson_id": lesson.id, "title": lesson.title},
    )


def delete_question(session: Session, question: QuizQuestion, actor: str) -> None:
    """Remove a quiz question (earlier attempts keep their recorded scores); audited,
    the caller commits."""
    from fivesafes.audit import record

    lesson = question.lesson
    lesson.questions.remove(question)
    session.flush()
    for position, other in enumerate(lesson.questions, start=1):
        other.position = position
    record(
        session,
        actor,
        "people.question.delete",
        f"course:{lesson.course.slug}",
        {"lesson_id": lesson.id, "question_id": question.id},
    )
