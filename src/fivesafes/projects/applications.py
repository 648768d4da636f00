"""Safe projects as plain rules: applications, their review, membership, and the
provisioning of an approved project's workspace.

An application moves ``draft ─submit─▶ submitted ─▶ approved | rejected``:

- the applicant (the project's lead researcher) writes a draft: title, lay
  summary, public benefit, organisation, the datasets requested and the members
  with their project roles; it can change only while it is a draft;
- once submitted, the approval panel (a user with the role ``panel_member``, or an
  administrator) gives one decision, and the owner of every requested dataset
  (assigned by an administrator, :func:`assign_owner`) gives theirs. The application is approved
  when the panel and every owner have approved it, and rejected as soon as one of
  them rejects it (with a reason);
- nobody reviews an application they applied for or are a member of, whatever
  their roles;
- on approval the workspace is provisioned (:func:`fivesafes.data.provision`) if
  a data store is configured (``store`` argument, else ``$FIVESAFES_STORE``);
  otherwise, or if provisioning fails, the project is marked as awaiting
  provisioning with the reason, and an administrator provisions it later
  (:func:`provision_workspace`).

Every step is one transaction, written to the audit log with the acting user's
name; a refused step rolls back, records ``project.refused`` and raises
:class:`~fivesafes.errors.PolicyRefusal`. Bad form input raises
:class:`FormErrors` (one message per field) and stores nothing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes.appdb.models import Role, User, utcnow
from fivesafes.audit import record
from fivesafes.datasets import BY_NAME, DATASETS
from fivesafes.errors import FivesafesError, PolicyRefusal
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

#: The environment variable naming the data store workspaces are provisioned from.
STORE_ENV = "FIVESAFES_STORE"
PANEL_ROLE = "panel_member"
DECISIONS = ("approve", "reject")
MEMBER_ROLE_LABELS = {
    MemberRole.LEAD_RESEARCHER.value: "Lead researcher",
    MemberRole.RESEARCHER.value: "Researcher",
}
#: The role the learning plan knows each project role by (a lead is a researcher).
PLAN_ROLES = {
    MemberRole.LEAD_RESEARCHER.value: "researcher",
    MemberRole.RESEARCHER.value: "researcher",
}
LIMITS = {"title": 200, "organisation": 200, "lay_summary": 4000, "public_benefit": 4000}


class FormErrors(FivesafesError):
    """Bad input in a form: ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


# --- who is who -------------------------------------------------------------------------


def roles_of(session: Session, user: User) -> set[str]:
    """Every TRE-wide role a user holds (the primary ``User.role`` and any others
    the accounts record in ``user_roles``)."""
    held = getattr(user, "roles", None)
    return set(held) if held is not None else {user.role}


def has_role(session: Session, user: User, role: str) -> bool:
    return role in roles_of(session, user)


def is_admin(session: Session, user: User) -> bool:
    return has_role(session, user, Role.ADMINISTRATOR.value)


def find_person(session: Session, text: str) -> User | None:
    """A user by handle (``User.name``) or, where accounts have one, by email."""
    text = text.strip()
    if not text:
        return None
    user = session.scalar(select(User).where(User.name == text))
    email = getattr(User, "email", None)
    if user is None and email is not None and "@" in text:
        user = session.scalar(select(User).where(func.lower(email) == text.lower()))
    return user


def membership(session: Session, project_id: int, user_id: int) -> ProjectMember | None:
    return session.scalar(
        select(ProjectMember).where(
            ProjectMember.project_id == project_id, ProjectMember.user_id == user_id
        )
    )


def is_member(session: Session, project_id: int, user_id: int) -> bool:
    return membership(session, project_id, user_id) is not None


def owner_of(session: Session, dataset: str) -> User | None:
    row = session.get(DatasetOwner, dataset)
    return None if row is None else row.user


def projects_of(session: Session, user: User) -> list[Project]:
    """The projects a user is a member of, newest first."""
    query = (
        select(Project)
        .join(ProjectMember, ProjectMember.project_id == Project.id)
        .where(ProjectMember.user_id == user.id)
        .order_by(Project.id.desc())
    )
    return list(session.scalars(query))


def _subject(project_id: int | str) -> str:
    return f"project:{project_id}"


def _refuse(session: Session, actor: str, action: str, subject: str, reason: str) -> NoReturn:
    session.rollback()
    record(session, actor, "project.refused", subject, {"attempted": action, "reason": reason})
    session.commit()
    raise PolicyRefusal(reason)


