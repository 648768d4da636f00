"""The airlock in the browser (HTTP, no browser): researchers assemble and submit
a request, checkers see the disclosure report cell by cell, the two-checker rule
and "never your own request" hold over HTTP, bundles go to members only, CSRF."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from fivesafes import audit
from fivesafes.appdb import session_factory
from fivesafes.appdb.models import ReleaseRequest
from fivesafes.appdb.users import get_user, set_roles
from fivesafes.demo.projects import FLAGGED_TABLE
from fivesafes.outputs import airlock
from fivesafes.projects.release import BUNDLES_ENV

APPROVED = 1
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


def _state(db: Session, request_id: int) -> str:
    db.expire_all()
    req = db.get(ReleaseRequest, request_id)
    assert req is not None
    return req.state


def _review(client: Any, request_id: int, output: str, decision: str, comment: str = "") -> Any:
    return client.post_form(
        f"/airlock/requests/{request_id}/review",
        {"output": output, "decision": decision, "comment": comment},
    )


def test_checkers_see_the_disclosure_report_cell_by_cell(client: Any) -> None:
    checker = client.login_as("output_checker")
    listing = checker.get("/airlock")
    assert f'href="/airlock/requests/{SEEDED_REQUEST}"' in listing.text
    page = checker.get(f"/airlock/requests/{SEEDED_REQUEST}")
    assert page.status_code == 200
    text = page.text
    assert "Disclosure report for offenders_by_area.csv" in text
    assert "4 records: fewer than the threshold of 10" in text  # the reason, per cell
    assert "withheld" in text  # the safe value of a suppressed cell
    assert text.count('class="row-bad"') >= 3
    assert "0 of 2" in text  # a flagged output needs two checkers


def test_one_checker_is_not_enough_for_a_flagged_output_and_members_download_the_bundle(
    client: Any, db: Session, bundles: Path
) -> None:
    first = client.login_as("output_checker")
    assert _review(first, SEEDED_REQUEST, "offenders_by_area.csv", "approve").status_code == 303
    assert _state(db, SEEDED_REQUEST) == "in_review"
    again = _review(first, SEEDED_REQUEST, "offenders_by_area.csv", "approve")
    assert again.status_code == 403
    assert "counts once per output" in again.text
    assert f'<a href="/airlock/requests/{SEEDED_REQUEST}">Back to the request</a>' in again.text
    assert _state(db, SEEDED_REQUEST) == "in_review"

    second = client.fresh().login_as("output_checker2")
    assert _review(second, SEEDED_REQUEST, "offenders_by_area.csv", "approve").status_code == 303
    assert _state(db, SEEDED_REQUEST) == "released"
    assert (bundles / f"request-{SEEDED_REQUEST}.zip").is_file()

    path = f"/projects/{APPROVED}/airlock/{SEEDED_REQUEST}/bundle"
    member = client.fresh().login_as("researcher2")
    page = member.get(f"/projects/{APPROVED}/airlock/{SEEDED_REQUEST}")
    assert path in page.text
    download = member.get(path)
    assert download.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    assert f"request-{SEEDED_REQUEST}/outputs/offenders_by_area.csv" in names
    assert f"request-{SEEDED_REQUEST}/manifest.json" in names
    assert client.fresh().login_as("output_checker").get(path).status_code == 403
    assert client.fresh().login_as("panel_member").get(path).status_code == 403
    assert client.fresh().get(path, follow_redirects=False).status_code == 303
    # the register shows what was released, with its date
    register = client.fresh().get("/projects/public.json").json()["projects"][0]
    assert [o["name"] for o in register["released_outputs"]] == ["offenders_by_area.csv"]
    downloads = audit.entries(db, subject=f"request:{SEEDED_REQUEST}", action="airlock.download")
    assert [e.actor for e in downloads] == ["researcher2"]


def test_a_researcher_cannot_approve_their_own_request(client: Any, db: Session) -> None:
    # the author is given the output checker role as well: still never their own request
    author = get_user(db, "researcher")
    set_roles(db, author, {"researcher", "output_checker"}, "administrator")
    db.commit()
    me = client.login_as("researcher")
    page = me.get(f"/airlock/requests/{SEEDED_REQUEST}")
    assert "You are an author of this request or a member of its project" in page.text
    refused = _review(me, SEEDED_REQUEST, "offenders_by_area.csv", "approve")
    assert refused.status_code == 403
    assert "can never review it" in refused.text
    assert _state(db, SEEDED_REQUEST) == "checked"
    # and a researcher without the role does not reach the checkers' pages at all
    other = client.fresh().login_as("researcher2")
    assert other.get(f"/airlock/requests/{SEEDED_REQUEST}").status_code == 403
    assert _review(other, SEEDED_REQUEST, "x", "approve").status_code == 403


def test_a_researcher_assembles_and_submits_a_request(client: Any, db: Session) -> None:
    me = client.login_as("researcher")
    started = me.post_form(f"/projects/{APPROVED}/airlock", {"title": "Offending by area"})
    assert started.status_code == 303
    page_path = started.headers["location"]
    request_id = int(page_path.rsplit("/", 1)[1])
    token = me.csrf_token(page_path)
    add = f"{page_path}/outputs"
    # bad input: every field named, what was typed kept, nothing added
    bad = me.post(
        add,
        data={"csrf_token": token, "name": "by area", "description": "", "value_column": "n"},
        files={"upload": ("by_area.csv", FLAGGED_TABLE.encode(), "text/csv")},
    )
    assert bad.status_code == 422
    assert 'href="#description"' in bad.text
    assert 'value="by area"' in bad.text
    no_column = me.post(
        add,
        data={
            "csrf_token": token,
            "name": "by area",
            "description": "Persons",
            "value_column": "n",
        },
        files={"upload": ("by_area.csv", FLAGGED_TABLE.encode(), "text/csv")},
    )
    assert no_column.status_code == 422 and "has no column" in no_column.text
    db.expire_all()
    assert db.get(ReleaseRequest, request_id).outputs == []  # type: ignore[union-attr]
    good = me.post(
        add,
        data={
            "csrf_token": token,
            "name": "by area",
            "description": "Persons by area and ethnic group",
            "value_column": "persons",
        },
        files={"upload": ("by_area.csv", FLAGGED_TABLE.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert good.status_code == 303
    shown = me.get(page_path)
    assert "Cells suppressed by the rules" in shown.text
    assert me.post_form(f"{page_path}/submit", token_from=page_path).status_code == 303
    assert _state(db, request_id) == "checked"
    # the checkers see it
    checker = client.fresh().login_as("output_checker")
    assert f"/airlock/requests/{request_id}" in checker.get("/airlock").text
    # a request is reached only through its own project
    assert me.get(f"/projects/2/airlock/{request_id}").status_code == 403


def test_checkers_return_and_reject_with_a_reason(client: Any, db: Session) -> None:
    checker = client.login_as("output_checker")
    base = f"/airlock/requests/{SEEDED_REQUEST}"
    empty = checker.post_form(f"{base}/return", {"close_comment": ""}, token_from=base)
    assert empty.status_code == 422 and 'href="#close_comment"' in empty.text
    no_reason = _review(checker, SEEDED_REQUEST, "offenders_by_area.csv", "request_changes")
    assert no_reason.status_code == 422 and "Say why" in no_reason.text
    back = checker.post_form(
        f"{base}/return", {"close_comment": "Round to base 5, please"}, token_from=base
    )
    assert back.status_code == 303
    assert _state(db, SEEDED_REQUEST) == "returned"
    page = client.fresh().login_as("researcher").get(f"/projects/{APPROVED}/airlock/1")
    assert "Round to base 5, please" in page.text and "Returned to you" in page.text


def test_airlock_steps_need_a_csrf_token(client: Any, db: Session) -> None:
    checker = client.login_as("output_checker")
    response = checker.post(
        f"/airlock/requests/{SEEDED_REQUEST}/review",
        data={"output": "offenders_by_area.csv", "decision": "approve"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert _state(db, SEEDED_REQUEST) == airlock.State.CHECKED.value
    researcher = client.fresh().login_as("researcher")
    assert researcher.post(f"/projects/{APPROVED}/airlock", data={"title": "x"}).status_code == 403


def test_outputs_come_from_the_workspace_output_folder(
    client: Any, db: Session, tmp_path: Path
) -> None:
    from fivesafes.projects import applications as apps

    workspace = tmp_path / "store" / "workspaces" / "project-1" / "workspace.duckdb"
    (workspace.parent / "outputs").mkdir(parents=True)
    (workspace.parent / "outputs" / "by_area.csv").write_text(FLAGGED_TABLE)
    project = apps.get_project(db, APPROVED)
    project.workspace, project.provisioning = str(workspace), "provisioned"
    db.commit()

    me = client.login_as("researcher2")
    page = me.get(f"/projects/{APPROVED}/workspace")
    assert page.status_code == 200 and "by_area.csv" in page.text
    started = me.post_form(f"/projects/{APPROVED}/airlock", {"title": "From the workspace"})
    request_path = started.headers["location"]
    form = me.get(request_path)
    assert '<option value="by_area.csv">' in form.text
    token = me.csrf_token(request_path)
    outside = me.post(
        f"{request_path}/outputs",
        data={"csrf_token": token, "workspace_file": "../../secrets.csv", "description": "x"},
    )
    assert outside.status_code == 422 and "not among the workspace" in outside.text
    added = me.post(
        f"{request_path}/outputs",
        data={
            "csrf_token": token,
            "workspace_file": "by_area.csv",
            "description": "Persons by area",
            "value_column": "persons",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303
    db.expire_all()
    request_id = int(request_path.rsplit("/", 1)[1])
    req = db.get(ReleaseRequest, request_id)
    assert req is not None
    assert [(o.name, o.verdict) for o in req.outputs] == [("by_area.csv", "suppress")]


def test_no_member_of_the_project_reviews_its_requests(client: Any, db: Session) -> None:
    # researcher2, a co-author of the seeded request, becomes an output checker
    colleague = get_user(db, "researcher2")
    colleague.role = "output_checker"
    set_roles(db, colleague, {"output_checker"}, "administrator")
    db.commit()
    me = client.login_as("researcher2")
    refused = _review(me, SEEDED_REQUEST, "offenders_by_area.csv", "approve")
    assert refused.status_code == 403 and "member of project 1" in refused.text
    # a checker who joins the project later (invited, approved, accepting) is no more
    # independent
    from joining import join

    set_roles(db, get_user(db, "output_checker2"), {"output_checker", "researcher"}, "admin")
    db.commit()
    join(db, APPROVED, "output_checker2")
    later = client.fresh().login_as("output_checker2")
    refused = _review(later, SEEDED_REQUEST, "offenders_by_area.csv", "approve")
    assert refused.status_code == 403 and "can never review its requests" in refused.text
    assert _state(db, SEEDED_REQUEST) == "checked"
    attempts = audit.entries(db, subject=f"request:{SEEDED_REQUEST}", action="airlock.refused")
    assert {e.actor for e in attempts} >= {"researcher2", "output_checker2"}
    # the library agrees for the co-author, whoever asks it
    with pytest.raises(Exception, match="can never review it"):
        airlock.start_review(db, SEEDED_REQUEST, "researcher2")


def test_a_refused_step_links_back_to_the_request(client: Any, db: Session) -> None:
    # the seeded request is submitted already: submitting it again is refused
    member = client.login_as("researcher2")
    again = member.post_form(f"/projects/{APPROVED}/airlock/{SEEDED_REQUEST}/submit", {})
    assert again.status_code == 403
    back = f'<a href="/projects/{APPROVED}/airlock/{SEEDED_REQUEST}">Back to the request</a>'
    assert back in again.text
    assert '<a href="/">go to the start page</a>' in again.text
    assert _state(db, SEEDED_REQUEST) == "checked"
