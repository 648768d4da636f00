"""The public register of approved projects: what anyone may read about what is
done with the data (title, lay summary, organisation, datasets, dates, and the
outputs released from each project, with their release dates).

Only approved projects appear; nothing about people beyond the organisation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.appdb.models import as_utc
from fivesafes.datasets import BY_NAME
from fivesafes.projects.models import Project, ProjectState
from fivesafes.projects.release import released_outputs


def _day(moment: Any) -> str | None:
    return None if moment is None else as_utc(moment).date().isoformat()


def public_register(session: Session) -> list[dict[str, Any]]:
    """Every approved project as plain data, the most recently approved first."""
    query = (
        select(Project)
        .where(Project.state == ProjectState.APPROVED)
        .order_by(Project.decided_at.desc(), Project.id.desc())
    )
    found = []
    for project in session.scalars(query):
        found.append(
            {
                "id": project.id,
                "reference": project.slug,
                "title": project.title,
                "lay_summary": project.lay_summary,
                "public_benefit": project.public_benefit,
                "organisation": project.organisation,
                "datasets": [
                    {
                        "name": d.dataset,
                        "title": BY_NAME[d.dataset].title if d.dataset in BY_NAME else d.dataset,
                    }
                    for d in project.datasets
                ],
                "submitted": _day(project.submitted_at),
                "approved": _day(project.decided_at),
                "released_outputs": released_outputs(session, project),
            }
        )
    return found