def get_project(session: Session, project_id: int) -> Project:
    session.expire_all()
    project = session.get(Project, project_id)
    if project is None:
        raise FivesafesError(f"there is no project {project_id}")
    return project


# --- the application form ---------------------------------------------------------------


@dataclass
class ApplicationInput:
    """What the application form holds, as typed (``members``: one per line, a
    handle or email, then optionally a comma and a project role)."""

    title: str = ""
    lay_summary: str = ""
    public_benefit: str = ""
    organisation: str = ""
    datasets: list[str] = field(default_factory=list)
    members: str = ""


def why_never_a_member(session: Session, user: User) -> str | None:
    """Why ``user`` can never be a project's member: a linkage operator (the trusted
    third party) sees identifiers, so never the research zone's content."""
    if has_role(session, user, Role.LINKAGE_OPERATOR.value):
        return (
            f"{user.name} is a linkage operator, who sees identifiers and so can never "
            "join a project (the zones are never mixed)"
        )
    return None


def parse_members(
    session: Session, text: str, applicant: User
) -> tuple[list[tuple[User, str]], str | None]:
    """The members listed (besides the applicant), or an error naming the line."""
    found: list[tuple[User, str]] = []
    seen = {applicant.id}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        who, _, role = (part.strip() for part in line.partition(","))
        role = role.lower().replace(" ", "_") or MemberRole.RESEARCHER.value
        if role not in MEMBER_ROLE_LABELS:
            return [], (
                f"line {number}: {role!r} is not a project role; use researcher or "
                "lead_researcher (e.g. 'ana@example.org, researcher')"
            )
        user = find_person(session, who)
        if user is None:
            return [], (f"line {number}: nobody is registered as {who!r}; they must register first")
        if user.id in seen:
            continue
        if problem := why_never_a_member(session, user):
            return [], f"line {number}: {problem}"
        seen.add(user.id)
        found.append((user, role))
    return found, None


def validate_application(
    session: Session, data: ApplicationInput, applicant: User
) -> tuple[dict[str, str], list[tuple[User, str]]]:
    """Field-level errors (empty when the form is good) and the members parsed."""
    errors: dict[str, str] = {}
    for name, label in (
        ("title", "a title"),
        ("lay_summary", "a lay summary"),
        ("public_benefit", "the public benefit"),
        ("organisation", "the organisation"),
    ):
        value = str(getattr(data, name)).strip()
        if not value:
            errors[name] = f"Enter {label}."
        elif len(value) > LIMITS[name]:
            errors[name] = f"Keep it to {LIMITS[name]} characters (it has {len(value)})."
    if not data.datasets:
        errors["datasets"] = "Choose at least one dataset."
    else:
        unknown = [d for d in data.datasets if d not in BY_NAME]
        if unknown:
            errors["datasets"] = f"{unknown[0]!r} is not in the catalogue."
    members, problem = parse_members(session, data.members, applicant)
    if problem:
        errors["members"] = problem
    return errors, members


def save_draft(
    session: Session, actor: User, data: ApplicationInput, project_id: int | None = None
) -> Project:
    """Create a draft application (``actor`` applies and is its lead researcher), or
    change one (``actor`` a lead of it, or an administrator; the applicant stays a
    lead): all of it or nothing."""
    if project_id is None:
        project = Project(
            state=ProjectState.DRAFT.value,
            applicant_id=actor.id,
            provisioning=Provisioning.NOT_YET.value,
            provisioning_note="",
        )
        applicant = actor
        action = "project.create"
        if problem := why_never_a_member(session, actor):
            raise FormErrors({"members": problem[0].upper() + problem[1:]})
    else:
        project = get_project(session, project_id)
        if project.state != ProjectState.DRAFT:
            _refuse(
                session,
                actor.name,
                "update",
                _subject(project_id),
                f"project {project_id} is {project.state}; only a draft can be changed",
            )
        if not _leads(session, project, actor):
            _refuse(
                session,
                actor.name,
                "update",
                _subject(project_id),
                f"{actor.name} is not a lead researcher of project {project_id}",
            )
        applicant = project.applicant
        action = "project.update"
    errors, members = validate_application(session, data, applicant)
    if errors:
        session.rollback()
        raise FormErrors(errors)
    if project_id is None:
        session.add(project)
    project.title = data.title.strip()
    project.lay_summary = data.lay_summary.strip()
    project.public_benefit = data.public_benefit.strip()
    project.organisation = data.organisation.strip()
    project.updated_at = utcnow()
    chosen = list(dict.fromkeys(data.datasets))
    # keep the rows already there, add the new ones
    project.datasets = [d for d in project.datasets if d.dataset in chosen]
    have = {d.dataset for d in project.datasets}
    project.datasets.extend(ProjectDataset(dataset=d) for d in chosen if d not in have)
    wanted = {u.id: role for u, role in members} | {applicant.id: MemberRole.LEAD_RESEARCHER.value}
    project.members = [m for m in project.members if m.user_id in wanted]
    for m in project.members:
        m.role = wanted[m.user_id]
    present = {m.user_id for m in project.members}
    project.members.extend(
        ProjectMember(user_id=uid, role=role) for uid, role in wanted.items() if uid not in present
    )
    session.flush()
    if project.slug is None:
        project.slug = f"project-{project.id}"
    record(
        session,
        actor.name,
        action,
        _subject(project.id),
        {
            "title": project.title,
            "datasets": chosen,
            "members": {u.name: role for u, role in members} | {applicant.name: "lead_researcher"},
        },
    )
    session.commit()
    return project


