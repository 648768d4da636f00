"""Accreditation (e.g. "safe researcher"): granted on completing a course that
grants it, valid for a set period (the course's ``accreditation_valid_days``, three
years by default), renewed by completing any course that grants the same kind (the
induction again, or a refresher). An expired or revoked accreditation counts for
nothing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.appdb.models import User, as_utc, utcnow
from fivesafes.people.models import Accreditation, Course

#: How long an accreditation lasts unless its course says otherwise.
DEFAULT_VALID_DAYS = 3 * 365

#: A valid accreditation this close to its expiry is shown as due for renewal.
RENEW_WITHIN_DAYS = 120

#: Display names of the accreditations the demo courses grant (others are shown
#: from their identifier).
LABELS = {
    "safe_researcher": "Safe researcher",
    "output_checker": "Output checker",
}


def label(kind: str) -> str:
    return LABELS.get(kind, kind.replace("_", " ").capitalize())


def valid_days(course: Course) -> int:
    return course.accreditation_valid_days or DEFAULT_VALID_DAYS


def grant(
    session: Session,
    user_id: int,
    kind: str,
    *,
    course: Course | None = None,
    statement_id: int | None = None,
    now: datetime | None = None,
    days: int | None = None,
) -> Accreditation:
    """Add an accreditation of ``kind`` (the caller commits)."""
    moment = now or utcnow()
    length = days if days is not None else (valid_days(course) if course else DEFAULT_VALID_DAYS)
    row = Accreditation(
        user_id=user_id,
        kind=kind,
        course_id=course.id if course else None,
        statement_id=statement_id,
        granted_at=moment,
        expires_at=moment + timedelta(days=length),
    )
    session.add(row)
    session.flush()
    return row


def is_valid(row: Accreditation, now: datetime | None = None) -> bool:
    moment = as_utc(now) if now else utcnow()
    return row.revoked_at is None and as_utc(row.expires_at) > moment


def valid_accreditation(
    session: Session, user_id: int, kind: str, now: datetime | None = None
) -> Accreditation | None:
    """The user's valid accreditation of ``kind`` that lasts longest, or None."""
    rows = session.scalars(
        select(Accreditation)
        .where(Accreditation.user_id == user_id, Accreditation.kind == kind)
        .order_by(Accreditation.expires_at.desc())
    )
    for row in rows:
        if is_valid(row, now):
            return row
    return None


@dataclass(frozen=True)
class Held:
    """An accreditation as a learner sees it."""

    row: Accreditation
    kind: str
    label: str
    valid: bool
    status: str  # "valid", "expired" or "revoked"
    #: Whole days until it expires (negative once expired).
    days_left: int = 0

    @property
    def renew_soon(self) -> bool:
        """Valid, but for less than :data:`RENEW_WITHIN_DAYS` more days."""
        return self.valid and self.days_left < RENEW_WITHIN_DAYS


def accreditations_of(session: Session, user_id: int, now: datetime | None = None) -> list[Held]:
    """Every accreditation the user has held, newest first, with its status."""
    moment = as_utc(now) if now else utcnow()
    rows = session.scalars(
        select(Accreditation)
        .where(Accreditation.user_id == user_id)
        .order_by(Accreditation.granted_at.desc(), Accreditation.id.desc())
    )
    held = []
    for row in rows:
        if row.revoked_at is not None:
            status = "revoked"
        elif as_utc(row.expires_at) <= moment:
            status = "expired"
        else:
            status = "valid"
        left = (as_utc(row.expires_at) - moment).days
        held.append(Held(row, row.kind, label(row.kind), status == "valid", status, left))
    return held


def revoke(session: Session, row: Accreditation, actor: str, reason: str = "") -> None:
    """Revoke an accreditation (written to the audit log; the caller commits)."""
    from fivesafes.audit import record

    row.revoked_at = utcnow()
    record(
        session,
        actor,
        "people.accreditation.revoke",
        f"accreditation:{row.id}",
        {"user_id": row.user_id, "kind": row.kind, "reason": reason},
    )


def parse_grant_form(
    session: Session, form: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Clean an administrator's grant form: ``user`` (e-mail address or user name),
    ``kind`` (like ``safe_researcher``) and ``days`` (empty: the default)."""
    errors: dict[str, str] = {}
    who = str(form.get("user", "") or "").strip()
    user = None
    if not who:
        errors["user"] = "Enter the person's e-mail address or user name"
    else:
        user = session.scalar(select(User).where(User.name == who))
        if user is None and hasattr(User, "email"):
            user = session.scalar(select(User).where(User.email == who.lower()))
        if user is None:
            errors["user"] = f"No user has the e-mail address or user name {who!r}"
    kind = str(form.get("kind", "") or "").strip()
    if not re.match(r"^[a-z][a-z0-9_]{1,63}$", kind):
        errors["kind"] = "Enter the accreditation as lower-case letters and underscores"
    days_text = str(form.get("days", "") or "").strip()
    days = DEFAULT_VALID_DAYS
    if days_text:
        try:
            days = int(days_text)
            if days < 1:
                raise ValueError
        except ValueError:
            errors["days"] = "Enter the number of days as a whole number of at least 1"
    return {"user": user, "kind": kind, "days": days}, errors


def award(session: Session, user: User, kind: str, days: int, actor: str) -> Accreditation:
    """An administrator grants an accreditation directly (e.g. one held from another
    service); audited, the caller commits."""
    from fivesafes.audit import record

    row = grant(session, user.id, kind, days=days)
    record(
        session,
        actor,
        "people.accreditation.grant",
        f"accreditation:{row.id}",
        {"user": user.name, "kind": kind, "days": days},
    )
    return row


def all_accreditations(session: Session, now: datetime | None = None) -> list[Held]:
    """Every accreditation of every user, newest first (for administrators)."""
    moment = as_utc(now) if now else utcnow()
    rows = session.scalars(
        select(Accreditation).order_by(Accreditation.granted_at.desc(), Accreditation.id.desc())
    )
    out = []
    for row in rows:
        status = (
            "revoked"
            if row.revoked_at is not None
            else "expired"
            if as_utc(row.expires_at) <= moment
            else "valid"
        )
        left = (as_utc(row.expires_at) - moment).days
        out.append(Held(row, row.kind, label(row.kind), status == "valid", status, left))
    return out
