"""Safe projects: applications, their review by the approval panel and by each
dataset's owner, membership, provisioning of approved projects' workspaces, the
public register, and a project's side of the airlock.

The rules are in :mod:`fivesafes.projects.applications` (and
:mod:`fivesafes.projects.release` for release requests); the web app only calls them.
"""

from fivesafes.projects.models import (
    DatasetOwner,
    MemberRole,
    Project,
    ProjectDataset,
    ProjectMember,
    ProjectReview,
    ProjectState,
    Provisioning,
    ReviewKind,
)

__all__ = [
    "DatasetOwner",
    "MemberRole",
    "Project",
    "ProjectDataset",
    "ProjectMember",
    "ProjectReview",
    "ProjectState",
    "Provisioning",
    "ReviewKind",
]