def _leads(session: Session, project: Project, user: User) -> bool:
    m = membership(session, project.id, user.id)
    return (m is not None and m.role == MemberRole.LEAD_RESEARCHER) or is_admin(session, user)


def submit(session: Session, project_id: int, actor: User) -> Project:
    """The lead researcher submits a draft for review (``draft`` → ``submitted``)."""
    project = get_project(session, project_id)
    if not _leads(session, project, actor):
        _refuse(
            session,
            actor.name,
            "submit",
            _subject(project_id),
            f"{actor.name} is not a lead researcher of project {project_id}; a lead submits it",
        )
    if project.state != ProjectState.DRAFT:
        _refuse(
            session,
            actor.name,
            "submit",
            _subject(project_id),
            f"project {project_id} is {project.state}; only a draft can be submitted",
        )
    project.state = ProjectState.SUBMITTED.value
    project.submitted_at = project.updated_at = utcnow()
    record(
        session,
        actor.name,
        "project.submit",
        _subject(project.id),
        {"from": "draft", "to": "submitted", "datasets": dataset_names(project)},
    )
    session.commit()
    return project


def dataset_names(project: Project) -> list[str]:
    return [d.dataset for d in project.datasets]


# --- review -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionStatus:
    """Where the review of an application stands: the panel's current decision,
    each requested dataset's owner and their current decision, and what is missing."""

    panel: ProjectReview | None
    owners: dict[str, tuple[User | None, ProjectReview | None]]

    @property
    def missing(self) -> list[str]:
        out = []
        if self.panel is None or self.panel.decision != "approve":
            out.append("the approval panel's decision")
        for dataset, (owner, rev) in self.owners.items():
            if owner is None:
                out.append(f"an owner for {dataset} (an administrator assigns one)")
            elif rev is None or rev.decision != "approve":
                out.append(f"the approval of {dataset} by its owner {owner.name}")
        return out

    @property
    def rejected(self) -> bool:
        return (self.panel is not None and self.panel.decision == "reject") or any(
            rev is not None and rev.decision == "reject" for _, rev in self.owners.values()
        )


def decision_status(session: Session, project: Project) -> DecisionStatus:
    panel: ProjectReview | None = None
    for rev in project.reviews:  # ordered by id: the last one counts
        if rev.kind == ReviewKind.PANEL:
            panel = rev
    owners: dict[str, tuple[User | None, ProjectReview | None]] = {}
    for d in dataset_names(project):
        owner = owner_of(session, d)
        # Only the current owner's latest decision counts (owners can change).
        latest: ProjectReview | None = None
        for rev in project.reviews:
            mine = owner is not None and rev.reviewer_id == owner.id
            if rev.kind == ReviewKind.OWNER and rev.dataset == d and mine:
                latest = rev
        owners[d] = (owner, latest)
    return DecisionStatus(panel, owners)


def reviewable_by(session: Session, user: User) -> list[tuple[Project, str, str | None]]:
    """Submitted applications ``user`` can decide on now, as (project, kind, dataset)."""
    found: list[tuple[Project, str, str | None]] = []
    query = select(Project).where(Project.state == ProjectState.SUBMITTED).order_by(Project.id)
    panel = has_role(session, user, PANEL_ROLE) or is_admin(session, user)
    for project in session.scalars(query):
        if is_member(session, project.id, user.id) or project.applicant_id == user.id:
            continue
        status = decision_status(session, project)
        if panel:
            found.append((project, ReviewKind.PANEL.value, None))
        for d, (owner, _rev) in status.owners.items():
            if owner is not None and owner.id == user.id:
                found.append((project, ReviewKind.OWNER.value, d))
    return found


