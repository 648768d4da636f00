"""Joining the seeded approved project the way the rules allow (``from joining
import join``): the lead invites, the approval panel and the data owner approve
the membership change, the invitee (accredited first if need be) accepts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from fivesafes.appdb.models import User
from fivesafes.appdb.users import get_user
from fivesafes.people import accreditation
from fivesafes.projects import applications as apps
from fivesafes.projects.models import ProjectInvitation


def accredit(db: Session, user: User) -> None:
    """Give ``user`` a valid safe researcher accreditation (as the induction does)."""
    if accreditation.valid_accreditation(db, user.id, apps.MEMBER_ACCREDITATION) is None:
        accreditation.grant(db, user.id, apps.MEMBER_ACCREDITATION)
        db.commit()


def approve_change(db: Session, inv: ProjectInvitation) -> ProjectInvitation:
    """The demo panel member and data owner (who owns every dataset) approve it."""
    project = inv.project
    apps.review_invitation(db, inv.id, get_user(db, "panel_member"), "panel", "approve")
    for name in apps.dataset_names(project):
        apps.review_invitation(
            db, inv.id, get_user(db, "data_owner"), "owner", "approve", dataset=name
        )
    return apps.get_invitation(db, inv.id)


def join(
    db: Session, project_id: int, who: str, role: str = "researcher", lead: str = "researcher"
) -> User:
    """Make ``who`` a member of the approved project ``project_id``, every step as
    the rules require; returns the new member."""
    inv = apps.invite(db, project_id, get_user(db, lead), who, role)
    user = inv.user
    approve_change(db, inv)
    accredit(db, user)
    apps.answer_invitation(db, inv.id, user, accept=True)
    assert apps.is_member(db, project_id, user.id)
    return user
