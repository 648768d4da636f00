"""Shared helpers of the jobs tests: the people, a small workspace, a project, and
the world a test gets (imported by conftest and the tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
from sqlalchemy.orm import Session

from fivesafes.appdb.models import User
from fivesafes.people import accreditation
from fivesafes.projects.applications import MEMBER_ACCREDITATION
from fivesafes.projects.models import (
    MemberRole,
    Project,
    ProjectDataset,
    ProjectMember,
    ProjectState,
    Provisioning,
)

PEOPLE = {
    "ana": "researcher",
    "ben": "researcher",
    "eve": "researcher",
    "olly": "data_owner",
    "cy": "output_checker",
}


def make_workspace(path: Path, rows: int = 40) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE pupils (pseudonym VARCHAR, sex VARCHAR, score INTEGER)")
        con.executemany(
            "INSERT INTO pupils VALUES (?, ?, ?)",
            [(f"P{i:04d}", "F" if i % 2 else "M", 40 + i % 30) for i in range(rows)],
        )
    return path


def add_project(
    session: Session, store: Path, slug: str, members: list[User], title: str = "A project"
) -> Project:
    """An approved, provisioned project with ``members`` (the first its lead), each
    given a valid safe researcher accreditation if they hold none."""
    workspace = make_workspace(store / "workspaces" / slug / "workspace.duckdb")
    project = Project(
        slug=slug,
        title=title,
        lay_summary="x",
        public_benefit="x",
        organisation="Northbridge",
        state=ProjectState.APPROVED.value,
        applicant_id=members[0].id,
        provisioning=Provisioning.PROVISIONED.value,
        workspace=str(workspace),
        provisioning_note="",
    )
    project.datasets.append(ProjectDataset(dataset="pupil_census"))
    for i, user in enumerate(members):
        role = MemberRole.LEAD_RESEARCHER if i == 0 else MemberRole.RESEARCHER
        project.members.append(ProjectMember(user_id=user.id, role=role.value))
        # members meet the membership rule: the researcher role and a valid accreditation
        if accreditation.valid_accreditation(session, user.id, MEMBER_ACCREDITATION) is None:
            accreditation.grant(session, user.id, MEMBER_ACCREDITATION)
    session.add(project)
    session.commit()
    return project


@dataclass
class World:
    url: str
    store: Path
    session: Session
    people: dict[str, User]
    project: Project  # ana (lead) and ben
    other: Project  # eve's


class FakePlan:
    def __init__(self) -> None:
        self.outstanding: list[object] = []

    def outstanding_courses(
        self,
        session: Session,
        user_id: int,
        datasets: list[str],
        project_role: str,
        outputs: tuple[str, ...] | list[str] = (),
    ) -> list[object]:
        return list(self.outstanding)
