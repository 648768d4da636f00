"""Live sessions of a workgroup: their enrolment status, and enrolling on them.

:func:`enrol` takes a place with one atomic conditional ``UPDATE`` of the session's
``enrolled_count`` (``... WHERE enrolled_count < capacity``), with the same code as
course enrolment (:mod:`fivesafes.people.places`), so that concurrent
enrolments never exceed the capacity on SQLite or PostgreSQL; the unique (session,
user) constraint makes a double submit harmless. Only members of the workgroup
enrol, only while the trainer has enrolment open and the session has not started.
:func:`cancel` gives a place back (a delete and an atomic decrement, so two
cancellations of one place free it once).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from fivesafes.appdb.models import User, utcnow
from fivesafes.audit import record
from fivesafes.errors import FivesafesError
from fivesafes.people import places
from fivesafes.people.workgroups.models import (
    LiveSession,
    SessionEnrolment,
    Workgroup,
    WorkgroupMember,
)


class EnrolmentRefused(FivesafesError):
    """The session does not take this enrolment; ``state`` says why: ``not_member``,
    ``closed``, ``started`` or ``full``."""

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state


@dataclass(frozen=True)
class SessionStatus:
    """Whether a session takes enrolments: ``open``, ``full``, ``closed`` (by the
    trainer) or ``started`` (it has begun or is over)."""

    state: str

    @property
    def open(self) -> bool:
        return self.state == "open"


def status(live: LiveSession, now: datetime | None = None) -> SessionStatus:
    moment = now or utcnow()
    if live.starts <= moment:
        return SessionStatus("started")
    if not live.enrolment_open:
        return SessionStatus("closed")
    if live.capacity is not None and live.enrolled_count >= live.capacity:
        return SessionStatus("full")
    return SessionStatus("open")


def places_left(live: LiveSession) -> int | None:
    """Places still free (None: no limit)."""
    if live.capacity is None:
        return None
    return max(live.capacity - live.enrolled_count, 0)


def upcoming(workgroup: Workgroup, now: datetime | None = None) -> list[LiveSession]:
    """The sessions that have not started yet, soonest first."""
    moment = now or utcnow()
    return [s for s in workgroup.sessions if s.starts > moment]


def past(workgroup: Workgroup, now: datetime | None = None) -> list[LiveSession]:
    """The sessions that have started, the latest first."""
    moment = now or utcnow()
    return sorted(
        (s for s in workgroup.sessions if s.starts <= moment), key=lambda s: s.starts, reverse=True
    )


def find_enrolment(db: Session, session_id: int, user_id: int) -> SessionEnrolment | None:
    return db.scalar(
        select(SessionEnrolment).where(
            SessionEnrolment.session_id == session_id, SessionEnrolment.user_id == user_id
        )
    )


def enrolled_session_ids(db: Session, user_id: int, session_ids: Iterable[int]) -> set[int]:
    """Which of ``session_ids`` the user holds a place on."""
    wanted = list(session_ids)
    if not wanted:
        return set()
    return set(
        db.scalars(
            select(SessionEnrolment.session_id).where(
                SessionEnrolment.user_id == user_id, SessionEnrolment.session_id.in_(wanted)
            )
        )
    )


def enrolments_on(db: Session, live: LiveSession) -> list[SessionEnrolment]:
    return list(
        db.scalars(
            select(SessionEnrolment)
            .where(SessionEnrolment.session_id == live.id)
            .order_by(SessionEnrolment.enrolled_at, SessionEnrolment.id)
        )
    )


def _is_member(db: Session, workgroup_id: int, user_id: int) -> bool:
    return (
        db.scalar(
            select(WorkgroupMember.id).where(
                WorkgroupMember.workgroup_id == workgroup_id, WorkgroupMember.user_id == user_id
            )
        )
        is not None
    )


def enrol(
    db: Session, live: LiveSession, user: User, now: datetime | None = None
) -> SessionEnrolment:
    """Give ``user`` a place on ``live`` and commit; enrolling twice returns the first
    place. Raises :class:`EnrolmentRefused` (nothing stored) when the user is not a
    member of the workgroup, enrolment is closed, the session has started or it is
    full."""
    existing = find_enrolment(db, live.id, user.id)
    if existing is not None:
        return existing
    if not _is_member(db, live.workgroup_id, user.id):
        raise EnrolmentRefused(
            f"only members of {live.workgroup.theme} enrol on its sessions: join it first",
            "not_member",
        )
    state = status(live, now).state
    if state == "started":
        raise EnrolmentRefused(f"{live.title} has started: enrolment is over", "started")
    if state == "closed":
        raise EnrolmentRefused(f"enrolment on {live.title} is closed", "closed")
    if not places.take_place(db, LiveSession, live.id, LiveSession.enrolment_open.is_(True)):
        db.rollback()
        db.refresh(live)
        if not live.enrolment_open:
            raise EnrolmentRefused(f"enrolment on {live.title} is closed", "closed")
        raise EnrolmentRefused(f"{live.title} is full: every place is taken", "full")
    enrolment, added = places.add_once(
        db,
        SessionEnrolment(session_id=live.id, user_id=user.id, enrolled_at=utcnow()),
        lambda: find_enrolment(db, live.id, user.id),
    )
    if not added:  # the same user enrolled at the same moment
        return enrolment
    record(
        db,
        user.name,
        "workgroup.session.enrol",
        f"workgroup_session:{live.id}",
        {"user": user.name, "workgroup": live.workgroup.slug},
    )
    db.commit()
    db.refresh(live)
    return enrolment


def release(db: Session, enrolment_id: int, session_id: int) -> bool:
    """Delete one enrolment and give its place back (no commit). False if it was
    already gone (another request cancelled it first): nothing is freed twice."""
    gone: CursorResult[Any] = db.execute(  # type: ignore[assignment]
        delete(SessionEnrolment)
        .where(SessionEnrolment.id == enrolment_id)
        .execution_options(synchronize_session=False)
    )
    if gone.rowcount != 1:
        return False
    db.execute(
        update(LiveSession)
        .where(LiveSession.id == session_id, LiveSession.enrolled_count > 0)
        .values(enrolled_count=LiveSession.enrolled_count - 1)
        .execution_options(synchronize_session=False)
    )
    return True


def cancel(db: Session, live: LiveSession, user: User, now: datetime | None = None) -> bool:
    """Give up ``user``'s place on ``live`` (before it starts) and commit; False if
    they held none. A session that has started keeps its list."""
    enrolment = find_enrolment(db, live.id, user.id)
    if enrolment is None:
        return False
    if live.starts <= (now or utcnow()):
        raise EnrolmentRefused(f"{live.title} has started: its list is kept", "started")
    freed = release(db, enrolment.id, live.id)
    if freed:
        record(
            db,
            user.name,
            "workgroup.session.cancel",
            f"workgroup_session:{live.id}",
            {"user": user.name, "workgroup": live.workgroup.slug},
        )
    db.commit()
    db.expire_all()
    return freed


def set_enrolment_open(db: Session, live: LiveSession, is_open: bool, actor: str) -> None:
    """Open or close enrolment on ``live`` (audited) and commit. Places already
    taken stay taken."""
    if live.enrolment_open == is_open:
        return
    live.enrolment_open = is_open
    record(
        db,
        actor,
        "workgroup.session.open" if is_open else "workgroup.session.close",
        f"workgroup_session:{live.id}",
        {"workgroup": live.workgroup.slug},
    )
    db.commit()


def save_session(
    db: Session,
    workgroup: Workgroup,
    values: dict[str, Any],
    actor: str,
    live: LiveSession | None = None,
) -> LiveSession:
    """Add a session to ``workgroup`` (or change ``live``) from checked ``values``
    (:func:`fivesafes.people.workgroups.forms.parse_session_form`); commits."""
    if live is None:
        live = LiveSession(workgroup=workgroup, enrolled_count=0, created_at=utcnow())
        db.add(live)
        action = "workgroup.session.create"
    else:
        action = "workgroup.session.update"
    for name, value in values.items():
        setattr(live, name, value)
    db.flush()
    record(db, actor, action, f"workgroup_session:{live.id}", {"workgroup": workgroup.slug})
    db.commit()
    return live
