"""The public register (only approved projects, with their released outputs) and a
project's side of the airlock (members only, learning plan first, tables checked
by the disclosure rules as they are added)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from fivesafes.appdb.models import User
from fivesafes.demo.projects import FLAGGED_TABLE
from fivesafes.errors import PolicyRefusal
from fivesafes.outputs import airlock
from fivesafes.projects import applications as apps
from fivesafes.projects import release
from fivesafes.projects.models import Project
from fivesafes.projects.register import public_register

Form = Callable[..., apps.ApplicationInput]


def _approved(db: Session, people: dict[str, User], form: apps.ApplicationInput) -> Project:
    project = apps.save_draft(db, people["ana"], form)
    for inv in apps.open_invitations(project):  # those listed accept, and are members
        apps.answer_invitation(db, inv.id, inv.user, accept=True)
    apps.submit(db, project.id, people["ana"])
    apps.review(db, project.id, people["pat"], "panel", "approve")
    for d in apps.dataset_names(project):
        apps.review(db, project.id, people["olly"], "owner", "approve", dataset=d)
    return apps.get_project(db, project.id)


@pytest.fixture
def one_owner(db: Session, people: dict[str, User]) -> dict[str, User]:
    for d in ("pupil_census", "justice_offences", "census_2021"):
        apps.assign_owner(db, people["adam"], d, "olly")
    return people


def _release_flagged_table(
    db: Session, people: dict[str, User], project: Project, bundles: Path
) -> int:
    req = release.start_request(db, project, people["ana"], "Offending by area")
    release.add_output(
        db,
        project,
        req.id,
        people["ana"],
        "by_area.csv",
        "Persons by area and ethnic group",
        FLAGGED_TABLE.encode(),
        "by_area.csv",
        value_column="persons",
    )
    release.submit_request(db, project, req.id, people["ana"])
    airlock.start_review(db, req.id, "cy")
    airlock.review(db, req.id, "by_area.csv", "cy", "approve")
    airlock.review(db, req.id, "by_area.csv", "di", "approve")
    airlock.release(db, req.id, "cy", bundles, as_zip=True)
    return req.id


def test_the_register_lists_approved_projects_with_their_released_outputs(
    db: Session, one_owner: dict[str, User], application: Form, tmp_path: Path
) -> None:
    approved = _approved(db, one_owner, application(title="Approved one"))
    draft = apps.save_draft(db, one_owner["ana"], application(title="Still a draft"))
    pending = apps.save_draft(db, one_owner["ana"], application(title="Pending"))
    apps.submit(db, pending.id, one_owner["ana"])
    assert draft.state == "draft"
    request_id = _release_flagged_table(db, one_owner, approved, tmp_path)

    register = public_register(db)
    assert [p["title"] for p in register] == ["Approved one"]
    entry = register[0]
    assert entry["organisation"] == "University of Northbridge"
    assert [d["name"] for d in entry["datasets"]] == ["pupil_census", "justice_offences"]
    assert entry["approved"] is not None and entry["submitted"] is not None
    assert [(o["name"], o["request"]) for o in entry["released_outputs"]] == [
        ("by_area.csv", request_id)
    ]
    # nothing about people, and the whole register is plain JSON
    text = json.dumps(register)
    assert "ana" not in text.replace("Attainment", "").lower().split()
    assert "members" not in entry


def test_a_table_is_checked_as_it_is_added_and_flagged_cells_show_in_the_report(
    db: Session, one_owner: dict[str, User], application: Form
) -> None:
    project = _approved(db, one_owner, application())
    req = release.start_request(db, project, one_owner["ana"], "Offending")
    release.add_output(
        db, project, req.id, one_owner["ana"], "t", "d", FLAGGED_TABLE.encode(), "t.csv", "persons"
    )
    out = release.request_of(db, project, req.id).outputs[0]
    assert out.verdict == "suppress"
    small = [c for c in (out.check_report or {})["cells"] if c["status"] == "suppress"]
    assert {c["value"] for c in small} >= {2, 4, 7}
    assert all(c["safe_value"] is None for c in small)
    assert b",4," not in (out.content or b"")  # the safe version went in, not the original


def test_bad_output_input_names_the_field(
    db: Session, one_owner: dict[str, User], application: Form
) -> None:
    project = _approved(db, one_owner, application())
    req = release.start_request(db, project, one_owner["ana"], "Offending")
    with pytest.raises(apps.FormErrors) as caught:
        release.add_output(db, project, req.id, one_owner["ana"], "", " ", b"", "x.csv")
    assert set(caught.value.errors) == {"name", "description", "file"}
    with pytest.raises(apps.FormErrors) as caught:
        release.add_output(
            db, project, req.id, one_owner["ana"], "t", "d", FLAGGED_TABLE.encode(), "t.csv", "n"
        )
    assert "has no column 'n'" in caught.value.errors["value_column"]
    assert release.request_of(db, project, req.id).outputs == []


def test_only_members_of_an_approved_project_start_requests(
    db: Session, one_owner: dict[str, User], application: Form
) -> None:
    project = _approved(db, one_owner, application())
    with pytest.raises(PolicyRefusal, match="not a member"):
        release.start_request(db, project, one_owner["cat"], "Mine")
    draft = apps.save_draft(db, one_owner["ana"], application())
    with pytest.raises(PolicyRefusal, match="not approved"):
        release.start_request(db, draft, one_owner["ana"], "Too soon")
    other = _approved(db, one_owner, application(title="Other"))
    req = release.start_request(db, project, one_owner["ana"], "Mine")
    with pytest.raises(Exception, match="has no release request"):
        release.request_of(db, other, req.id)


def test_requests_wait_for_the_learning_plan(
    db: Session, one_owner: dict[str, User], application: Form, plan: Any
) -> None:
    project = _approved(db, one_owner, application())

    class Course:
        title = "Safe researcher induction"

    plan.outstanding = [Course()]
    with pytest.raises(PolicyRefusal, match=r"learning plan.*Safe researcher induction"):
        release.start_request(db, project, one_owner["ben"], "Too soon")
    with pytest.raises(PolicyRefusal, match="learning plan"):
        release.start_request(db, project, one_owner["ana"], "Too soon")
    # a lead researcher is a researcher to the learning plan
    assert plan.calls == [
        (one_owner["ben"].id, ["pupil_census", "justice_offences"], "researcher"),
        (one_owner["ana"].id, ["pupil_census", "justice_offences"], "researcher"),
    ]
    plan.outstanding = []
    assert release.start_request(db, project, one_owner["ana"], "Now").state == "draft"


def test_the_released_bundle_is_found_from_the_audit_log(
    db: Session, one_owner: dict[str, User], application: Form, tmp_path: Path
) -> None:
    project = _approved(db, one_owner, application())
    request_id = _release_flagged_table(db, one_owner, project, tmp_path)
    bundle = release.bundle_of(db, request_id)
    assert bundle == tmp_path / f"request-{request_id}.zip"
    assert release.released_outputs(db, project)[0]["name"] == "by_area.csv"
