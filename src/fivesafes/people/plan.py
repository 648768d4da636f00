"""Precision training: which courses a person still needs for a project.

A published course is *required* for a person in a project when

- it is ``required_for_everyone`` (the induction), or
- the person's project role is one of its ``required_for_roles`` (e.g. the output
  checker course for ``output_checker``), or
- one of the project's datasets is one of its ``required_for_datasets`` (e.g. the
  justice data course for ``justice_offences``), or
- one of the kinds of output the project releases is one of its
  ``required_for_outputs`` (the course on protecting privacy in AI models for
  ``model``: a project whose application says it releases trained models, or a
  release request holding one, see
  :func:`fivesafes.projects.applications.output_kinds`).

A required course is *done* when the course grants an accreditation and the
person holds a valid (unexpired, unrevoked) accreditation of that kind from any
course that grants it (so an expired accreditation makes the induction outstanding
again until it, or a refresher, is retaken); otherwise when the person has
completed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.appdb.models import User
from fivesafes.people import accreditation
from fivesafes.people.catalogue import courses_granting
from fivesafes.people.models import Accreditation, Course, Enrolment


def required_courses(
    session: Session,
    datasets: Sequence[str],
    project_role: str,
    outputs: Sequence[str] = (),
) -> list[Course]:
    """The published courses the rules require for these datasets, this role and
    these kinds of output released (``model``)."""
    wanted = set(datasets)
    kinds = set(outputs)
    out = []
    for course in session.scalars(
        select(Course)
        .where(Course.published.is_(True))
        .order_by(Course.required_for_everyone.desc(), Course.title)
    ):
        if (
            course.required_for_everyone
            or project_role in (course.required_for_roles or [])
            or wanted & set(course.required_for_datasets or [])
            or kinds & set(course.required_for_outputs or [])
        ):
            out.append(course)
    return out


def _why(
    course: Course, datasets: Sequence[str], project_role: str, outputs: Sequence[str] = ()
) -> str:
    if course.required_for_everyone:
        return "everyone"
    reasons = []
    if project_role in (course.required_for_roles or []):
        reasons.append(f"the {project_role.replace('_', ' ')} role")
    hits = [d for d in datasets if d in (course.required_for_datasets or [])]
    if hits:
        reasons.append(", ".join(hits))
    kinds = [k for k in outputs if k in (course.required_for_outputs or [])]
    if kinds:
        reasons.append(" and ".join(f"releasing {k}s" for k in kinds))
    return " and ".join(reasons)


def _completed(session: Session, user_id: int, course: Course) -> Enrolment | None:
    return session.scalar(
        select(Enrolment).where(
            Enrolment.user_id == user_id,
            Enrolment.course_id == course.id,
            Enrolment.completed_at.is_not(None),
        )
    )


def course_done(
    session: Session, user_id: int, course: Course, now: datetime | None = None
) -> bool:
    if course.grants_accreditation:
        held = accreditation.valid_accreditation(session, user_id, course.grants_accreditation, now)
        return held is not None
    return _completed(session, user_id, course) is not None


def outstanding_courses(
    session: Session,
    user_id: int,
    datasets: Sequence[str],
    project_role: str,
    now: datetime | None = None,
    outputs: Sequence[str] = (),
) -> list[Course]:
    """The courses ``user_id`` still needs for a project with ``datasets`` in
    ``project_role``, releasing ``outputs`` (empty: the personal learning plan is
    complete)."""
    return [
        c
        for c in required_courses(session, datasets, project_role, outputs)
        if not course_done(session, user_id, c, now)
    ]


@dataclass(frozen=True)
class PlanItem:
    course: Course
    done: bool
    why: str
    #: The valid accreditation that satisfies it, if the course grants one.
    accreditation: Accreditation | None
    #: Whether an accreditation from it was held but has expired.
    expired: bool
    #: Other courses that renew the same accreditation (e.g. a refresher).
    renew_with: Sequence[Course]
    enrolment: Enrolment | None


@dataclass(frozen=True)
class LearningPlan:
    items: Sequence[PlanItem]

    @property
    def complete(self) -> bool:
        return all(item.done for item in self.items)

    @property
    def outstanding(self) -> list[Course]:
        return [item.course for item in self.items if not item.done]


def plan_for(
    session: Session,
    user: User,
    datasets: Sequence[str],
    role: str,
    now: datetime | None = None,
    outputs: Sequence[str] = (),
) -> LearningPlan:
    """The personal learning plan for ``user`` in a project: every required course,
    done or outstanding, and why it is required."""
    items = []
    for course in required_courses(session, datasets, role, outputs):
        enrolment = session.scalar(
            select(Enrolment).where(Enrolment.user_id == user.id, Enrolment.course_id == course.id)
        )
        held = None
        expired = False
        renew: list[Course] = []
        if course.grants_accreditation:
            kind = course.grants_accreditation
            held = accreditation.valid_accreditation(session, user.id, kind, now)
            if held is None:
                expired = any(
                    h.kind == kind and h.status == "expired"
                    for h in accreditation.accreditations_of(session, user.id, now)
                )
            renew = [c for c in courses_granting(session, kind) if c.id != course.id]
            done = held is not None
        else:
            done = enrolment is not None and enrolment.completed_at is not None
        items.append(
            PlanItem(
                course,
                done,
                _why(course, datasets, role, outputs),
                held,
                expired,
                renew,
                enrolment,
            )
        )
    return LearningPlan(items)
