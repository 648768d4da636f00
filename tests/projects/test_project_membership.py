"""Who becomes a member, and who reviews what (issue 14, findings 1 to 4), as the
library enforces it whoever calls:

1. joining an approved project is a membership change the approval panel and the
   owner of every dataset of the project decide (or a rule they all set allows),
   and only a holder of the researcher role with a valid accreditation joins;
2. a person becomes a member only by accepting an invitation, so an applicant
   cannot choose who reviews by listing them (an invitation pending does not
   disqualify a reviewer, and a reviewer never joins what they decided on);
3. a reviewer reads only the applications they review;
4. a checker's approval stops counting when they join the project, up to the
   release itself.

Each attack is refused with a sentence, writes ``project.refused`` (or
``airlock.refused``) to the audit log, and leaves nothing else stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from fivesafes import audit, jobs
from fivesafes.appdb import add_user
from fivesafes.appdb.models import ReleaseRequest, RequestOutput, User, utcnow
from fivesafes.appdb.users import set_roles
from fivesafes.cli.main import app as cli
from fivesafes.demo.projects import FLAGGED_TABLE
from fivesafes.errors import PolicyRefusal
from fivesafes.jobs.models import Job
from fivesafes.jobs.queue import claim_next
from fivesafes.outputs import airlock
from fivesafes.people import accreditation
from fivesafes.projects import applications as apps
from fivesafes.projects import release
from fivesafes.projects.models import Project, ProjectInvitation, ProjectMember

Form = Callable[..., apps.ApplicationInput]


def _approved(db: Session, people: dict[str, User], form: apps.ApplicationInput) -> Project:
    """ana's project (ben a member, having accepted), approved by pat, olly and oona."""
    project = apps.save_draft(db, people["ana"], form)
    for inv in apps.open_invitations(project):
        apps.answer_invitation(db, inv.id, inv.user, accept=True)
    apps.submit(db, project.id, people["ana"])
    apps.review(db, project.id, people["pat"], "panel", "approve")
    apps.review(db, project.id, people["olly"], "owner", "approve", dataset="pupil_census")
    apps.review(db, project.id, people["oona"], "owner", "approve", dataset="justice_offences")
    project = apps.get_project(db, project.id)
    assert project.state == "approved"
    return project


def _members(db: Session, project: Project) -> set[str]:
    db.expire_all()
    return {m.user.name for m in apps.get_project(db, project.id).members}


def _count(db: Session, model: type) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model)) or 0


def _refusals(db: Session, project: Project) -> int:
    return len(audit.entries(db, subject=f"project:{project.id}", action="project.refused"))


def _researcher(db: Session, user: User, *roles: str) -> None:
    """Give ``user`` the researcher role (besides ``roles``) and an accreditation."""
    set_roles(db, user, {"researcher", *roles}, "adam")
    accreditation.grant(db, user.id, apps.MEMBER_ACCREDITATION)
    db.commit()


# --- 1. joining an approved project ---------------------------------------------------------