def review(
    session: Session,
    project_id: int,
    reviewer: User,
    kind: str,
    decision: str,
    comment: str = "",
    dataset: str | None = None,
    *,
    store: Path | None = None,
) -> Project:
    """A decision on a submitted application, by the panel (``kind="panel"``) or by
    the owner of one requested dataset (``kind="owner"``, ``dataset`` named).

    When the panel and every owner have approved, the application is approved and
    its workspace provisioned; a rejection by any of them rejects it.
    """
    project = get_project(session, project_id)
    subject = _subject(project_id)
    name = reviewer.name
    if decision not in DECISIONS:
        raise FormErrors({"decision": "Choose approve or reject."})
    if decision == "reject" and not comment.strip():
        raise FormErrors({"comment": "Say why the application is rejected."})
    if project.applicant_id == reviewer.id or is_member(session, project.id, reviewer.id):
        _refuse(
            session,
            name,
            "review",
            subject,
            f"{name} applied for or is a member of project {project_id} and cannot review "
            "it; another panel member or the dataset's owner must",
        )
    if project.state != ProjectState.SUBMITTED:
        _refuse(
            session,
            name,
            "review",
            subject,
            f"project {project_id} is {project.state}; only a submitted application is reviewed",
        )
    if kind == ReviewKind.PANEL:
        if not (has_role(session, reviewer, PANEL_ROLE) or is_admin(session, reviewer)):
            _refuse(
                session,
                name,
                "review",
                subject,
                f"{name} is not a member of the approval panel (role panel_member)",
            )
        dataset = None
    elif kind == ReviewKind.OWNER:
        if dataset is None or dataset not in dataset_names(project):
            _refuse(
                session,
                name,
                "review",
                subject,
                f"project {project_id} did not request the dataset {dataset!r}",
            )
        owner = owner_of(session, dataset)
        if owner is None or owner.id != reviewer.id:
            _refuse(
                session,
                name,
                "review",
                subject,
                f"{name} is not the owner of {dataset}; only its owner approves access to it",
            )
    else:
        raise FivesafesError(f"{kind!r} is not a kind of review; use panel or owner")
    rev = ProjectReview(
        reviewer_id=reviewer.id,
        kind=kind,
        dataset=dataset,
        decision=decision,
        comment=comment.strip(),
    )
    rev.reviewer = reviewer
    project.reviews.append(rev)
    session.flush()
    record(
        session,
        name,
        "project.review",
        subject,
        {"kind": kind, "dataset": dataset, "decision": decision, "comment": comment.strip()},
    )
    status = decision_status(session, project)
    if status.rejected:
        project.state = ProjectState.REJECTED.value
        project.decided_at = project.updated_at = utcnow()
        record(session, name, "project.reject", subject, {"from": "submitted", "to": "rejected"})
    elif not status.missing:
        project.state = ProjectState.APPROVED.value
        project.decided_at = project.updated_at = utcnow()
        project.provisioning = Provisioning.AWAITING.value
        record(
            session,
            name,
            "project.approve",
            subject,
            {"from": "submitted", "to": "approved", "datasets": dataset_names(project)},
        )
    session.commit()
    if project.state == ProjectState.APPROVED:
        provision_workspace(session, project.id, name, store=store)
    return project


# --- provisioning -----------------------------------------------------------------------


def configured_store(store: Path | None = None) -> Path | None:
    """The data store workspaces come from: ``store``, else ``$FIVESAFES_STORE``."""
    if store is not None:
        return store
    value = os.environ.get(STORE_ENV)
    return Path(value) if value else None


