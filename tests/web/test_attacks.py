"""The web app attacked as a malicious user would (HTTP, no browser): other
people's things by changing ids in URLs, files outside the workspace, open
redirects, script in what users write, sessions and CSRF tokens reused, roles
granted to oneself, the airlock's rules bypassed by posting directly, and private
data in the public register. Each test names the hole it closes or the attack
that must keep failing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.outputs import airlock
from fivesafes.projects import applications as apps
from fivesafes.projects.demo import FLAGGED_TABLE, PENDING_TITLE
from fivesafes.projects.release import BUNDLES_ENV
from fivesafes.settings import session_factory
from fivesafes.settings.models import ReleaseRequest, User
from fivesafes.settings.users import get_user

APPROVED, PENDING = 1, 2
SEEDED_REQUEST = 1


@pytest.fixture
def db(seeded_db: str) -> Iterator[Session]:
    with session_factory(seeded_db)() as session:
        yield session


@pytest.fixture(autouse=True)
def bundles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bundles"
    monkeypatch.setenv(BUNDLES_ENV, str(folder))
    return folder


def _workspace(db: Session, tmp_path: Path, project_id: int = APPROVED) -> Path:
    """Give the project a workspace; returns its outputs folder."""
    workspace = tmp_path / "store" / "workspaces" / f"project-{project_id}" / "workspace.duckdb"
    outputs = workspace.parent / "outputs"
    outputs.mkdir(parents=True)
    project = apps.get_project(db, project_id)
    project.workspace, project.provisioning = str(workspace), "provisioned"
    db.commit()
    return outputs


def _start(client: Any, project_id: int = APPROVED, title: str = "Attack") -> str:
    started = client.post_form(f"/projects/{project_id}/airlock", {"title": title})
    assert started.status_code == 303, started.text
    return str(started.headers["location"])


# --- files outside the workspace ---------------------------------------------------------


def test_a_symlink_in_the_workspace_outputs_folder_does_not_reach_outside(
    client: Any, db: Session, tmp_path: Path
) -> None:
    secret = tmp_path / "identifiers" / "persons.csv"
    secret.parent.mkdir()
    secret.write_text("nhs_number,name\n9434765919,Jane Doe\n")
    outputs = _workspace(db, tmp_path)
    (outputs / "by_area.csv").write_text(FLAGGED_TABLE)
    os.symlink(secret, outputs / "innocent.csv")
    os.symlink(secret.parent, outputs / "folder")

    me = client.login_as("researcher2")
    page = me.get(f"/projects/{APPROVED}/workspace")
    assert "by_area.csv" in page.text
    assert "innocent.csv" not in page.text
    request_path = _start(me)
    assert '<option value="innocent.csv">' not in me.get(request_path).text
    token = me.csrf_token(request_path)
    for chosen in ("innocent.csv", "folder/persons.csv", str(secret), "../../../identifiers"):
        refused = me.post(
            f"{request_path}/outputs",
            data={"csrf_token": token, "workspace_file": chosen, "description": "x"},
        )
        assert refused.status_code == 422 and "not among the workspace" in refused.text
    db.expire_all()
    req = db.get(ReleaseRequest, int(request_path.rsplit("/", 1)[1]))
    assert req is not None and req.outputs == []
    # the output folder itself swapped for a link to the identifiers
    for p in outputs.iterdir():
        p.unlink()
    outputs.rmdir()
    os.symlink(secret.parent, outputs)
    assert "persons.csv" not in me.get(f"/projects/{APPROVED}/workspace").text
    refused = me.post(
        f"{request_path}/outputs",
        data={"csrf_token": token, "workspace_file": "persons.csv", "description": "x"},
    )
    assert refused.status_code == 422 and "not among the workspace" in refused.text


def test_an_uploaded_file_name_cannot_climb_out_of_the_request(client: Any, db: Session) -> None:
    me = client.login_as("researcher")
    request_path = _start(me)
    token = me.csrf_token(request_path)
    for name in ("../../etc/passwd", "/etc/passwd", "..\\..\\boot.ini"):
        response = me.post(
            f"{request_path}/outputs",
            data={"csrf_token": token, "description": "A table", "name": ""},
            files={"upload": (name, b"a,b\n1,2\n", "text/csv")},
            follow_redirects=False,
        )
        # either a clear refusal of the name or an output under a plain name
        assert response.status_code in (303, 422)
    db.expire_all()
    req = db.get(ReleaseRequest, int(request_path.rsplit("/", 1)[1]))
    assert req is not None
    for out in req.outputs:
        assert "/" not in out.name and "\\" not in out.name and not out.name.startswith(".")


# --- other people's things by changing ids -----------------------------------------------


def _approve_pending_with_a_request(db: Session) -> int:
    """Approve the pending project (researcher2's alone) and start a request in it."""
    panel, owner = get_user(db, "panel_member"), get_user(db, "data_owner")
    apps.review(db, PENDING, panel, "panel", "approve", "ok")
    for name in apps.dataset_names(apps.get_project(db, PENDING)):
        apps.review(db, PENDING, owner, "owner", "approve", "", dataset=name)
    slug = apps.get_project(db, PENDING).slug
    assert slug is not None
    req = airlock.create_request(db, "researcher2", slug, "Pay gaps")
    return req.id


def test_another_projects_request_is_not_reached_through_ones_own_project(
    client: Any, db: Session
) -> None:
    other = _approve_pending_with_a_request(db)
    me = client.login_as("researcher")  # a member of project 1 only
    for path in (
        f"/projects/{APPROVED}/airlock/{other}",
        f"/projects/{APPROVED}/airlock/{other}/bundle",
    ):
        assert me.get(path).status_code == 404, path
    assert me.get(f"/projects/{PENDING}/airlock/{other}").status_code == 403
    token = me.csrf_token(f"/projects/{APPROVED}/airlock/{SEEDED_REQUEST}")
    for step, data in (
        ("outputs/remove", {"output": "x"}),
        ("submit", {}),
        ("comment", {"body": "hello"}),
    ):
        response = me.post(
            f"/projects/{APPROVED}/airlock/{other}/{step}",
            data={**data, "csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 404, step
    upload = me.post(
        f"/projects/{APPROVED}/airlock/{other}/outputs",
        data={"csrf_token": token, "description": "x", "name": "x"},
        files={"upload": ("x.csv", b"a\n1\n", "text/csv")},
        follow_redirects=False,
    )
    assert upload.status_code == 404
    db.expire_all()
    req = db.get(ReleaseRequest, other)
    assert req is not None and req.outputs == [] and req.comments == []


def test_someone_elses_draft_application_is_not_shown_or_changed(client: Any, db: Session) -> None:
    me = client.login_as("researcher2")
    made = me.post_form(
        "/projects/new",
        {
            "title": "A secret draft",
            "lay_summary": "x",
            "public_benefit": "y",
            "organisation": "z",
            "datasets": "pupil_census",
        },
    )
    assert made.status_code == 303
    draft = int(made.headers["location"].rsplit("/", 1)[1])
    other = client.fresh().login_as("researcher")
    assert other.get(f"/projects/{draft}").status_code == 403
    assert other.get(f"/projects/{draft}/edit").status_code == 403
    token = other.csrf_token("/projects/new")
    for path, data in (
        (f"/projects/{draft}/edit", {"title": "Hijacked", "lay_summary": "x"}),
        (f"/projects/{draft}/submit", {}),
        (f"/projects/{draft}/members", {"who": "researcher", "role": "lead_researcher"}),
    ):
        response = other.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, path
    assert "A secret draft" not in other.get("/projects").text
    db.expire_all()
    project = apps.get_project(db, draft)
    assert project.title == "A secret draft" and project.state == "draft"
    assert not apps.is_member(db, draft, get_user(db, "researcher").id)
    # a panel member sees no draft either
    panel = client.fresh().login_as("panel_member")
    assert panel.get(f"/projects/{draft}/review").status_code == 404


def test_a_plain_member_cannot_make_themselves_lead_or_remove_the_lead(
    client: Any, db: Session
) -> None:
    me = client.login_as("researcher2")  # a researcher (not lead) in project 1
    lead_id = get_user(db, "researcher").id
    token = me.csrf_token(f"/projects/{APPROVED}")
    for path, data in (
        (f"/projects/{APPROVED}/members", {"who": "trainer", "role": "lead_researcher"}),
        (f"/projects/{APPROVED}/members/{lead_id}/remove", {}),
    ):
        response = me.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, path
    assert apps.membership(db, APPROVED, lead_id) is not None


def test_another_learners_statement_is_not_downloaded(client: Any, db: Session) -> None:
    from fivesafes.people.models import Statement

    code = db.scalar(select(Statement.code).limit(1))
    if code is None:
        pytest.skip("the demo seeds no statement of participation")
    owner_id = db.scalar(select(Statement.user_id).where(Statement.code == code))
    owner = db.get(User, owner_id)
    assert owner is not None
    stranger = next(k for k, u in client.users.items() if u["name"] != owner.name)
    if stranger == "administrator":
        stranger = "panel_member"
    other = client.login_as(stranger)
    assert other.get(f"/learning/statements/{code}.pdf").status_code == 403


# --- the public register ---------------------------------------------------------------


def test_the_public_register_leaks_nothing_private(client: Any, db: Session) -> None:
    text = client.get("/projects/public.json").text + client.get("/projects/public").text
    assert PENDING_TITLE not in text
    for user in db.scalars(select(User)):
        assert user.email is None or user.email not in text, user.email
        assert f'"{user.name}"' not in text
    assert "workspace" not in client.get("/projects/public.json").text
