"""Workgroups, their members and their resources.

Anyone with an account joins a workgroup (:func:`join`) and leaves it
(:func:`leave`). Leaving gives up the member's places on the workgroup's sessions
that have not started (their places go back to others); the lists of sessions
that have started are kept, as a record of who came. Resources (a link or a
stored file) are for members. Trainers create workgroups (:func:`save_workgroup`)
and add resources (:func:`add_resource`). Every change is audited and committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes.appdb.models import User, utcnow
from fivesafes.audit import record
from fivesafes.errors import FivesafesError
from fivesafes.people import places
from fivesafes.people.workgroups import live
from fivesafes.people.workgroups.models import (
    LiveSession,
    SessionEnrolment,
    Workgroup,
    WorkgroupMember,
    WorkgroupResource,
)


def list_workgroups(db: Session) -> list[Workgroup]:
    return list(db.scalars(select(Workgroup).order_by(Workgroup.theme, Workgroup.id)))


def find(db: Session, slug: str) -> Workgroup | None:
    return db.scalar(select(Workgroup).where(Workgroup.slug == slug))


def membership(db: Session, workgroup_id: int, user_id: int) -> WorkgroupMember | None:
    return db.scalar(
        select(WorkgroupMember).where(
            WorkgroupMember.workgroup_id == workgroup_id, WorkgroupMember.user_id == user_id
        )
    )


def member_counts(db: Session) -> dict[int, int]:
    """Workgroup id → how many members it has."""
    rows = db.execute(
        select(WorkgroupMember.workgroup_id, func.count()).group_by(WorkgroupMember.workgroup_id)
    )
    return {wid: int(n) for wid, n in rows}


def workgroups_of(db: Session, user_id: int) -> list[Workgroup]:
    return list(
        db.scalars(
            select(Workgroup)
            .join(WorkgroupMember, WorkgroupMember.workgroup_id == Workgroup.id)
            .where(WorkgroupMember.user_id == user_id)
            .order_by(Workgroup.theme)
        )
    )


def join(db: Session, workgroup: Workgroup, user: User) -> WorkgroupMember:
    """Make ``user`` a member and commit; joining twice returns the membership."""
    existing = membership(db, workgroup.id, user.id)
    if existing is not None:
        return existing
    member, added = places.add_once(
        db,
        WorkgroupMember(workgroup_id=workgroup.id, user_id=user.id, joined_at=utcnow()),
        lambda: membership(db, workgroup.id, user.id),
    )
    if not added:  # the same user joined at the same moment
        return member
    record(db, user.name, "workgroup.join", f"workgroup:{workgroup.slug}", {"user": user.name})
    db.commit()
    return member


class NotAMember(FivesafesError):
    """The user is not a member of the workgroup."""


def leave(
    db: Session, workgroup: Workgroup, user: User, now: datetime | None = None
) -> list[LiveSession]:
    """End ``user``'s membership and commit; returns the sessions (not yet started)
    whose places they gave up. Raises :class:`NotAMember` if they were not one."""
    member = membership(db, workgroup.id, user.id)
    if member is None:
        raise NotAMember(f"you are not a member of {workgroup.theme}")
    moment = now or utcnow()
    given_up = []
    rows = db.execute(
        select(SessionEnrolment.id, LiveSession)
        .join(LiveSession, LiveSession.id == SessionEnrolment.session_id)
        .where(SessionEnrolment.user_id == user.id, LiveSession.workgroup_id == workgroup.id)
    ).all()
    for enrolment_id, held in rows:
        if held.starts > moment and live.release(db, enrolment_id, held.id):
            given_up.append(held)
    db.delete(member)
    record(
        db,
        user.name,
        "workgroup.leave",
        f"workgroup:{workgroup.slug}",
        {"user": user.name, "places_given_up": [s.id for s in given_up]},
    )
    db.commit()
    db.expire_all()
    return given_up


def save_workgroup(
    db: Session, values: dict[str, Any], actor: User, workgroup: Workgroup | None = None
) -> Workgroup:
    """Create a workgroup (or change ``workgroup``) from checked ``values``
    (:func:`fivesafes.people.workgroups.forms.parse_workgroup_form`); commits."""
    if workgroup is None:
        workgroup = Workgroup(created_by_id=actor.id, created_at=utcnow())
        db.add(workgroup)
        action = "workgroup.create"
    else:
        action = "workgroup.update"
    for name, value in values.items():
        setattr(workgroup, name, value)
    workgroup.updated_at = utcnow()
    db.flush()
    record(db, actor.name, action, f"workgroup:{workgroup.slug}", {"theme": workgroup.theme})
    db.commit()
    return workgroup


def add_resource(
    db: Session, workgroup: Workgroup, values: dict[str, Any], actor: str
) -> WorkgroupResource:
    """Add a resource from checked ``values`` (``title`` and ``url``, or ``filename``,
    ``media_type`` and ``content``); commits."""
    resource = WorkgroupResource(
        workgroup_id=workgroup.id,
        title=values["title"],
        url=values.get("url", ""),
        filename=values.get("filename", ""),
        media_type=values.get("media_type", ""),
        content=values.get("content"),
        added_by=actor,
        created_at=utcnow(),
    )
    db.add(resource)
    db.flush()
    record(
        db,
        actor,
        "workgroup.resource.add",
        f"workgroup:{workgroup.slug}",
        {"resource_id": resource.id, "title": resource.title, "file": resource.filename},
    )
    db.commit()
    return resource


def remove_resource(db: Session, resource: WorkgroupResource, actor: str) -> None:
    slug = resource.workgroup.slug
    record(
        db,
        actor,
        "workgroup.resource.remove",
        f"workgroup:{slug}",
        {"resource_id": resource.id, "title": resource.title},
    )
    resource.workgroup.resources.remove(resource)  # delete-orphan: the row goes
    db.commit()