def provision_workspace(
    session: Session, project_id: int, actor: str, *, store: Path | None = None
) -> Project:
    """Provision an approved project's workspace from the configured store; with no
    store, or if provisioning fails, the project waits, with the reason recorded."""
    project = get_project(session, project_id)
    if project.state != ProjectState.APPROVED:
        _refuse(
            session,
            actor,
            "provision",
            _subject(project_id),
            f"project {project_id} is {project.state}; only an approved project is provisioned",
        )
    chosen = configured_store(store)
    assert project.slug is not None
    if chosen is None:
        project.provisioning = Provisioning.AWAITING.value
        project.provisioning_note = (
            f"No data store is configured (set ${STORE_ENV}); an administrator provisions "
            "the workspace once there is one."
        )
        record(session, actor, "project.provision", _subject(project.id), {"status": "awaiting"})
        session.commit()
        return project
    from fivesafes.data import provision

    try:
        summary = provision(chosen, project.slug, dataset_names(project))
    except (FivesafesError, OSError) as exc:
        project.provisioning = Provisioning.AWAITING.value
        project.provisioning_note = f"Provisioning failed: {exc}"
        record(
            session,
            actor,
            "project.provision",
            _subject(project.id),
            {"status": "failed", "error": str(exc)},
        )
        session.commit()
        return project
    project.provisioning = Provisioning.PROVISIONED.value
    project.workspace = str(summary.workspace)
    project.provisioning_note = ""
    record(
        session,
        actor,
        "project.provision",
        _subject(project.id),
        {"status": "provisioned", "workspace": str(summary.workspace), "rows": summary.rows},
    )
    session.commit()
    return project


def workspace_outputs_dir(project: Project) -> Path | None:
    """The folder where a project's analyses leave the files they want released
    (``outputs/`` beside the workspace file), once the workspace exists."""
    if project.workspace is None:
        return None
    return Path(project.workspace).parent / "outputs"


def _releasable(info: os.stat_result) -> bool:
    """A regular file with one link: not a symbolic link, a device or a FIFO, and not
    a hard link to a file elsewhere (e.g. in the identifier zone), which would be
    the same file under a second name."""
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 1


def workspace_twin(session: Session, project: Project, actor: str) -> Path:
    """The synthetic twin of the project's workspace (:mod:`fivesafes.data.twin`),
    made on first use and again whenever the workspace is newer; in ``twin/``
    beside the workspace file. Every download is in the audit log."""
    from fivesafes.data.twin import make_twin

    if project.workspace is None:
        raise FivesafesError(f"project {project.id} has no workspace yet, so no twin")
    workspace = Path(project.workspace)
    twin = workspace.parent / "twin" / "twin.duckdb"
    made = False
    if not twin.is_file() or twin.stat().st_mtime < workspace.stat().st_mtime:
        make_twin(workspace, twin)
        made = True
    record(
        session,
        actor,
        "project.twin_download",
        _subject(project.id),
        {"made": made, "bytes": twin.stat().st_size},
    )
    session.commit()
    return twin


def workspace_output_files(project: Project) -> list[Path]:
    """The files in the workspace's output folder that can be offered for release:
    regular files with one link (:func:`_releasable`), not hidden. A symbolic link
    is never one of them (it could point anywhere the server can read), nor a hard
    link (the same file as one outside the folder), nor anything in a folder that is
    itself a link."""
    folder = workspace_outputs_dir(project)
    if folder is None or folder.is_symlink() or not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        try:
            info = p.lstat()
        except OSError:
            continue
        if _releasable(info) and not p.name.startswith("."):
            found.append(p)
    return sorted(found)