def test_joining_an_approved_project_waits_for_the_panel_and_every_owner(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    project = _approved(db, owned, application())
    inv = apps.add_member(db, project.id, owned["ana"], "cat", "researcher")
    assert (inv.state, inv.approval) == ("pending", "needed")
    # the attack: the lead's word alone makes nobody a member
    refused = _refusals(db, project)
    with pytest.raises(PolicyRefusal, match="waits for the approval panel and the owners"):
        apps.answer_invitation(db, inv.id, owned["cat"], accept=True)
    assert _members(db, project) == {"ana", "ben"}
    assert _refusals(db, project) == refused + 1
    # the approvers see it, and decide
    assert [(i.id, k, d) for i, k, d in apps.membership_changes_for(db, owned["pat"])] == [
        (inv.id, "panel", None)
    ]
    assert [(k, d) for _, k, d in apps.membership_changes_for(db, owned["oona"])] == [
        ("owner", "justice_offences")
    ]
    assert apps.membership_changes_for(db, owned["ben"]) == []  # a member decides nothing
    apps.review_invitation(db, inv.id, owned["pat"], "panel", "approve")
    apps.review_invitation(db, inv.id, owned["olly"], "owner", "approve", dataset="pupil_census")
    with pytest.raises(PolicyRefusal, match="waits for the approval panel"):
        apps.answer_invitation(db, inv.id, owned["cat"], accept=True)
    assert apps.invitation_status(db, apps.get_invitation(db, inv.id)).missing == [
        "the approval of justice_offences by its owner oona"
    ]
    apps.review_invitation(
        db, inv.id, owned["oona"], "owner", "approve", dataset="justice_offences"
    )
    assert apps.get_invitation(db, inv.id).approval == "approved"
    apps.answer_invitation(db, inv.id, owned["cat"], accept=True)
    assert _members(db, project) == {"ana", "ben", "cat"}
    actions = [e.action for e in audit.entries(db, subject=f"project:{project.id}")]
    assert actions[actions.index("project.invite") :] == [
        "project.invite",
        "project.refused",
        "project.invitation_review",
        "project.invitation_review",
        "project.refused",
        "project.invitation_review",
        "project.invitation_approve",
        "project.member_add",
    ]


def test_one_approver_refusing_closes_the_membership_change(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    project = _approved(db, owned, application())
    inv = apps.add_member(db, project.id, owned["ana"], "cat", "lead_researcher")
    with pytest.raises(apps.FormErrors, match="comment"):
        apps.review_invitation(
            db, inv.id, owned["oona"], "owner", "reject", dataset="justice_offences"
        )
    apps.review_invitation(
        db, inv.id, owned["oona"], "owner", "reject", "Not trained", dataset="justice_offences"
    )
    inv = apps.get_invitation(db, inv.id)
    assert (inv.state, inv.approval) == ("refused", "rejected")
    with pytest.raises(PolicyRefusal, match="refused"):
        apps.answer_invitation(db, inv.id, owned["cat"], accept=True)
    with pytest.raises(PolicyRefusal, match="does not wait for a decision"):
        apps.review_invitation(db, inv.id, owned["pat"], "panel", "approve")
    assert _members(db, project) == {"ana", "ben"}


def test_nobody_decides_on_a_change_they_are_part_of_or_have_no_say_in(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    project = _approved(db, owned, application())
    _researcher(db, owned["pia"], "panel_member")  # a panel member, invited herself
    inv = apps.add_member(db, project.id, owned["ana"], "pia", "researcher")
    before = _count(db, ProjectInvitation)
    for who, kind, dataset, why in (
        ("pia", "panel", None, "the person invited"),
        ("ben", "panel", None, "a member"),
        ("cat", "panel", None, "approval panel"),
        ("pat", "owner", "pupil_census", "not the owner of pupil_census"),
        ("olly", "owner", "census_2021", "did not request"),
    ):
        with pytest.raises(PolicyRefusal, match=why):
            apps.review_invitation(db, inv.id, owned[who], kind, "approve", dataset=dataset)
    assert apps.get_invitation(db, inv.id).reviews == []
    assert _count(db, ProjectInvitation) == before


def test_only_an_accredited_researcher_is_invited_or_joins(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    project = _approved(db, owned, application())
    add_user(db, "tom", "trainer")  # a registered account without the researcher role
    invitations = _count(db, ProjectInvitation)
    for who, why in (
        ("tom", "does not hold the researcher role"),
        ("adam", "does not hold the researcher role"),  # an administrator is not one
        ("cy", "does not hold the researcher role"),
    ):
        with pytest.raises(apps.FormErrors, match=why):
            apps.add_member(db, project.id, owned["ana"], who, "researcher")
        with pytest.raises(apps.FormErrors, match=why):
            apps.save_draft(db, owned["ana"], application(members=f"{who}, researcher"))
    assert _count(db, ProjectInvitation) == invitations
    # rex holds the role but no accreditation: invited, approved, and still refused
    inv = apps.add_member(db, project.id, owned["ana"], "rex", "researcher")
    apps.review_invitation(db, inv.id, owned["pat"], "panel", "approve")
    for dataset, owner in (("pupil_census", "olly"), ("justice_offences", "oona")):
        apps.review_invitation(db, inv.id, owned[owner], "owner", "approve", dataset=dataset)
    with pytest.raises(PolicyRefusal, match="no valid safe researcher accreditation"):
        apps.answer_invitation(db, inv.id, owned["rex"], accept=True)
    assert "rex" not in _members(db, project)
    accreditation.grant(db, owned["rex"].id, apps.MEMBER_ACCREDITATION)
    db.commit()
    apps.answer_invitation(db, inv.id, owned["rex"], accept=True)
    assert "rex" in _members(db, project)


def test_an_application_is_submitted_only_with_accredited_members(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    project = apps.save_draft(db, owned["rex"], application(members=""))
    with pytest.raises(PolicyRefusal, match="rex holds no valid safe researcher"):
        apps.submit(db, project.id, owned["rex"])
    assert apps.get_project(db, project.id).state == "draft"
    # and an invitee without one cannot join the draft either
    draft = apps.save_draft(db, owned["ana"], application(members="rex"))
    [inv] = apps.open_invitations(draft)
    with pytest.raises(PolicyRefusal, match="accreditation"):
        apps.answer_invitation(db, inv.id, owned["rex"], accept=True)
    assert _members(db, draft) == {"ana"}


def test_a_rule_the_approvers_all_set_lets_the_lead_add_colleagues(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    project = _approved(db, owned, application())
    for name in ("cat", "rex"):
        owned[name].organisation = "University of Northbridge"  # the project's
    accreditation.grant(db, owned["rex"].id, apps.MEMBER_ACCREDITATION)
    db.commit()
    rule = "same_organisation"
    with pytest.raises(PolicyRefusal, match="a member"):
        apps.set_rule(db, project.id, owned["ben"], "panel", rule, True)
    apps.set_rule(db, project.id, owned["pat"], "panel", rule, True)
    apps.set_rule(db, project.id, owned["olly"], "owner", rule, True, dataset="pupil_census")
    assert apps.rules_in_force(db, apps.get_project(db, project.id)) == set()  # oona has not
    first = apps.add_member(db, project.id, owned["ana"], "cat", "researcher")
    assert first.approval == "needed"
    apps.withdraw_invitation(db, first.id, owned["ana"])
    apps.set_rule(db, project.id, owned["oona"], "owner", rule, True, dataset="justice_offences")
    assert apps.rules_in_force(db, apps.get_project(db, project.id)) == {rule}
    colleague = apps.add_member(db, project.id, owned["ana"], "cat", "researcher")
    assert (colleague.approval, colleague.rule) == ("by_rule", rule)
    apps.answer_invitation(db, colleague.id, owned["cat"], accept=True)
    assert "cat" in _members(db, project)
    # the rule is for researchers of the organisation, not for leads, nor others
    lead = apps.add_member(db, project.id, owned["ana"], "rex", "lead_researcher")
    assert lead.approval == "needed"
    apps.withdraw_invitation(db, lead.id, owned["ana"])
    owned["rex"].organisation = "Elsewhere"
    db.commit()
    assert apps.add_member(db, project.id, owned["ana"], "rex", "researcher").approval == "needed"
    # one owner withdrawing their allowance ends the rule
    apps.set_rule(db, project.id, owned["oona"], "owner", rule, False, dataset="justice_offences")
    assert apps.rules_in_force(db, apps.get_project(db, project.id)) == set()


# --- 2. consent: an invitation, accepted -----------------------------------------------------


def test_an_applicant_cannot_choose_who_reviews_by_listing_them(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    # pat (the panel) and oona (justice_offences' owner) hold the researcher role too
    _researcher(db, owned["pat"], "panel_member")
    _researcher(db, owned["oona"], "data_owner")
    project = apps.save_draft(db, owned["ana"], application(members="pat\noona\nben"))
    assert _members(db, project) == {"ana"}
    assert {i.user.name for i in apps.open_invitations(project)} == {"pat", "oona", "ben"}
    apps.submit(db, project.id, owned["ana"])
    # an invitation pending does not disqualify a reviewer
    assert apps.review_access(db, project, owned["pat"]) is None
    assert ("panel", None) in [(k, d) for p, k, d in apps.reviewable_by(db, owned["pat"])]
    # nobody joins while it is under review
    [ben] = [i for i in apps.open_invitations(project) if i.user.name == "ben"]
    with pytest.raises(PolicyRefusal, match="under review"):
        apps.answer_invitation(db, ben.id, owned["ben"], accept=True)
    apps.review(db, project.id, owned["pat"], "panel", "approve")
    apps.review(db, project.id, owned["olly"], "owner", "approve", dataset="pupil_census")
    apps.review(db, project.id, owned["oona"], "owner", "approve", dataset="justice_offences")
    assert apps.get_project(db, project.id).state == "approved"
    # having decided on it, the reviewers never join it
    for name in ("pat", "oona"):
        [inv] = [i for i in apps.open_invitations(project) if i.user.name == name]
        with pytest.raises(PolicyRefusal, match=r"decided on project .* as a reviewer"):
            apps.answer_invitation(db, inv.id, owned[name], accept=True)
    # the others' invitations were seen with the application: accepted now, they join
    apps.answer_invitation(db, ben.id, owned["ben"], accept=True)
    assert _members(db, project) == {"ana", "ben"}


# --- 3. reviewers see what they review ---------------------------------------------------------


def test_a_reviewer_reads_only_the_applications_they_review(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    apps.assign_owner(db, owned["adam"], "census_2021", "oona")
    census = apps.save_draft(db, owned["ana"], application(datasets=["census_2021"], members=""))
    schools = apps.save_draft(db, owned["ana"], application(datasets=["pupil_census"]))
    draft = apps.save_draft(db, owned["cat"], application(members=""))
    for p in (census, schools):
        apps.submit(db, p.id, owned["ana"])
    census, schools = apps.get_project(db, census.id), apps.get_project(db, schools.id)
    # a data owner: the applications that ask for a dataset they own
    assert apps.review_access(db, schools, owned["olly"]) is None
    assert "asks for no dataset they own" in str(apps.review_access(db, census, owned["olly"]))
    assert apps.review_access(db, census, owned["oona"]) is None
    assert "asks for no dataset" in str(apps.review_access(db, schools, owned["oona"]))
    # the panel (there is one): every application before it; an administrator: all
    for p in (census, schools):
        assert apps.review_access(db, p, owned["pat"]) is None
        assert apps.review_access(db, p, owned["adam"]) is None
        assert apps.review_access(db, p, owned["cy"]) is not None  # a checker reviews none
    # nobody reads a draft's review, nor their own application's
    assert "draft" in str(apps.review_access(db, draft, owned["pat"]))
    assert "applied for" in str(apps.review_access(db, census, owned["ana"]))
    # an owner who decided keeps reading their decision when ownership moves on
    apps.review(db, schools.id, owned["olly"], "owner", "approve", dataset="pupil_census")
    apps.assign_owner(db, owned["adam"], "pupil_census", "oona")
    assert apps.review_access(db, apps.get_project(db, schools.id), owned["olly"]) is None


# --- 4. an approval stops counting when its checker joins ---------------------------------------


@pytest.fixture
def checked_request(db: Session, owned: dict[str, User], application: Form) -> tuple[Project, int]:
    """The approved project and a submitted request with a flagged table (two
    approvals needed)."""
    project = _approved(db, owned, application())
    req = release.start_request(db, project, owned["ana"], "Offending by area")
    release.add_output(
        db,
        project,
        req.id,
        owned["ana"],
        "by_area.csv",
        "Persons by area",
        FLAGGED_TABLE.encode(),
        "by_area.csv",
        value_column="persons",
    )
    release.submit_request(db, project, req.id, owned["ana"])
    add_user(db, "ed", "output_checker")
    return project, req.id


def _join(db: Session, people: dict[str, User], project: Project, name: str) -> None:
    _researcher(db, people[name], "output_checker")
    inv = apps.add_member(db, project.id, people["ana"], name, "researcher")
    apps.review_invitation(db, inv.id, people["pat"], "panel", "approve")
    for dataset, owner in (("pupil_census", "olly"), ("justice_offences", "oona")):
        apps.review_invitation(db, inv.id, people[owner], "owner", "approve", dataset=dataset)
    apps.answer_invitation(db, inv.id, people[name], accept=True)


def test_a_checker_who_joins_no_longer_counts_and_is_refused(
    db: Session, owned: dict[str, User], checked_request: tuple[Project, int]
) -> None:
    project, rid = checked_request
    airlock.start_review(db, rid, "cy")
    airlock.review(db, rid, "by_area.csv", "cy", "approve")
    _join(db, owned, project, "cy")
    airlock.review(db, rid, "by_area.csv", "di", "approve")  # would have been the second
    req = db.get(ReleaseRequest, rid)
    assert req is not None and req.state == "in_review"
    assert airlock.review_status(req)[0].approvals == ("di",)
    with pytest.raises(PolicyRefusal, match=r"member of project .* can never review"):
        airlock.review(db, rid, "by_area.csv", "cy", "approve")
    assert audit.entries(db, subject=f"request:{rid}")[-1].action == "airlock.refused"


def test_an_approval_stops_counting_at_release_when_its_checker_joined(
    db: Session, owned: dict[str, User], checked_request: tuple[Project, int], tmp_path: Path
) -> None:
    project, rid = checked_request
    bundles = tmp_path / "bundles"
    airlock.start_review(db, rid, "cy")
    airlock.review(db, rid, "by_area.csv", "cy", "approve")
    airlock.review(db, rid, "by_area.csv", "di", "approve")
    assert db.get(ReleaseRequest, rid).state == "approved"  # type: ignore[union-attr]
    _join(db, owned, project, "cy")  # the checker then joins the project
    members = _count(db, ProjectMember)
    with pytest.raises(PolicyRefusal, match=r"no longer approved: by_area.csv \(1 of 2"):
        airlock.release(db, rid, "di", bundles)
    db.expire_all()
    req = db.get(ReleaseRequest, rid)
    assert req is not None and req.state == "in_review"  # back to the checkers
    assert not bundles.exists() and release.bundle_of(db, rid) is None
    assert audit.entries(db, subject=f"request:{rid}", action="airlock.release") == []
    assert _count(db, ProjectMember) == members
    # a member cannot release it either; another independent checker can approve it
    with pytest.raises(PolicyRefusal, match="member of project"):
        airlock.release(db, rid, "cy", bundles)
    airlock.review(db, rid, "by_area.csv", "ed", "approve")
    assert airlock.release(db, rid, "di", bundles).exists()


def test_a_pending_invitation_does_not_stop_a_checker(
    db: Session, owned: dict[str, User], checked_request: tuple[Project, int], tmp_path: Path
) -> None:
    project, rid = checked_request
    _researcher(db, owned["cy"], "output_checker")
    apps.add_member(db, project.id, owned["ana"], "cy", "researcher")  # invited, not joined
    airlock.start_review(db, rid, "cy")
    airlock.review(db, rid, "by_area.csv", "cy", "approve")
    airlock.review(db, rid, "by_area.csv", "di", "approve")
    assert airlock.release(db, rid, "di", tmp_path / "bundles").exists()


# --- members who no longer meet the rule, and members from before invitations ----------------

LAPSES = ("role", "expired", "revoked")


def _lapse(db: Session, user: User, how: str) -> None:
    """The member's researcher role is revoked, or their accreditation expires or is
    revoked."""
    rows = [h.row for h in accreditation.accreditations_of(db, user.id) if h.valid]
    if how == "role":
        set_roles(db, user, {"trainer"}, "adam")
    elif how == "expired":
        for row in rows:
            row.expires_at = utcnow() - timedelta(days=1)
    else:
        for row in rows:
            accreditation.revoke(db, row, "adam", "left the organisation")
    db.commit()


def _restore(db: Session, user: User, how: str) -> None:
    if how == "role":
        set_roles(db, user, {"researcher"}, "adam")
    else:
        accreditation.grant(db, user.id, apps.MEMBER_ACCREDITATION)  # the refresher
    db.commit()


def _queued_job(db: Session, project: Project, submitter: User) -> Job:
    job = Job(
        project_id=project.id,
        submitter_id=submitter.id,
        title="Counts by area",
        kind="script",
        script_name="counts.py",
        script=b"print(1)\n",
        state="queued",
        cancel_requested=False,
        reason="",
    )
    db.add(job)
    db.commit()
    return job


@pytest.mark.parametrize("how", LAPSES)
def test_a_member_who_no_longer_meets_the_rule_reaches_nothing_until_restored(
    db: Session,
    owned: dict[str, User],
    checked_request: tuple[Project, int],
    tmp_path: Path,
    how: str,
) -> None:
    project, rid = checked_request
    ben = owned["ben"]
    airlock.start_review(db, rid, "cy")
    airlock.review(db, rid, "by_area.csv", "cy", "approve")
    airlock.review(db, rid, "by_area.csv", "di", "approve")
    airlock.release(db, rid, "di", tmp_path / "bundles", as_zip=True)
    draft = release.start_request(db, project, owned["ana"], "Second table")  # ben co-authors
    job = _queued_job(db, project, owned["ana"])
    assert apps.why_no_member_access(db, project, ben) is None
    _lapse(db, ben, how)

    reason = apps.why_no_member_access(db, project, ben)
    expected = {
        "role": "no longer holds the researcher role",
        "expired": "accreditation that expired on",
        "revoked": "accreditation revoked on",
    }[how]
    assert reason is not None and expected in reason
    assert "stays a member" in reason and ("renew" in reason or "grants it again" in reason)
    assert "ben" in _members(db, project)  # the history is kept
    counts = {m: _count(db, m) for m in (ReleaseRequest, RequestOutput, ProjectMember)}
    project_refusals, job_refusals = _refusals(db, project), len(_job_refusals(db))
    attempts: list[Callable[[], object]] = [
        lambda: release.start_request(db, project, ben, "Mine"),
        lambda: release.add_output(
            db, project, draft.id, ben, "t.csv", "A table", b"a,b\n1,2\n", "t.csv"
        ),
        lambda: release.submit_request(db, project, draft.id, ben),
        lambda: release.download_bundle(db, project, rid, ben),
        lambda: apps.workspace_twin(db, project, ben),
        lambda: jobs.submit_job(db, project.id, ben, "Mine", script=b"print(2)\n"),
        lambda: jobs.cancel_job(db, project.id, job.id, ben),
    ]
    for attempt in attempts:
        with pytest.raises(PolicyRefusal, match="stays a member") as refusal:
            attempt()
        assert expected in str(refusal.value)
    assert jobs.why_cannot_submit(db, project, ben) == reason
    # refused, each refusal in the audit log, nothing else written
    assert {m: _count(db, m) for m in counts} == counts
    assert _refusals(db, project) == project_refusals + 5
    assert len(_job_refusals(db)) == job_refusals + 2
    assert all(e.actor == "ben" for e in audit.entries(db, action="project.refused")[-5:])
    assert audit.entries(db, subject=f"request:{rid}", action="airlock.download") == []
    db.expire_all()
    assert db.get(Job, job.id).state == "queued"  # type: ignore[union-attr]

    _restore(db, ben, how)
    assert apps.why_no_member_access(db, project, ben) is None
    assert release.download_bundle(db, project, rid, ben).is_file()
    assert release.start_request(db, project, ben, "Mine").author.name == "ben"
    assert jobs.cancel_job(db, project.id, job.id, ben).state == "cancelled"


def _job_refusals(db: Session) -> list[object]:
    return list(audit.entries(db, action="job.refused"))


def test_a_membership_from_before_invitations_meets_todays_rule(
    db: Session, owned: dict[str, User], application: Form, tmp_path: Path
) -> None:
    """An older database's member was added without an invitation and without the
    researcher role (finding 1 of issue 14): they stay listed, but reach nothing
    until they hold the role and a valid accreditation."""
    project = _approved(db, owned, application())
    old = add_user(db, "olga", "trainer")  # no researcher role, no accreditation
    db.add(ProjectMember(project_id=project.id, user_id=old.id, role="researcher"))
    db.commit()
    assert apps.is_member(db, project.id, old.id)
    reason = apps.why_no_member_access(db, project, old)
    assert reason is not None and "no longer holds the researcher role" in reason
    with pytest.raises(PolicyRefusal, match="stays a member"):
        release.start_request(db, project, old, "Old habits")
    set_roles(db, old, {"researcher"}, "adam")
    db.commit()
    reason = apps.why_no_member_access(db, project, old)
    assert reason is not None and "holds no safe researcher accreditation" in reason
    accreditation.grant(db, old.id, apps.MEMBER_ACCREDITATION)
    db.commit()
    assert apps.why_no_member_access(db, project, old) is None
    assert release.start_request(db, project, old, "Old habits").author.name == "olga"
    # being listed still counts as membership for independence: never a reviewer
    assert apps.is_conflicted(db, project, old)


def test_the_members_to_review_are_listed_for_the_operator(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    project = _approved(db, owned, application())
    assert apps.members_to_review(db) == []
    old = add_user(db, "olga", "trainer")
    db.add(ProjectMember(project_id=project.id, user_id=old.id, role="researcher"))
    db.commit()
    _lapse(db, owned["ben"], "expired")
    found = {m["member"]: m for m in apps.members_to_review(db)}
    assert set(found) == {"olga", "ben"}
    assert found["olga"]["by_invitation"] is False and found["ben"]["by_invitation"] is True
    assert "researcher role" in found["olga"]["reason"]
    assert "expired on" in found["ben"]["reason"]
    # the same from the command line, without changing anything
    members = _count(db, ProjectMember)
    url = str(db.get_bind().url)
    result = CliRunner().invoke(cli, ["users", "members-to-review", "--db", url, "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)["members"]
    assert {m["member"] for m in listed} == {"olga", "ben"}
    assert _count(db, ProjectMember) == members


@pytest.mark.parametrize("how", LAPSES)
def test_a_queued_job_of_a_member_who_no_longer_meets_the_rule_is_not_run(
    db: Session, owned: dict[str, User], application: Form, how: str
) -> None:
    project = _approved(db, owned, application())
    lapsed = _queued_job(db, project, owned["ben"])
    kept = _queued_job(db, project, owned["ana"])
    _lapse(db, owned["ben"], how)
    claimed = claim_next(db, "runner-1")
    assert claimed is not None and claimed.id == kept.id  # ben's is skipped, not run
    db.expire_all()
    job = db.get(Job, lapsed.id)
    assert job is not None and job.state == "failed" and job.started_at is not None
    assert job.reason.startswith("not run: ben ") and "stays a member" in job.reason
    end = audit.entries(db, subject=f"job:{lapsed.id}", action="job.end")[-1]
    assert audit.details_of(end)["state"] == "failed"
    assert audit.entries(db, subject=f"job:{lapsed.id}", action="job.start") == []


@pytest.mark.parametrize("how", LAPSES)
def test_one_evaluation_of_the_rule_names_the_condition_failed_and_its_facts(
    db: Session, owned: dict[str, User], how: str
) -> None:
    ben = owned["ben"]
    assert apps.rule_problem(db, ben) is None
    _lapse(db, ben, how)
    problem = apps.rule_problem(db, ben)
    assert problem is not None and problem.user == "ben"
    if how == "role":
        assert (problem.condition, problem.accreditation, problem.on) == ("role", None, None)
        assert apps.rule_problem(db, ben, with_accreditation=False) == problem
    else:
        assert (problem.condition, problem.accreditation) == ("accreditation", how)
        assert problem.on is not None
        assert apps.rule_problem(db, ben, with_accreditation=False) is None
    # both wordings are made from it: joining's and a lapsed member's
    joining, lapsed = apps._member_problem(db, ben), apps.why_lapsed(db, ben)
    assert joining is not None and lapsed is not None and joining != lapsed
    if how != "role":
        assert f"on {problem.on:%Y-%m-%d}" in lapsed
    assert apps.rule_problem(db, owned["rex"]) == apps.RuleProblem("rex", "accreditation", "none")
    set_roles(db, owned["cat"], {"researcher", "linkage_operator"}, "adam")
    db.commit()
    operator = apps.rule_problem(db, owned["cat"])
    assert operator is not None and operator.condition == "operator"
    assert apps.why_never_a_member(db, owned["cat"]) == apps.why_lapsed(db, owned["cat"])


# --- a lead whose access has lapsed does not widen the membership -----------------------------


@pytest.mark.parametrize("how", LAPSES)
def test_a_lead_who_no_longer_meets_the_rule_invites_nobody_until_renewed(
    db: Session, owned: dict[str, User], application: Form, how: str
) -> None:
    ana = owned["ana"]
    project = _approved(db, owned, application())  # ana leads, ben is a member
    draft = apps.save_draft(db, ana, application(members=""))
    waiting = apps.add_member(db, project.id, ana, "cat", "researcher")
    _lapse(db, ana, how)
    expected = {
        "role": "no longer holds the researcher role",
        "expired": "accreditation that expired on",
        "revoked": "accreditation revoked on",
    }[how]
    counts = {m: _count(db, m) for m in (ProjectInvitation, ProjectMember, Project)}
    refusals = len(audit.entries(db, action="project.refused"))
    attempts: list[tuple[str, Callable[[], object]]] = [
        ("invite", lambda: apps.invite(db, project.id, ana, "rex", "researcher")),
        ("invite", lambda: apps.add_member(db, draft.id, ana, "rex", "researcher")),
        ("update", lambda: apps.save_draft(db, ana, application(members="rex"), draft.id)),
        (
            "update",
            lambda: apps.save_draft(db, ana, application(members="ben, lead_researcher"), draft.id),
        ),
    ]
    for action, attempt in attempts:
        with pytest.raises(PolicyRefusal, match="invites nobody") as refusal:
            attempt()
        assert expected in str(refusal.value) and "stays a member" in str(refusal.value)
        last = audit.entries(db, action="project.refused")[-1]
        assert last.actor == "ana" and audit.details_of(last)["attempted"] == action
    if how != "role":  # without the role, nobody applies at all (a form error)
        with pytest.raises(PolicyRefusal, match="invites nobody"):
            apps.save_draft(db, ana, application(members="rex"))
    with pytest.raises(PolicyRefusal, match="cannot be submitted") as refused:
        apps.submit(db, draft.id, ana)
    assert "ana " in str(refused.value)
    # refused, each in the audit log, nothing else written
    assert {m: _count(db, m) for m in counts} == counts
    assert len(audit.entries(db, action="project.refused")) == refusals + len(attempts) + (
        1 if how == "role" else 2
    )
    assert apps.get_project(db, draft.id).state == "draft"
    # narrowing stays open: the draft's words, withdrawing an invitation, removing a member
    apps.save_draft(db, ana, application(title="A better title", members=""), draft.id)
    assert apps.get_project(db, draft.id).title == "A better title"
    assert apps.withdraw_invitation(db, waiting.id, ana).state == "withdrawn"
    apps.remove_member(db, project.id, ana, owned["ben"].id)
    assert _members(db, project) == {"ana"}
    # renewed, the lead invites again
    _restore(db, ana, how)
    assert apps.invite(db, project.id, ana, "rex", "researcher").user.name == "rex"
    assert apps.why_cannot_manage(db, project, ana) is None


def test_an_administrator_who_is_not_a_member_is_not_asked(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    project = _approved(db, owned, application())
    assert apps.why_lapsed(db, owned["adam"]) is not None  # no researcher role
    assert apps.why_cannot_manage(db, project, owned["adam"]) is None
    assert apps.invite(db, project.id, owned["adam"], "cat", "researcher").user.name == "cat"
