"""The demo site's themed workgroup: "Courts & Justice", as the training platform
runs it (``context/``): MoJ Data First user training with three live online
sessions of 1 hour 30 minutes, free, the Zoom link shared with those who enrol.
Enrolment is closed on the first two and open on the third.

The sessions are dated from the day the demo is seeded (in two, three and four
weeks, at 10:00 UK time), so that the demo always has upcoming sessions. The
demo ``researcher`` (who studies trajectories into the justice system) is a
member, enrolled on the open session; the trainer runs the workgroup.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta

from sqlalchemy.orm import Session

from fivesafes.appdb.models import User, utcnow
from fivesafes.people.workgroups import groups, live
from fivesafes.people.workgroups.forms import LOCAL

SLUG = "courts-justice"
THEME = "Courts & Justice"
DESCRIPTION = """\
MoJ Data First datasets user training, delivered with the Ministry of Justice and
SAIL Databank. These are interactive sessions where participants have
opportunities for discussion with panel members. Register for one, two or all
three of the sessions individually.

Datasets: Data First: Family Court, Magistrates, Crown Court, Probation, and
Custodial.
"""

#: (title, summary, weeks from the seeding, enrolment open)
SESSIONS = [
    (
        "How to access Ministry of Justice (MoJ) datasets via SAIL Databank",
        "Which Data First datasets there are, who may use them and how access is granted.",
        2,
        False,
    ),
    (
        "Developing your application for linked Ministry of Justice (MoJ) datasets",
        "What a good application says: the public benefit, the datasets asked for and why.",
        3,
        False,
    ),
    (
        "Understanding linked Ministry of Justice (MoJ) datasets",
        "How the justice records are linked, what the linked data look like and its pitfalls.",
        4,
        True,
    ),
]

RESOURCES = [
    (
        "Ministry of Justice: Data First",
        "https://www.gov.uk/guidance/ministry-of-justice-data-first",
    ),
    ("ADR UK (Administrative Data Research UK)", "https://www.adruk.org/"),
]


def _at_ten(weeks: int, today: datetime) -> datetime:
    day = (today.astimezone(LOCAL) + timedelta(weeks=weeks)).date()
    return datetime.combine(day, time(10, 0), tzinfo=LOCAL).astimezone(UTC)


def seed(session: Session, users: Mapping[str, User]) -> None:
    """Create the Courts & Justice workgroup (unless it exists) with its sessions,
    resources and a member; commits."""
    if groups.find(session, SLUG) is not None:
        return
    trainer = users["trainer"]
    workgroup = groups.save_workgroup(
        session, {"slug": SLUG, "theme": THEME, "description": DESCRIPTION}, actor=trainer
    )
    now = utcnow()
    for number, (title, summary, weeks, is_open) in enumerate(SESSIONS, start=1):
        live.save_session(
            session,
            workgroup,
            {
                "title": title,
                "summary": summary,
                "starts_at": _at_ten(weeks, now),
                "duration_minutes": 90,
                "format": "live_online",
                "place": "",
                "online_link": f"https://zoom.example.org/j/courts-justice-{number}",
                "fee_pence": 0,
                "currency": "GBP",
                "capacity": 30,
                "enrolment_open": is_open,
            },
            actor=trainer.name,
        )
    for title, url in RESOURCES:
        groups.add_resource(session, workgroup, {"title": title, "url": url}, actor=trainer.name)
    researcher = users.get("researcher")
    if researcher is not None:
        groups.join(session, workgroup, researcher)
        session.refresh(workgroup)
        live.enrol(session, workgroup.sessions[-1], researcher)