def read_workspace_output(path: Path) -> bytes:
    """The bytes of a file listed by :func:`workspace_output_files`, checked again on
    the file actually opened: opened inside its folder (itself opened without
    following a link) without following a link, and ``fstat`` of the open file must
    show a regular file with one link; else :class:`OSError` (nothing is read)."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    folder_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | nofollow)
    try:
        fd = os.open(path.name, os.O_RDONLY | nofollow | os.O_NONBLOCK, dir_fd=folder_fd)
    finally:
        os.close(folder_fd)
    with os.fdopen(fd, "rb") as f:
        if not _releasable(os.fstat(f.fileno())):
            raise OSError(f"{path.name} is not a regular file with one link")
        return f.read()


# --- membership -------------------------------------------------------------------------


def add_member(
    session: Session, project_id: int, actor: User, who: str, role: str
) -> ProjectMember:
    """A lead researcher (or an administrator) adds a member with a project role."""
    project = get_project(session, project_id)
    if not _leads(session, project, actor):
        _refuse(
            session,
            actor.name,
            "add_member",
            _subject(project_id),
            f"{actor.name} is not a lead researcher of project {project_id}",
        )
    if role not in MEMBER_ROLE_LABELS:
        raise FormErrors({"role": "Choose researcher or lead researcher."})
    user = find_person(session, who)
    if user is None:
        raise FormErrors({"who": f"Nobody is registered as {who.strip()!r}."})
    if membership(session, project.id, user.id) is not None:
        raise FormErrors({"who": f"{user.name} is already a member."})
    if problem := why_never_a_member(session, user):
        raise FormErrors({"who": problem[0].upper() + problem[1:]})
    if project.state == ProjectState.SUBMITTED:
        _refuse(
            session,
            actor.name,
            "add_member",
            _subject(project_id),
            f"project {project_id} is under review; members change before it is submitted "
            "or after it is decided",
        )
    member = ProjectMember(user_id=user.id, role=role)
    member.user = user
    project.members.append(member)
    session.flush()
    record(
        session,
        actor.name,
        "project.member_add",
        _subject(project.id),
        {"member": user.name, "role": role},
    )
    session.commit()
    return member


def remove_member(session: Session, project_id: int, actor: User, user_id: int) -> None:
    """A lead researcher (or an administrator) removes a member; the last lead stays."""
    project = get_project(session, project_id)
    if not _leads(session, project, actor):
        _refuse(
            session,
            actor.name,
            "remove_member",
            _subject(project_id),
            f"{actor.name} is not a lead researcher of project {project_id}",
        )
    member = membership(session, project.id, user_id)
    if member is None:
        raise FivesafesError(f"user {user_id} is not a member of project {project_id}")
    leads = [m for m in project.members if m.role == MemberRole.LEAD_RESEARCHER]
    if member.role == MemberRole.LEAD_RESEARCHER and len(leads) == 1:
        _refuse(
            session,
            actor.name,
            "remove_member",
            _subject(project_id),
            f"{member.user.name} is the only lead researcher; name another lead first",
        )
    if project.state == ProjectState.SUBMITTED:
        _refuse(
            session,
            actor.name,
            "remove_member",
            _subject(project_id),
            f"project {project_id} is under review; members change before it is submitted "
            "or after it is decided",
        )
    name = member.user.name
    project.members.remove(member)
    record(session, actor.name, "project.member_remove", _subject(project.id), {"member": name})
    session.commit()


# --- dataset owners ---------------------------------------------------------------------


def assign_owner(session: Session, actor: User, dataset: str, who: str) -> DatasetOwner:
    """An administrator names the user who approves access to a dataset."""
    if not is_admin(session, actor):
        _refuse(
            session,
            actor.name,
            "assign_owner",
            f"dataset:{dataset}",
            f"{actor.name} is not an administrator; only administrators assign dataset owners",
        )
    if dataset not in BY_NAME:
        raise FormErrors({"dataset": f"{dataset!r} is not in the catalogue."})
    user = find_person(session, who)
    if user is None:
        raise FormErrors({"who": f"Nobody is registered as {who.strip()!r}."})
    if Role.DATA_OWNER.value not in roles_of(session, user):
        raise FormErrors({"who": f"{user.name} does not hold the data owner role; grant it first."})
    row = session.get(DatasetOwner, dataset)
    before = None if row is None else row.user.name
    if row is None:
        row = DatasetOwner(dataset=dataset, user_id=user.id)
        session.add(row)
    else:
        row.user_id = user.id
        row.assigned_at = utcnow()
    row.user = user
    record(
        session,
        actor.name,
        "dataset.owner_assign",
        f"dataset:{dataset}",
        {"owner": user.name, "before": before},
    )
    session.commit()
    return row


def owners(session: Session) -> dict[str, User | None]:
    """Every catalogue dataset and its owner (None where nobody is assigned)."""
    return {d.name: owner_of(session, d.name) for d in DATASETS}


# --- the learning plan ------------------------------------------------------------------


def outstanding_courses(session: Session, project: Project, user: User) -> list[Any]:
    """The courses ``user`` must still pass for this project's datasets and their
    role in it (empty: their learning plan is complete). Uses the learning
    platform (:mod:`fivesafes.people.plan`); without it, nothing is outstanding."""
    try:
        from fivesafes.people.plan import outstanding_courses as plan
    except ImportError:
        return []
    member = membership(session, project.id, user.id)
    role = member.role if member is not None else MemberRole.RESEARCHER.value
    return list(plan(session, user.id, dataset_names(project), PLAN_ROLES[role]))


def describe(project: Project) -> dict[str, Any]:
    """An application as plain data."""
    return {
        "id": project.id,
        "slug": project.slug,
        "title": project.title,
        "state": project.state,
        "organisation": project.organisation,
        "datasets": dataset_names(project),
        "members": [{"name": m.user.name, "role": m.role} for m in project.members],
        "provisioning": project.provisioning,
    }
