"""Helpers for the workgroup tests: a workgroup with one live session."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from fivesafes.appdb.models import utcnow
from fivesafes.people.workgroups.models import LiveSession, Workgroup


def make_workgroup(session: Session, slug: str = "courts-justice") -> Workgroup:
    workgroup = Workgroup(slug=slug, theme="Courts & Justice", description="Justice data")
    session.add(workgroup)
    session.commit()
    return workgroup


def make_session(
    session: Session,
    workgroup: Workgroup,
    *,
    capacity: int | None = 3,
    starts_at: datetime | None = None,
    **values: object,
) -> LiveSession:
    """A live online session in a week's time (unless ``starts_at``)."""
    fields: dict[str, object] = {
        "title": "Accessing the justice datasets",
        "summary": "",
        "starts_at": starts_at or utcnow() + timedelta(days=7),
        "duration_minutes": 90,
        "format": "live_online",
        "place": "",
        "online_link": "https://meet.example.org/justice-1",
        "fee_pence": 0,
        "currency": "GBP",
        "capacity": capacity,
        "enrolled_count": 0,
        "enrolment_open": True,
    }
    fields.update(values)
    live = LiveSession(workgroup=workgroup, **fields)
    session.add(live)
    session.commit()
    return live
