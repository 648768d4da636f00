"""The workspace's synthetic twin from the workspace page: a link, a download for
members only, made once and kept until the workspace changes, each download in
the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from jobs_helpers import provision_demo_project
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.appdb import session_factory
from fivesafes.appdb.models import AuditEntry

APPROVED = 1


def _provision(db: Session, tmp_path: Path) -> Path:
    return provision_demo_project(db, tmp_path, APPROVED)


@pytest.fixture
def db(seeded_db: str) -> Iterator[Session]:
    with session_factory(seeded_db)() as session:
        yield session


def test_members_download_the_twin_from_the_workspace_page(
    client: Any, db: Session, tmp_path: Path
) -> None:
    workspace = _provision(db, tmp_path)
    me = client.login_as("researcher")
    page = me.get(f"/projects/{APPROVED}/workspace")
    assert f'href="/projects/{APPROVED}/workspace/twin"' in page.text
    got = me.get(f"/projects/{APPROVED}/workspace/twin")
    assert got.status_code == 200
    assert "twin.duckdb" in got.headers["content-disposition"]
    saved = tmp_path / "downloaded.duckdb"
    saved.write_bytes(got.content)
    with duckdb.connect(str(saved), read_only=True) as con:
        twin_ids = {r[0] for r in con.execute("SELECT person_pseudonym FROM visits").fetchall()}
    with duckdb.connect(str(workspace), read_only=True) as con:
        real_ids = {r[0] for r in con.execute("SELECT person_pseudonym FROM visits").fetchall()}
    assert twin_ids and not twin_ids & real_ids
    again = me.get(f"/projects/{APPROVED}/workspace/twin")
    assert again.content == got.content  # kept, not made again
    entries = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "project.twin_download")
    ).all()
    assert [e.actor for e in entries] == ["researcher", "researcher"]


@pytest.mark.parametrize(
    "who", ["output_checker", "data_owner", "panel_member", "trainer", "linkage_operator"]
)
def test_others_cannot_download_the_twin(
    client: Any, db: Session, tmp_path: Path, who: str
) -> None:
    _provision(db, tmp_path)
    other = client.login_as(who)
    assert other.get(f"/projects/{APPROVED}/workspace/twin").status_code == 403
    visitor = client.fresh().get(f"/projects/{APPROVED}/workspace/twin", follow_redirects=False)
    assert visitor.status_code == 303


def test_no_workspace_no_twin(client: Any) -> None:
    me = client.login_as("researcher")
    got = me.get(f"/projects/{APPROVED}/workspace/twin")
    assert got.status_code == 404 and "no workspace yet" in got.text
