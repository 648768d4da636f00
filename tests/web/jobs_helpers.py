"""Shared by the web tests of the safe setting: the seeded demo site's approved
project given a small workspace (two tables joined by person pseudonyms), as an
administrator's provisioning would leave it."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy.orm import Session

from fivesafes.projects import applications as apps

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_twin import _workspace


def provision_demo_project(db: Session, root: Path, project_id: int = 1) -> Path:
    """The workspace file of the seeded project ``project_id``, made under ``root``."""
    workspace = root / "store" / "workspaces" / f"project-{project_id}" / "workspace.duckdb"
    workspace.parent.mkdir(parents=True)
    _workspace(workspace)
    project = apps.get_project(db, project_id)
    project.workspace, project.provisioning = str(workspace), "provisioned"
    db.commit()
    return workspace
