"""Safe projects, the rules: the application's states, review by the panel and by
each requested dataset's owner, nobody approving their own application,
membership (by invitation, accepted by the invitee), provisioning, and the audit
trail of every step. The membership changes of an approved project, the rules the
approvers set on them and who sees a review are in test_project_membership.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes import audit
from fivesafes.appdb.models import User
from fivesafes.errors import FivesafesError, PolicyRefusal
from fivesafes.projects import applications as apps
from fivesafes.projects.models import Project, ProjectMember, ProjectState, Provisioning

Form = Callable[..., apps.ApplicationInput]


def _submitted(db: Session, people: dict[str, User], application: Form) -> Project:
    project = apps.save_draft(db, people["ana"], application())
    return apps.submit(db, project.id, people["ana"])


def test_a_draft_keeps_the_form_makes_the_applicant_lead_and_invites_the_others(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    project = apps.save_draft(db, owned["ana"], application())
    assert project.state == ProjectState.DRAFT
    assert project.slug == f"project-{project.id}"
    assert apps.dataset_names(project) == ["pupil_census", "justice_offences"]
    assert {(m.user.name, m.role) for m in project.members} == {("ana", "lead_researcher")}
    [inv] = apps.open_invitations(project)
    assert (inv.user.name, inv.role, inv.state, inv.approval) == (
        "ben",
        "researcher",
        "pending",
        "with_application",
    )
    apps.answer_invitation(db, inv.id, owned["ben"], accept=True)
    project = apps.get_project(db, project.id)
    assert {(m.user.name, m.role) for m in project.members} == {
        ("ana", "lead_researcher"),
        ("ben", "researcher"),
    }
    assert apps.open_invitations(project) == []
    assert [e.action for e in audit.entries(db, subject=f"project:{project.id}")] == [
        "project.create",
        "project.member_add",
    ]


def test_bad_input_names_each_field_and_stores_nothing(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    bad = application(title=" ", datasets=["no_such_data"], members="nobody@example.org")
    with pytest.raises(apps.FormErrors) as caught:
        apps.save_draft(db, owned["ana"], bad)
    assert set(caught.value.errors) == {"title", "datasets", "members"}
    assert "nobody@example.org" in caught.value.errors["members"]
    assert db.scalar(select(func.count()).select_from(Project)) == 0
    assert db.scalar(select(func.count()).select_from(ProjectMember)) == 0
    with pytest.raises(apps.FormErrors) as caught:
        apps.save_draft(db, owned["ana"], application(members="ben, boss"))
    assert "not a project role" in caught.value.errors["members"]


def test_panel_and_every_owner_approve_then_it_is_approved(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    project = _submitted(db, owned, application)
    status = apps.decision_status(db, project)
    assert len(status.missing) == 3  # the panel, and the owner of each dataset
    apps.review(db, project.id, owned["pat"], "panel", "approve", "Clear benefit")
    apps.review(db, project.id, owned["olly"], "owner", "approve", dataset="pupil_census")
    assert apps.get_project(db, project.id).state == ProjectState.SUBMITTED
    assert apps.decision_status(db, project).missing == [
        "the approval of justice_offences by its owner oona"
    ]
    apps.review(db, project.id, owned["oona"], "owner", "approve", dataset="justice_offences")
    project = apps.get_project(db, project.id)
    assert project.state == ProjectState.APPROVED
    assert project.decided_at is not None
    actions = [e.action for e in audit.entries(db, subject=f"project:{project.id}")]
    assert actions == [
        "project.create",
        "project.submit",
        "project.review",
        "project.review",
        "project.review",
        "project.approve",
        "project.provision",
    ]


def test_one_owner_rejecting_rejects_it_and_a_reason_is_required(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    project = _submitted(db, owned, application)
    with pytest.raises(apps.FormErrors, match="comment"):
        apps.review(db, project.id, owned["oona"], "owner", "reject", dataset="justice_offences")
    apps.review(db, project.id, owned["pat"], "panel", "approve")
    apps.review(
        db, project.id, owned["oona"], "owner", "reject", "Too broad", dataset="justice_offences"
    )
    assert apps.get_project(db, project.id).state == ProjectState.REJECTED
    with pytest.raises(PolicyRefusal, match="only a submitted application"):
        apps.review(db, project.id, owned["olly"], "owner", "approve", dataset="pupil_census")


def test_nobody_approves_their_own_application(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    # pat sits on the panel and oona owns a dataset; both are also on this project,
    # having accepted the invitations its application sent them.
    from fivesafes.appdb.users import set_roles
    from fivesafes.people import accreditation

    for name, role in (("pat", "panel_member"), ("oona", "data_owner")):
        set_roles(db, owned[name], {role, "researcher"}, "adam")
        accreditation.grant(db, owned[name].id, apps.MEMBER_ACCREDITATION)
    db.commit()
    apps.save_draft(db, owned["cat"], application())  # someone else's project, unrelated
    project = apps.save_draft(db, owned["ana"], application(members="pat\noona, researcher"))
    for inv in apps.open_invitations(project):
        apps.answer_invitation(db, inv.id, inv.user, accept=True)
    apps.submit(db, project.id, owned["ana"])
    for who, kind, dataset in (
        ("pat", "panel", None),
        ("oona", "owner", "justice_offences"),
        ("ana", "panel", None),
    ):
        with pytest.raises(PolicyRefusal, match="cannot review it"):
            apps.review(db, project.id, owned[who], kind, "approve", dataset=dataset)
    refused = audit.entries(db, subject=f"project:{project.id}", action="project.refused")
    assert len(refused) == 3
    assert apps.get_project(db, project.id).reviews == []


def test_only_the_panel_and_the_datasets_own_owner_decide(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    project = _submitted(db, owned, application)
    with pytest.raises(PolicyRefusal, match="approval panel"):
        apps.review(db, project.id, owned["cat"], "panel", "approve")
    with pytest.raises(PolicyRefusal, match="not the owner of pupil_census"):
        apps.review(db, project.id, owned["oona"], "owner", "approve", dataset="pupil_census")
    with pytest.raises(PolicyRefusal, match="did not request"):
        apps.review(db, project.id, owned["olly"], "owner", "approve", dataset="census_2021")
    # owners per dataset: what each can decide on
    assert [(p.id, k, d) for p, k, d in apps.reviewable_by(db, owned["olly"])] == [
        (project.id, "owner", "pupil_census")
    ]
    assert [(k, d) for _, k, d in apps.reviewable_by(db, owned["pat"])] == [("panel", None)]
    assert apps.reviewable_by(db, owned["cat"]) == []


def test_a_dataset_without_an_owner_waits_for_one(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    project = apps.save_draft(db, owned["ana"], application(datasets=["census_2021"]))
    apps.submit(db, project.id, owned["ana"])
    apps.review(db, project.id, owned["pat"], "panel", "approve")
    assert apps.decision_status(db, project).missing == [
        "an owner for census_2021 (an administrator assigns one)"
    ]
    with pytest.raises(PolicyRefusal, match="only administrators"):
        apps.assign_owner(db, owned["ana"], "census_2021", "olly")
    apps.assign_owner(db, owned["adam"], "census_2021", "olly")
    apps.review(db, project.id, owned["olly"], "owner", "approve", dataset="census_2021")
    assert apps.get_project(db, project.id).state == ProjectState.APPROVED


def test_only_a_draft_changes_and_only_its_lead_submits(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    project = apps.save_draft(db, owned["ana"], application())
    with pytest.raises(PolicyRefusal, match="lead researcher"):
        apps.submit(db, project.id, owned["ben"])
    apps.submit(db, project.id, owned["ana"])
    with pytest.raises(PolicyRefusal, match="only a draft can be submitted"):
        apps.submit(db, project.id, owned["ana"])
    with pytest.raises(PolicyRefusal, match="only a draft can be changed"):
        apps.save_draft(db, owned["ana"], application(title="New"), project.id)
    assert apps.get_project(db, project.id).title == "Attainment and offending"


def test_members_are_invited_by_a_lead_and_join_by_accepting(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    project = apps.save_draft(db, owned["ana"], application(members=""))
    with pytest.raises(PolicyRefusal, match="not a lead researcher"):
        apps.add_member(db, project.id, owned["ben"], "cat", "researcher")
    inv = apps.add_member(db, project.id, owned["ana"], "cat", "researcher")
    assert not apps.is_member(db, project.id, owned["cat"].id)
    with pytest.raises(apps.FormErrors, match="invited already"):
        apps.add_member(db, project.id, owned["ana"], "cat", "researcher")
    with pytest.raises(apps.FormErrors, match="Nobody is registered"):
        apps.add_member(db, project.id, owned["ana"], "zed", "researcher")
    with pytest.raises(PolicyRefusal, match="only the person invited"):
        apps.answer_invitation(db, inv.id, owned["ben"], accept=True)
    apps.answer_invitation(db, inv.id, owned["cat"], accept=True)
    assert apps.is_member(db, project.id, owned["cat"].id)
    with pytest.raises(apps.FormErrors, match="already a member"):
        apps.add_member(db, project.id, owned["ana"], "cat", "researcher")
    with pytest.raises(PolicyRefusal, match="nothing left to answer"):
        apps.answer_invitation(db, inv.id, owned["cat"], accept=False)
    # a declined invitation makes nobody a member; a withdrawn one cannot be accepted
    declined = apps.add_member(db, project.id, owned["ana"], "ben", "researcher")
    apps.answer_invitation(db, declined.id, owned["ben"], accept=False)
    withdrawn = apps.add_member(db, project.id, owned["ana"], "ben", "researcher")
    apps.withdraw_invitation(db, withdrawn.id, owned["ana"])
    with pytest.raises(PolicyRefusal, match="withdrawn"):
        apps.answer_invitation(db, withdrawn.id, owned["ben"], accept=True)
    assert not apps.is_member(db, project.id, owned["ben"].id)
    with pytest.raises(PolicyRefusal, match="only lead researcher"):
        apps.remove_member(db, project.id, owned["ana"], owned["ana"].id)
    apps.remove_member(db, project.id, owned["adam"], owned["cat"].id)  # an administrator
    assert not apps.is_member(db, project.id, owned["cat"].id)
    actions = [e.action for e in audit.entries(db, subject=f"project:{project.id}")]
    assert actions.count("project.member_add") == 1
    assert actions.count("project.member_remove") == 1


def _approve(db: Session, people: dict[str, User], project: Project, **kw: Any) -> Project:
    apps.review(db, project.id, people["pat"], "panel", "approve", **kw)
    apps.review(db, project.id, people["olly"], "owner", "approve", dataset="pupil_census", **kw)
    apps.review(
        db, project.id, people["oona"], "owner", "approve", dataset="justice_offences", **kw
    )
    return apps.get_project(db, project.id)


def test_without_a_store_the_approved_project_awaits_provisioning(
    db: Session, owned: dict[str, User], application: Form, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(apps.STORE_ENV, raising=False)
    project = _approve(db, owned, _submitted(db, owned, application))
    assert project.provisioning == Provisioning.AWAITING
    assert "No data store is configured" in project.provisioning_note
    assert project.workspace is None


def test_a_failed_provisioning_is_recorded_and_the_approval_stands(
    db: Session, owned: dict[str, User], application: Form, tmp_path: Path
) -> None:
    project = _approve(db, owned, _submitted(db, owned, application), store=tmp_path)
    assert project.state == ProjectState.APPROVED
    assert project.provisioning == Provisioning.AWAITING
    assert "is not a fivesafes store" in project.provisioning_note
    last = audit.entries(db, subject=f"project:{project.id}", action="project.provision")[-1]
    assert audit.details_of(last)["status"] == "failed"


def test_provisioning_calls_the_data_layer_with_the_projects_datasets(
    db: Session,
    owned: dict[str, User],
    application: Form,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import fivesafes.data as data
    from fivesafes.data.provision import ProvisionSummary

    calls: list[tuple[Path, str, list[str]]] = []

    def fake(store: Path, project: str, datasets: list[str]) -> ProvisionSummary:
        calls.append((store, project, datasets))
        return ProvisionSummary(project, store / "workspaces" / project / "w.duckdb", datasets)

    monkeypatch.setattr(data, "provision", fake)
    monkeypatch.setenv(apps.STORE_ENV, str(tmp_path))
    project = _approve(db, owned, _submitted(db, owned, application))
    assert calls == [(tmp_path, project.slug, ["pupil_census", "justice_offences"])]
    assert project.provisioning == Provisioning.PROVISIONED
    assert project.workspace == str(tmp_path / "workspaces" / str(project.slug) / "w.duckdb")
    assert (
        apps.workspace_outputs_dir(project)
        == tmp_path / "workspaces" / str(project.slug) / "outputs"
    )


def test_an_unknown_project_is_a_user_error(db: Session) -> None:
    with pytest.raises(FivesafesError, match="no project 99"):
        apps.get_project(db, 99)


def test_the_migration_makes_the_tables_the_models_describe(migrated_db: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from fivesafes.appdb import engine_for
    from fivesafes.projects import models

    mine = {t.name for t in models.Base.metadata.sorted_tables if t.name.startswith("project")}
    mine.add("dataset_owners")
    engine = engine_for(f"sqlite:///{migrated_db}")
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), models.Base.metadata)
    engine.dispose()

    def table_of(diff: Any) -> str | None:
        item = diff[0] if isinstance(diff, list) else diff
        for part in item[1:]:
            name = getattr(part, "name", None) if not isinstance(part, str) else None
            table = getattr(part, "table", None)
            if table is not None:
                return str(table.name)
            if name in mine:
                return str(name)
            if isinstance(part, str) and part in mine:
                return part
        return None

    assert [d for d in diffs if table_of(d) in mine] == []
    assert mine == {
        "projects",
        "project_datasets",
        "project_members",
        "project_reviews",
        "project_invitations",
        "project_invitation_reviews",
        "project_rule_consents",
        "dataset_owners",
    }


def test_another_lead_or_an_administrator_changes_the_draft_and_the_applicant_stays_lead(
    db: Session, owned: dict[str, User], application: Form
) -> None:
    project = apps.save_draft(db, owned["ana"], application(members="ben, lead_researcher"))
    with pytest.raises(PolicyRefusal, match="not a lead researcher"):  # invited, not a member
        apps.save_draft(db, owned["ben"], application(title="Too soon"), project.id)
    [inv] = apps.open_invitations(project)
    apps.answer_invitation(db, inv.id, owned["ben"], accept=True)
    apps.save_draft(db, owned["ben"], application(title="Better title", members=""), project.id)
    project = apps.get_project(db, project.id)
    assert project.title == "Better title"
    assert [(m.user.name, m.role) for m in project.members] == [("ana", "lead_researcher")]
    apps.save_draft(db, owned["adam"], application(members="cat"), project.id)
    project = apps.get_project(db, project.id)
    assert {m.user.name for m in project.members} == {"ana"}
    assert [i.user.name for i in apps.open_invitations(project)] == ["cat"]
    # listed no more: the invitation is withdrawn
    apps.save_draft(db, owned["ana"], application(members=""), project.id)
    assert apps.open_invitations(apps.get_project(db, project.id)) == []
    with pytest.raises(PolicyRefusal, match="not a lead researcher"):
        apps.save_draft(db, owned["cat"], application(), project.id)
    updates = audit.entries(db, subject=f"project:{project.id}", action="project.update")
    assert [e.actor for e in updates] == ["ben", "adam", "ana"]
