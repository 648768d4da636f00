"""Safe projects in the browser (HTTP, no browser): the public register, members
only on a project's pages, the application form (errors kept, nothing
half-saved), review by the panel and the dataset owners, the workspace refused
until the learning plan is complete, CSRF."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes.appdb import add_user, session_factory
from fivesafes.demo.projects import APPROVED_TITLE, PENDING_TITLE
from fivesafes.projects import applications as apps
from fivesafes.projects.models import Project, ProjectMember
from fivesafes.web.security import hash_password

APPROVED, PENDING = 1, 2


@pytest.fixture
def db(seeded_db: str) -> Iterator[Session]:
    with session_factory(seeded_db)() as session:
        yield session


def _count(db: Session, model: Any) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_the_public_register_lists_approved_projects_as_html_and_json(client: Any) -> None:
    page = client.get("/projects/public")
    assert page.status_code == 200
    assert APPROVED_TITLE in page.text
    assert PENDING_TITLE not in page.text
    data = client.get("/projects/public.json").json()
    [entry] = data["projects"]
    assert entry["title"] == APPROVED_TITLE
    assert entry["organisation"] == "University of Northbridge"
    assert [d["name"] for d in entry["datasets"]] == [
        "pupil_census",
        "justice_offences",
        "cla_episodes",
        "areas",
    ]
    assert entry["approved"] and entry["submitted"]
    assert entry["released_outputs"] == []


def test_a_projects_pages_are_for_its_members(client: Any) -> None:
    visitor = client.get(f"/projects/{APPROVED}", follow_redirects=False)
    assert visitor.status_code == 303
    assert visitor.headers["location"].startswith("/login")
    client.login_as("researcher")  # lead researcher of the approved project
    assert client.get(f"/projects/{APPROVED}").status_code == 200
    assert client.get(f"/projects/{APPROVED}/workspace").status_code == 200
    # researcher2 applied for the pending one and is a member of the approved one
    assert client.get(f"/projects/{PENDING}").status_code == 403
    assert client.get("/projects/999").status_code == 404
    checker = client.fresh().login_as("output_checker")
    for path in ("", "/workspace", "/airlock", "/edit"):
        assert checker.get(f"/projects/{APPROVED}{path}").status_code == 403, path
    admin = client.fresh().login_as("administrator")
    assert admin.get(f"/projects/{PENDING}").status_code == 200


def test_the_application_form_keeps_input_and_saves_nothing_on_error(
    client: Any, db: Session
) -> None:
    client.login_as("researcher")
    before = (_count(db, Project), _count(db, ProjectMember))
    bad = client.post_form(
        "/projects/new",
        {
            "title": "Housing and school moves",
            "lay_summary": "",
            "public_benefit": "Better planning",
            "organisation": "Uni",
            "datasets": ["pupil_census"],
            "members": "nobody-here, researcher",
        },
    )
    assert bad.status_code == 422
    assert "There is a problem" in bad.text
    assert 'href="#lay_summary"' in bad.text and 'href="#members"' in bad.text
    assert 'aria-invalid="true"' in bad.text
    assert 'value="Housing and school moves"' in bad.text
    assert "nobody-here, researcher</textarea>" in bad.text
    assert 'value="pupil_census" checked' in bad.text
    assert (_count(db, Project), _count(db, ProjectMember)) == before


def test_apply_submit_and_approval_by_panel_and_owner(client: Any, db: Session) -> None:
    client.login_as("researcher")
    created = client.post_form(
        "/projects/new",
        {
            "title": "Care histories and hospital admissions",
            "lay_summary": "Whether children who were looked after are admitted more often.",
            "public_benefit": "Better health services for care leavers.",
            "organisation": "University of Northbridge",
            "datasets": ["cla_episodes", "hospital_admissions"],
            "members": "researcher2@example.org, researcher",
        },
    )
    assert created.status_code == 303
    path = created.headers["location"]
    project_id = int(path.rsplit("/", 1)[1])
    assert client.post_form(f"{path}/submit", token_from=path).status_code == 303

    # a member cannot review it, whatever page they reach
    panel = client.fresh().login_as("panel_member")
    owner = client.fresh().login_as("data_owner")
    assert client.get(f"{path}/review").status_code == 403  # researchers hold neither role
    page = panel.get(f"{path}/review")
    assert page.status_code == 200 and "As the approval panel" in page.text
    no_reason = panel.post_form(f"{path}/review", {"as": "panel:", "decision": "reject"})
    assert no_reason.status_code == 422 and "Say why" in no_reason.text
    assert (
        panel.post_form(f"{path}/review", {"as": "panel:", "decision": "approve"}).status_code
        == 303
    )
    for dataset in ("cla_episodes", "hospital_admissions"):
        done = owner.post_form(f"{path}/review", {"as": f"owner:{dataset}", "decision": "approve"})
        assert done.status_code == 303
    project = apps.get_project(db, project_id)
    assert project.state == "approved"
    assert project.provisioning == "awaiting"
    shown = client.get(path)
    assert "Awaiting provisioning" in shown.text
    register = client.get("/projects/public.json").json()["projects"]
    assert "Care histories and hospital admissions" in [p["title"] for p in register]
    # the owner of a dataset cannot decide for another dataset's owner
    again = owner.post_form(f"{path}/review", {"as": "panel:", "decision": "approve"})
    assert again.status_code == 403


def test_state_changes_need_a_csrf_token(client: Any, db: Session) -> None:
    client.login_as("researcher")
    before = _count(db, Project)
    response = client.post(
        "/projects/new",
        data={
            "title": "t",
            "lay_summary": "l",
            "public_benefit": "p",
            "organisation": "o",
            "datasets": "pupil_census",
        },
        follow_redirects=False,
    )
    assert response.status_code == 403
    member = client.post(
        f"/projects/{APPROVED}/members", data={"who": "trainer", "role": "researcher"}
    )
    assert member.status_code == 403
    assert _count(db, Project) == before
    trainer = apps.find_person(db, "trainer")
    assert trainer is not None and not apps.is_member(db, APPROVED, trainer.id)


def test_a_lead_invites_the_approvers_decide_the_invitee_accepts_and_waits_for_their_plan(
    client: Any, db: Session
) -> None:
    from joining import accredit

    newcomer = add_user(db, "newcomer", "researcher")
    newcomer.email = "newcomer@example.org"
    newcomer.password_hash = hash_password("newcomer-pass-2026")
    db.commit()
    lead = client.login_as("researcher")
    bad = lead.post_form(f"/projects/{APPROVED}/members", {"who": "nobody", "role": "researcher"})
    assert bad.status_code == 422 and "Nobody is registered" in bad.text
    added = lead.post_form(
        f"/projects/{APPROVED}/members", {"who": "newcomer@example.org", "role": "researcher"}
    )
    assert added.status_code == 303
    assert not apps.is_member(db, APPROVED, newcomer.id)  # invited, not a member
    shown = lead.get(f"/projects/{APPROVED}")
    assert "Invited, not yet members" in shown.text and "newcomer" in shown.text
    assert "Waiting for the approval panel and the dataset owners" in shown.text
    # researcher2 is a member but not a lead
    other = client.fresh().login_as("researcher2")
    refused = other.post_form(
        f"/projects/{APPROVED}/members",
        {"who": "trainer", "role": "researcher"},
        token_from=f"/projects/{APPROVED}",
    )
    assert refused.status_code == 403

    # the newcomer sees the invitation but cannot accept before the approvers decide
    newbie = client.fresh()
    newbie.login("newcomer@example.org", "newcomer-pass-2026")
    db.expire_all()
    inv = apps.open_invitation(db, APPROVED, newcomer.id)
    assert inv is not None and inv.approval == "needed"
    assert f'href="/invitations/{inv.id}"' in newbie.get("/projects").text
    page = f"/invitations/{inv.id}"
    assert "waits for the approval panel" in newbie.get(page).text
    early = newbie.post_form(f"{page}/accept", token_from=page)
    assert early.status_code == 403 and "waits for the approval panel" in early.text
    assert not apps.is_member(db, APPROVED, newcomer.id)

    # the panel and the data owner see the change and approve it
    review = f"/projects/{APPROVED}/review"
    for key, deciding in (("panel_member", "panel:"), ("data_owner", "owner:pupil_census")):
        approver = client.fresh().login_as(key)
        listed = approver.get("/projects").text
        assert f"/projects/{APPROVED}/review#change-{inv.id}" in listed
        assert f'id="change-{inv.id}"' in approver.get(review).text
        decided = approver.post_form(
            f"{review}/invitations/{inv.id}",
            {"as": deciding, "decision": "approve"},
            token_from=review,
        )
        assert decided.status_code == 303, decided.text
    owner = client.fresh().login_as("data_owner")
    for dataset in ("justice_offences", "cla_episodes", "areas"):  # each dataset's owner
        last = owner.post_form(
            f"{review}/invitations/{inv.id}",
            {"as": f"owner:{dataset}", "decision": "approve"},
            token_from=review,
        )
        assert last.status_code == 303
    db.expire_all()
    assert apps.get_invitation(db, inv.id).approval == "approved"

    # without an accreditation the newcomer still cannot accept; with one, they join
    refused_join = newbie.post_form(f"{page}/accept", token_from=page)
    assert refused_join.status_code == 403 and "accreditation" in refused_join.text
    accredit(db, newcomer)
    joined = newbie.post_form(f"{page}/accept", token_from=page)
    assert joined.status_code == 303
    assert apps.is_member(db, APPROVED, newcomer.id)

    # the learning platform says what the newcomer must still pass
    db.expire_all()
    outstanding = apps.outstanding_courses(db, apps.get_project(db, APPROVED), newcomer)
    assert outstanding, "a newcomer has courses to pass"
    page = newbie.get(f"/projects/{APPROVED}/workspace")
    assert page.status_code == 403
    assert "Complete your learning plan first" in page.text
    assert f'href="/learning/plan?project={APPROVED}"' in page.text
    assert outstanding[0].title in page.text
    request = newbie.post_form(
        f"/projects/{APPROVED}/airlock",
        {"title": "Too soon"},
        token_from=f"/projects/{APPROVED}/airlock",
    )
    assert request.status_code == 403 and "learning plan" in request.text


def test_administrators_assign_dataset_owners(client: Any, db: Session) -> None:
    assert client.fresh().login_as("researcher").get("/projects/dataset-owners").status_code == 403
    admin = client.login_as("administrator")
    bad = admin.post_form("/projects/dataset-owners", {"dataset": "areas", "who": "researcher"})
    assert bad.status_code == 422 and "data owner role" in bad.text
    ok = admin.post_form("/projects/dataset-owners", {"dataset": "areas", "who": "data_owner"})
    assert ok.status_code == 303
    owner = apps.owner_of(db, "areas")
    assert owner is not None and owner.name == "data_owner"
