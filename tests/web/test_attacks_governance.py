"""The governance attacks of issue 14 (findings 1 to 4), over HTTP, on the seeded
demo site: each is refused with a sentence and stores nothing (no member, no
invitation, no decision, nothing released), and what the web app refuses the
library refuses too.

1. A lead adds a roleless account, or any researcher, to an approved project.
2. An applicant lists the reviewers as members to stop them reviewing.
3. A data owner reads the applications for other owners' datasets.
4. A checker approves, joins the project, and a second approval releases it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from joining import accredit, approve_change, join
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes import audit
from fivesafes.appdb import add_user, session_factory
from fivesafes.appdb.models import Comment, ReleaseRequest, User, utcnow
from fivesafes.appdb.users import get_user, set_roles
from fivesafes.errors import PolicyRefusal
from fivesafes.jobs.models import Job
from fivesafes.outputs import airlock
from fivesafes.people import accreditation
from fivesafes.projects import applications as apps
from fivesafes.projects.models import (
    ProjectInvitation,
    ProjectInvitationReview,
    ProjectMember,
    ProjectReview,
)
from fivesafes.projects.release import BUNDLES_ENV
from fivesafes.web.security import hash_password

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


def _count(db: Session, model: type) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model)) or 0


def _account(db: Session, name: str, role: str, organisation: str = "Somewhere") -> User:
    user = add_user(db, name, role)
    user.email, user.password_hash = f"{name}@example.net", hash_password(f"{name}-pass-2026")
    user.organisation = organisation
    db.commit()
    return user


def _as(client: Any, name: str) -> Any:
    browser = client.fresh()
    browser.login(f"{name}@example.net", f"{name}-pass-2026")
    return browser


def _post(client: Any, path: str, data: dict[str, str], token_from: str = "/projects") -> Any:
    return client.post(
        path,
        data={**data, "csrf_token": client.csrf_token(token_from)},
        follow_redirects=False,
    )


# --- 1. members of an approved project ------------------------------------------------------


#: Every page of the seeded approved project that reaches its data or outputs, as
#: (method, path, form).
DATA_PAGES = [
    ("GET", f"/projects/{APPROVED}/workspace", None),
    ("GET", f"/projects/{APPROVED}/workspace/twin", None),
    ("GET", f"/projects/{APPROVED}/jobs", None),
    ("POST", f"/projects/{APPROVED}/jobs", {"title": "Mine"}),
    ("GET", f"/projects/{APPROVED}/airlock", None),
    ("POST", f"/projects/{APPROVED}/airlock", {"title": "Mine"}),
    ("GET", f"/projects/{APPROVED}/airlock/{SEEDED_REQUEST}", None),
    ("POST", f"/projects/{APPROVED}/airlock/{SEEDED_REQUEST}/submit", {}),
    ("POST", f"/projects/{APPROVED}/airlock/{SEEDED_REQUEST}/comment", {"body": "hello"}),
    ("GET", f"/projects/{APPROVED}/airlock/{SEEDED_REQUEST}/bundle", None),
]


@pytest.mark.parametrize("how", ["role", "expired", "revoked"])
def test_a_member_whose_role_or_accreditation_lapses_reaches_no_data_until_restored(
    client: Any, db: Session, how: str
) -> None:
    member = get_user(db, "researcher2")
    accredit(db, member)
    assert apps.is_member(db, APPROVED, member.id)
    assert apps.why_no_member_access(db, apps.get_project(db, APPROVED), member) is None
    me = client.login_as("researcher2")
    assert me.get(f"/projects/{APPROVED}/airlock").status_code == 200
    if how == "role":
        set_roles(db, member, {"trainer"}, "administrator")
    else:
        for held in accreditation.accreditations_of(db, member.id):
            if held.valid and how == "expired":
                held.row.expires_at = utcnow() - timedelta(days=1)
            elif held.valid:
                accreditation.revoke(db, held.row, "administrator", "left")
    db.commit()
    counts = {m: _count(db, m) for m in (ReleaseRequest, ProjectMember, Job, Comment)}
    for method, path, form in DATA_PAGES:
        before = audit.count(db)
        if method == "GET":
            response = me.get(path, follow_redirects=False)
        else:
            response = _post(me, path, form or {})
        assert response.status_code == 403, (path, response.status_code)
        assert "stays a member" in response.text, path
        assert "renew" in response.text or "grants it again" in response.text, path
        assert audit.count(db) == before + 1, path
        last = audit.entries(db, subject=f"project:{APPROVED}")[-1]
        assert (last.actor, last.action) == ("researcher2", "project.refused"), path
        assert audit.details_of(last)["attempted"] == f"{method} {path}"
    assert {m: _count(db, m) for m in counts} == counts
    # the airlock's front page lists none of the project's requests to them
    link = f"/projects/{APPROVED}/airlock/{SEEDED_REQUEST}"
    index = me.get("/airlock")
    assert index.status_code == (403 if how == "role" else 200)
    assert link not in index.text
    # still a member, who sees the project and their plan (to renew)
    assert apps.is_member(db, APPROVED, member.id)
    assert me.get(f"/projects/{APPROVED}").status_code == 200
    assert me.get(f"/learning/plan?project={APPROVED}").status_code == 200
    if how == "role":
        set_roles(db, member, {"researcher"}, "administrator")
    else:
        accreditation.grant(db, member.id, apps.MEMBER_ACCREDITATION)
    db.commit()
    assert me.get(f"/projects/{APPROVED}/airlock").status_code == 200
    assert "stays a member" not in me.get(f"/projects/{APPROVED}/workspace").text
    assert link in me.get("/airlock").text


def test_a_lead_cannot_add_a_roleless_account_or_make_a_researcher_a_member(
    client: Any, db: Session
) -> None:
    _account(db, "nobody", "trainer")  # registered, no researcher role
    newcomer = _account(db, "newbie", "researcher")
    accredit(db, newcomer)
    lead = client.login_as("researcher")
    page = f"/projects/{APPROVED}"
    before = (_count(db, ProjectMember), _count(db, ProjectInvitation))
    roleless = _post(lead, f"{page}/members", {"who": "nobody", "role": "researcher"}, page)
    assert roleless.status_code == 422 and "does not hold the researcher role" in roleless.text
    assert (_count(db, ProjectMember), _count(db, ProjectInvitation)) == before
    # the library says the same, whoever calls it
    with pytest.raises(apps.FormErrors, match="does not hold the researcher role"):
        apps.add_member(db, APPROVED, get_user(db, "researcher"), "nobody", "researcher")
    # a researcher is invited, and that is all: the approvers have not decided
    invited = _post(lead, f"{page}/members", {"who": "newbie", "role": "researcher"}, page)
    assert invited.status_code == 303
    inv = apps.open_invitation(db, APPROVED, newcomer.id)
    assert inv is not None and inv.approval == "needed"
    me = _as(client, "newbie")
    accepted = _post(me, f"/invitations/{inv.id}/accept", {}, f"/invitations/{inv.id}")
    assert accepted.status_code == 403 and "waits for the approval panel" in accepted.text
    for path in (
        page,
        f"{page}/airlock/{SEEDED_REQUEST}",
        f"{page}/airlock/{SEEDED_REQUEST}/bundle",
    ):
        assert me.get(path).status_code == 403, path
    assert _count(db, ProjectMember) == before[0]
    last = audit.entries(db, subject=f"project:{APPROVED}")[-1]
    assert (last.actor, last.action) == ("newbie", "project.refused")


def test_a_member_cannot_invite_and_an_invitation_is_only_its_invitees(
    client: Any, db: Session
) -> None:
    newcomer = _account(db, "newbie", "researcher")
    inv = apps.invite(db, APPROVED, get_user(db, "researcher"), "newbie", "researcher")
    approve_change(db, inv)
    accredit(db, newcomer)
    # researcher2, a member but not a lead, cannot invite; nor accept someone else's
    other = client.login_as("researcher2")
    page = f"/projects/{APPROVED}"
    assert (
        _post(other, f"{page}/members", {"who": "trainer", "role": "researcher"}, page).status_code
        == 403
    )
    for step in ("", "/accept", "/decline"):
        path = f"/invitations/{inv.id}{step}"
        response = other.get(path) if not step else _post(other, path, {})
        assert response.status_code == 403, path
    withdraw = _post(other, f"{page}/invitations/{inv.id}/withdraw", {}, page)
    assert withdraw.status_code == 403
    db.expire_all()
    assert apps.get_invitation(db, inv.id).state == "pending"
    assert not apps.is_member(db, APPROVED, newcomer.id)
    # the invitee accepts, on the web, and only then is a member
    me = _as(client, "newbie")
    assert f'href="/invitations/{inv.id}"' in me.get("/projects").text
    assert "Accept and join the project" in me.get(f"/invitations/{inv.id}").text
    # invited, they may read their learning plan for the project before accepting
    assert me.get(f"/learning/plan?project={APPROVED}").status_code == 200
    joined = _post(me, f"/invitations/{inv.id}/accept", {}, f"/invitations/{inv.id}")
    assert joined.status_code == 303
    assert apps.is_member(db, APPROVED, newcomer.id)


def test_a_panel_member_and_owners_decide_membership_changes_on_the_review_page(
    client: Any, db: Session
) -> None:
    _account(db, "newbie", "researcher")
    inv = apps.invite(db, APPROVED, get_user(db, "researcher"), "newbie", "researcher")
    review = f"/projects/{APPROVED}/review"
    # a member who is also on the panel does not decide it
    set_roles(db, get_user(db, "researcher2"), {"researcher", "panel_member"}, "administrator")
    db.commit()
    member = client.login_as("researcher2")
    assert member.get(review).status_code == 403
    refused = _post(
        member, f"{review}/invitations/{inv.id}", {"as": "panel:", "decision": "approve"}
    )
    assert refused.status_code == 403
    assert _count(db, ProjectInvitationReview) == 0
    panel = client.fresh().login_as("panel_member")
    no_reason = _post(
        panel, f"{review}/invitations/{inv.id}", {"as": "panel:", "decision": "reject"}, review
    )
    assert no_reason.status_code == 422 and "Say why" in no_reason.text
    assert _count(db, ProjectInvitationReview) == 0
    refuse = _post(
        panel,
        f"{review}/invitations/{inv.id}",
        {"as": "panel:", "decision": "reject", "comment": "Unknown to the panel"},
        review,
    )
    assert refuse.status_code == 303
    db.expire_all()
    assert apps.get_invitation(db, inv.id).state == "refused"


def test_the_approvers_set_a_rule_that_lets_the_lead_add_colleagues(
    client: Any, db: Session
) -> None:
    colleague = _account(db, "colleague", "researcher", "University of Northbridge")
    accredit(db, colleague)
    review = f"/projects/{APPROVED}/review"
    for key, deciding in (
        ("panel_member", "panel:"),
        *(
            ("data_owner", f"owner:{d}")
            for d in ("pupil_census", "justice_offences", "cla_episodes", "areas")
        ),
    ):
        approver = client.fresh().login_as(key)
        said = _post(
            approver,
            f"{review}/rules",
            {"rule": "same_organisation", "as": deciding, "allow": "yes"},
            review,
        )
        assert said.status_code == 303, said.text
    lead = client.login_as("researcher")
    page = f"/projects/{APPROVED}"
    added = _post(lead, f"{page}/members", {"who": "colleague", "role": "researcher"}, page)
    assert added.status_code == 303
    inv = apps.open_invitation(db, APPROVED, colleague.id)
    assert inv is not None and inv.approval == "by_rule"
    me = _as(client, "colleague")
    assert _post(me, f"/invitations/{inv.id}/accept", {}).status_code == 303
    assert apps.is_member(db, APPROVED, colleague.id)


# --- 2. consent: an application lists people, who are invited ------------------------------


def test_listing_the_reviewers_in_an_application_does_not_stop_them_reviewing(
    client: Any, db: Session
) -> None:
    panel_member, owner = get_user(db, "panel_member"), get_user(db, "data_owner")
    set_roles(db, panel_member, {"panel_member", "researcher"}, "administrator")
    set_roles(db, owner, {"data_owner", "researcher"}, "administrator")
    db.commit()
    accredit(db, panel_member)
    accredit(db, owner)
    lead = client.login_as("researcher")
    made = lead.post_form(
        "/projects/new",
        {
            "title": "Chosen reviewers",
            "lay_summary": "x",
            "public_benefit": "y",
            "organisation": "z",
            "datasets": "pupil_census",
            "members": "panel_member, researcher\ndata_owner, researcher",
        },
    )
    assert made.status_code == 303
    path = made.headers["location"]
    project_id = int(path.rsplit("/", 1)[1])
    project = apps.get_project(db, project_id)
    assert [m.user.name for m in project.members] == ["researcher"]
    assert {i.user.name for i in apps.open_invitations(project)} == {"panel_member", "data_owner"}
    assert lead.post_form(f"{path}/submit", token_from=path).status_code == 303
    for key, deciding in (("panel_member", "panel:"), ("data_owner", "owner:pupil_census")):
        reviewer = client.fresh().login_as(key)
        page = reviewer.get(f"{path}/review")
        assert page.status_code == 200 and "Record the decision" in page.text
        decided = _post(
            reviewer, f"{path}/review", {"as": deciding, "decision": "approve"}, f"{path}/review"
        )
        assert decided.status_code == 303
    assert apps.get_project(db, project_id).state == "approved"
    # having decided, neither joins it by accepting the invitation
    members = _count(db, ProjectMember)
    for key in ("panel_member", "data_owner"):
        inv = apps.open_invitation(db, project_id, get_user(db, key).id)
        assert inv is not None
        reviewer = client.fresh().login_as(key)
        assert "You cannot accept yet" in reviewer.get(f"/invitations/{inv.id}").text
        accepted = _post(reviewer, f"/invitations/{inv.id}/accept", {})
        assert accepted.status_code == 403 and "as a reviewer" in accepted.text
        declined = _post(reviewer, f"/invitations/{inv.id}/decline", {})
        assert declined.status_code == 303
    assert _count(db, ProjectMember) == members
    assert [m.user.name for m in apps.get_project(db, project_id).members] == ["researcher"]


# --- 3. reviewers see what they review -----------------------------------------------------


def test_a_data_owner_reads_only_the_applications_for_their_datasets(
    client: Any, db: Session
) -> None:
    _account(db, "owner2", "data_owner")
    admin = get_user(db, "administrator")
    apps.assign_owner(db, admin, "census_2021", "owner2")  # asked for by the pending project
    other = _account(db, "schools", "researcher")
    accredit(db, other)
    only_schools = apps.save_draft(
        db,
        other,
        apps.ApplicationInput(
            title="Schools only",
            lay_summary="x",
            public_benefit="y",
            organisation="z",
            datasets=["pupil_census"],
        ),
    )
    apps.submit(db, only_schools.id, other)
    me = _as(client, "owner2")
    before = audit.count(db)
    assert me.get(f"/projects/{PENDING}/review").status_code == 200
    for project_id in (APPROVED, only_schools.id):
        page = f"/projects/{project_id}/review"
        shown = me.get(page)
        assert shown.status_code == 403 and "asks for no dataset they own" in shown.text
        assert "Schools only" not in shown.text
        decided = _post(me, page, {"as": "owner:pupil_census", "decision": "approve"})
        assert decided.status_code == 403
    listing = me.get("/projects").text
    assert "Schools only" not in listing and f"/projects/{PENDING}/review" in listing
    db.expire_all()
    assert audit.count(db) == before  # refusals at the door write nothing
    assert (
        db.scalar(
            select(func.count())
            .select_from(ProjectReview)
            .where(ProjectReview.project_id == only_schools.id)
        )
        == 0
    )
    # the owner of the dataset and the panel do read it
    for key in ("data_owner", "panel_member"):
        assert (
            client.fresh().login_as(key).get(f"/projects/{only_schools.id}/review").status_code
            == 200
        )


# --- 4. a checker who joins --------------------------------------------------------------------


def test_a_checker_who_joins_the_project_cannot_make_the_second_approval_count(
    client: Any, db: Session, bundles: Path
) -> None:
    page = f"/airlock/requests/{SEEDED_REQUEST}"
    review = {"output": "offenders_by_area.csv", "decision": "approve"}
    first = client.login_as("output_checker")
    assert _post(first, f"{page}/review", review, page).status_code == 303
    # the checker then joins the project, by every rule (invited, approved, accepting)
    set_roles(db, get_user(db, "output_checker"), {"output_checker", "researcher"}, "administrator")
    db.commit()
    join(db, APPROVED, "output_checker")
    second = client.fresh().login_as("output_checker2")
    assert _post(second, f"{page}/review", review, page).status_code == 303
    db.expire_all()
    req = db.get(ReleaseRequest, SEEDED_REQUEST)
    assert req is not None and req.state == "in_review"
    assert airlock.output_status(req, req.outputs[0]).approvals == ("output_checker2",)
    assert not bundles.exists()
    # and the member checker can no longer review, return or release it
    for step, data in (("review", review), ("return", {"close_comment": "x"}), ("release", {})):
        response = _post(first, f"{page}/{step}", data, page)
        assert response.status_code == 403, step
        assert "can never review its requests" in response.text
    db.expire_all()
    assert db.get(ReleaseRequest, SEEDED_REQUEST).state == "in_review"  # type: ignore[union-attr]


def test_a_lead_whose_accreditation_lapsed_invites_nobody_until_renewed(
    client: Any, db: Session
) -> None:
    """A lead who no longer meets the membership rule is refused inviting, listing
    someone new in a draft and submitting it (403, the reason, ``project.refused``,
    nothing written), as the library refuses them; removing a member stays open."""
    lead, member = get_user(db, "researcher"), get_user(db, "researcher2")
    accredit(db, lead)
    accredit(db, _account(db, "newbie", "researcher"))
    form = {
        "title": "Attendance after moves",
        "lay_summary": "Whether moving school changes attendance.",
        "public_benefit": "Better support for pupils who move.",
        "organisation": "Northbridge",
        "members": "",
    }
    draft = apps.save_draft(
        db,
        lead,
        apps.ApplicationInput(**form, datasets=["pupil_census"]),  # type: ignore[arg-type]
    )
    for held in accreditation.accreditations_of(db, lead.id):
        if held.valid:
            held.row.expires_at = utcnow() - timedelta(days=1)
    db.commit()
    me = client.login_as("researcher")
    page, mine = f"/projects/{APPROVED}", f"/projects/{draft.id}"
    listed = {**form, "datasets": "pupil_census", "members": "newbie@example.net, researcher"}
    counts = {m: _count(db, m) for m in (ProjectMember, ProjectInvitation)}
    lapsed, invalid = "accreditation that expired on", "holds no valid safe researcher"
    for path, data, back, attempted, why in (
        (f"{page}/members", {"who": "newbie", "role": "researcher"}, page, "invite", lapsed),
        (f"{mine}/members", {"who": "newbie", "role": "researcher"}, mine, "invite", lapsed),
        (f"{mine}/edit", listed, f"{mine}/edit", "update", lapsed),
        (f"{mine}/submit", {}, mine, "submit", invalid),
    ):
        before = audit.count(db)
        response = _post(me, path, data, back)
        assert response.status_code == 403, path
        assert why in response.text, path
        assert audit.count(db) == before + 1, path
        last = audit.entries(db, action="project.refused")[-1]
        assert last.actor == "researcher" and audit.details_of(last)["attempted"] == attempted
    assert {m: _count(db, m) for m in counts} == counts
    db.expire_all()
    assert apps.get_project(db, draft.id).state == "draft"
    # the library refuses the same, whoever calls it
    with pytest.raises(PolicyRefusal, match="invites nobody"):
        apps.invite(db, APPROVED, lead, "newbie", "researcher")
    # removing a member stays open to them
    removed = _post(me, f"{page}/members/{member.id}/remove", {}, page)
    assert removed.status_code == 303
    assert not apps.is_member(db, APPROVED, member.id)
    # renewed, they invite again
    accreditation.grant(db, lead.id, apps.MEMBER_ACCREDITATION)
    db.commit()
    invited = _post(me, f"{page}/members", {"who": "newbie", "role": "researcher"}, page)
    assert invited.status_code == 303
    assert apps.open_invitation(db, APPROVED, get_user(db, "newbie").id) is not None


def _expire_accreditation(db: Session, user: User) -> None:
    for held in accreditation.accreditations_of(db, user.id):
        if held.valid:
            held.row.expires_at = utcnow() - timedelta(days=1)
    db.commit()


def test_a_lapsed_leads_project_page_says_why_instead_of_offering_what_would_be_refused(
    client: Any, db: Session
) -> None:
    """The page of a lead who no longer meets the membership rule shows, in place of
    the invitation form, the submit button and the workspace links (each refused on
    use), a notice with the library's reason and a link to renew on their learning
    plan; removing a member and withdrawing an invitation stay on it. In good
    standing, the same lead sees the form and the links again."""
    lead = get_user(db, "researcher")
    accredit(db, lead)
    newbie = _account(db, "newbie", "researcher")
    inv = apps.invite(db, APPROVED, lead, "newbie", "researcher")
    draft = apps.save_draft(
        db,
        lead,
        apps.ApplicationInput(  # type: ignore[arg-type]
            title="Attendance after moves",
            lay_summary="Whether moving school changes attendance.",
            public_benefit="Better support for pupils who move.",
            organisation="Northbridge",
            members="",
            datasets=["pupil_census"],
        ),
    )
    me = client.login_as("researcher")
    page, mine = f"/projects/{APPROVED}", f"/projects/{draft.id}"
    form = f'action="{page}/members"'
    workspace = f'href="{page}/workspace"'
    submit = f'action="{mine}/submit"'
    good = me.get(page).text
    assert form in good and workspace in good and 'id="cannot-invite"' not in good
    assert 'id="no-access"' not in good
    assert submit in me.get(mine).text

    _expire_accreditation(db, lead)
    shown = me.get(page)
    assert shown.status_code == 200
    text = shown.text
    assert form not in text and workspace not in text
    assert f'href="{page}/airlock"' not in text
    assert 'id="cannot-invite"' in text and 'id="no-access"' in text
    assert "You cannot invite anyone or change anyone" in text
    assert "accreditation that expired on" in text  # why_cannot_manage's reason
    assert "invites nobody" in text and "stays a member" in text
    assert f'href="/learning/plan?project={APPROVED}"' in text
    # what stays open to them is still offered, and works
    member = get_user(db, "researcher2")
    assert f'action="{page}/members/{member.id}/remove"' in text
    assert f'action="{page}/invitations/{inv.id}/withdraw"' in text
    # the draft: no submit button, the reason instead; the edit page warns too
    draft_page = me.get(mine).text
    assert submit not in draft_page and 'id="cannot-submit"' in draft_page
    assert "cannot be submitted" in draft_page
    assert f'action="{mine}/members"' not in draft_page
    edit = me.get(f"{mine}/edit").text
    assert 'id="cannot-invite"' in edit and "invites nobody" in edit
    # in Welsh: the notice is translated, the library's reason marked as English
    welsh = me.get(page, headers={"Accept-Language": "cy"}).text
    assert "Ni allwch wahodd neb na newid rôl neb yn y prosiect" in welsh
    assert '<p lang="en">' in welsh
    withdrawn = _post(me, f"{page}/invitations/{inv.id}/withdraw", {}, page)
    assert withdrawn.status_code == 303
    db.expire_all()
    assert apps.get_invitation(db, inv.id).state == "withdrawn"
    assert not apps.is_member(db, APPROVED, newbie.id)

    accreditation.grant(db, lead.id, apps.MEMBER_ACCREDITATION)
    db.commit()
    again = me.get(page).text
    assert form in again and workspace in again and 'id="cannot-invite"' not in again
    assert submit in me.get(mine).text


def test_a_lapsed_member_who_does_not_lead_is_told_why_the_workspace_is_closed(
    client: Any, db: Session
) -> None:
    member = get_user(db, "researcher2")
    accredit(db, member)
    me = client.login_as("researcher2")
    page = f"/projects/{APPROVED}"
    assert f'href="{page}/workspace"' in me.get(page).text
    _expire_accreditation(db, member)
    text = me.get(page).text
    assert f'href="{page}/workspace"' not in text and 'id="no-access"' in text
    assert "workspace, jobs and outputs are closed to them" in text
    assert f'href="/learning/plan?project={APPROVED}"' in text
    # not a lead: no invitation form, and no notice about inviting either
    assert f'action="{page}/members"' not in text and 'id="cannot-invite"' not in text
