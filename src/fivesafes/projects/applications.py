"""Safe projects as plain rules: applications, their review, membership, and the
provisioning of an approved project's workspace.

An application moves ``draft ─submit─▶ submitted ─▶ approved | rejected``:

- the applicant (the project's lead researcher) writes a draft: title, lay
  summary, public benefit, organisation, the datasets requested and the people
  invited to join with their project roles; it can change only while it is a
  draft. It is submitted only when every member holds the researcher role and a
  valid accreditation (:func:`why_cannot_join`);
- once submitted, the approval panel (a user with the role ``panel_member``, or an
  administrator) gives one decision, and the owner of every requested dataset
  (assigned by an administrator, :func:`assign_owner`) gives theirs. The application is approved
  when the panel and every owner have approved it, and rejected as soon as one of
  them rejects it (with a reason);
- nobody reviews an application they applied for or are a member of, whatever
  their roles; an invitation not yet accepted does not stop anyone reviewing (so an
  applicant cannot choose who reviews by listing them), and nobody who decided on a
  project ever joins it;
- a reviewer sees the applications they review (:func:`review_access`): a panel
  member those before the panel (there is one panel: every application that is not
  a draft), a data owner those asking for a dataset they own (or that they decided
  on), an administrator every one;

Membership (:func:`invite`, :func:`answer_invitation`): a lead invites, the invitee
accepts or declines, and only the invitee's acceptance makes a member. Joining an
approved project is a membership change the approvers decide like the application
(:func:`review_invitation`: the panel and the owner of every dataset of the
project), unless a membership rule they all set on the project allows it
(:func:`set_rule`, :data:`RULES`). Who may ever be a member is decided in one place,
:func:`why_not_invited` and :func:`why_cannot_join`: a holder of the researcher role
(an administrator does not hold it by being one), never a linkage operator, with
a valid ``safe_researcher`` accreditation when they join, and not someone who
decided on the project. The same rule is asked again at every step that reaches
a project's data or outputs through membership (:func:`why_no_member_access`): a
member whose role is revoked, or whose accreditation expires or is revoked, stays
a member but is refused until they meet it again. Its conditions are evaluated
once (:func:`rule_problem`) and worded for joining or for a member. A member who
no longer meets it does not widen the membership either (:func:`why_cannot_manage`:
no inviting, no role changes; submitting needs every member to meet it), but may
still withdraw invitations and remove members.
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes.appdb.models import Role, User, utcnow
from fivesafes.audit import record
from fivesafes.datasets import BY_NAME, DATASETS
from fivesafes.errors import FivesafesError, PolicyRefusal
from fivesafes.people import accreditation
from fivesafes.projects.models import (
    Approval,
    DatasetOwner,
    InvitationState,
    MemberRole,
    Project,
    ProjectDataset,
    ProjectInvitation,
    ProjectInvitationReview,
    ProjectMember,
    ProjectReview,
    ProjectRuleConsent,
    ProjectState,
    Provisioning,
    ReviewKind,
)

#: The environment variable naming the data store workspaces are provisioned from.
STORE_ENV = "FIVESAFES_STORE"
#: The provisioning note of an approved project while no data store is configured.
NO_STORE_NOTE = (
    f"No data store is configured (set ${STORE_ENV}); an administrator provisions "
    "the workspace once there is one."
)
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
#: The accreditation every member must hold, valid, when they join (and every member
#: when an application is submitted): granted by the safe researcher induction.
MEMBER_ACCREDITATION = "safe_researcher"
#: The membership rules the approvers may set on a project: while the panel and the
#: owner of every dataset of the project allow one, the membership changes it
#: describes need no decision of theirs.
RULES = {
    "same_organisation": (
        "A lead researcher may add researchers (not leads) whose registered organisation "
        "is the project's, without asking the approvers again"
    ),
}
#: Invitations still open: waiting for the invitee (and perhaps for the approvers).
OPEN = (InvitationState.PENDING.value,)


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
    #: The project asks to release trained models (see :func:`output_kinds`).
    releases_models: bool = False


def why_never_a_member(session: Session, user: User) -> str | None:
    """Why ``user`` can never be a project's member: a linkage operator (the trusted
    third party) sees identifiers, so never the research zone's content."""
    problem = rule_problem(session, user, with_accreditation=False)
    if problem is not None and problem.condition == "operator":
        return _joining_words(problem)
    return None


# --- the membership rule: who may be invited, who may join --------------------------------


@dataclass(frozen=True)
class RuleProblem:
    """The condition of the membership rule a user fails (:func:`rule_problem`), and
    the facts: ``condition`` is ``operator`` (a linkage operator, never a member),
    ``role`` (no researcher role) or ``accreditation`` (no valid
    :data:`MEMBER_ACCREDITATION`); for the last, ``accreditation`` says what their
    latest one is (``none``, ``expired`` or ``revoked``) and ``on`` when it expired
    or was revoked."""

    user: str
    condition: str
    accreditation: str | None = None
    on: date | None = None


def rule_problem(
    session: Session, user: User, *, with_accreditation: bool = True
) -> RuleProblem | None:
    """The one evaluation of the membership rule (None: ``user`` meets it): never a
    linkage operator, a holder of the researcher role (held, not implied by being an
    administrator) and, unless ``with_accreditation`` is false (who may be invited), a
    valid :data:`MEMBER_ACCREDITATION`; the first condition failed is the one named.
    Joining (:func:`why_not_invited`, :func:`why_cannot_join`) and staying a member
    (:func:`why_lapsed`) word the same result their own way."""
    if has_role(session, user, Role.LINKAGE_OPERATOR.value):
        return RuleProblem(user.name, "operator")
    if not has_role(session, user, Role.RESEARCHER.value):
        return RuleProblem(user.name, "role")
    if not with_accreditation:
        return None
    if accreditation.valid_accreditation(session, user.id, MEMBER_ACCREDITATION) is not None:
        return None
    held = [
        h
        for h in accreditation.accreditations_of(session, user.id)
        if h.kind == MEMBER_ACCREDITATION
    ]
    latest = max(held, key=lambda h: h.row.expires_at, default=None)
    if latest is None:
        return RuleProblem(user.name, "accreditation", "none")
    if latest.status == "revoked" and latest.row.revoked_at is not None:
        return RuleProblem(user.name, "accreditation", "revoked", latest.row.revoked_at.date())
    return RuleProblem(user.name, "accreditation", "expired", latest.row.expires_at.date())


def _joining_words(problem: RuleProblem) -> str:
    """A :class:`RuleProblem` said to someone who would join (or be invited)."""
    name = problem.user
    if problem.condition == "operator":
        return (
            f"{name} is a linkage operator, who sees identifiers and so can never "
            "join a project (the zones are never mixed)"
        )
    if problem.condition == "role":
        return (
            f"{name} does not hold the researcher role; only researchers join "
            "projects (an administrator grants the role)"
        )
    kind = accreditation.label(MEMBER_ACCREDITATION).lower()
    return (
        f"{name} holds no valid {kind} accreditation; it comes with the safe "
        "researcher induction (or its refresher, to renew it)"
    )


def _lapsed_words(problem: RuleProblem) -> str:
    """A :class:`RuleProblem` said of a member: what changed and what to do."""
    name = problem.user
    if problem.condition == "operator":
        return _joining_words(problem)
    if problem.condition == "role":
        return (
            f"{name} no longer holds the researcher role, which membership needs: "
            "an administrator grants it again once it is due"
        )
    kind = accreditation.label(MEMBER_ACCREDITATION).lower()
    if problem.accreditation == "revoked":
        what = f"had their {kind} accreditation revoked on {problem.on:%Y-%m-%d}"
    elif problem.accreditation == "expired":
        what = f"holds a {kind} accreditation that expired on {problem.on:%Y-%m-%d}"
    else:
        what = f"holds no {kind} accreditation"
    return (
        f"{name} {what}, and membership needs a valid one: renew it with the safe "
        "researcher refresher or the induction (your learning plan lists them)"
    )


def why_not_invited(session: Session, user: User) -> str | None:
    """Why ``user`` cannot be invited to (or apply for) a project: only a holder of
    the researcher role (held, not implied by being an administrator), never a
    linkage operator (:func:`rule_problem` without the accreditation)."""
    problem = rule_problem(session, user, with_accreditation=False)
    return None if problem is None else _joining_words(problem)


def _member_problem(session: Session, user: User) -> str | None:
    """Why ``user`` cannot be a member now: :func:`why_not_invited`, or no valid
    :data:`MEMBER_ACCREDITATION` (:func:`rule_problem`, in the words of joining)."""
    problem = rule_problem(session, user)
    return None if problem is None else _joining_words(problem)


def why_lapsed(session: Session, user: User) -> str | None:
    """Why a member no longer meets the membership rule today (None: they do): the
    rule of :func:`_member_problem` (:func:`rule_problem`: the researcher role, never
    a linkage operator, a valid :data:`MEMBER_ACCREDITATION`), said as what changed
    and what to do."""
    problem = rule_problem(session, user)
    return None if problem is None else _lapsed_words(problem)


def why_no_member_access(session: Session, project: Project, user: User) -> str | None:
    """Why ``user`` does not reach the project's data and outputs as its member
    today (None: they do). The one predicate of every way in through membership
    (the workspace and its synthetic twin, jobs, release requests, bundles), in the
    web app and the library: a member who *today* holds the researcher role and a
    valid safe researcher accreditation (:func:`why_lapsed`). A member who no
    longer does stays a member (their history is kept) but is refused until they do
    again; so is a member from before invitations existed who never met the rule."""
    if membership(session, project.id, user.id) is None:
        return f"{user.name} is not a member of project {project.id}"
    if problem := why_lapsed(session, user):
        return (
            f"{problem}. {user.name} stays a member of project {project.id}, but its "
            "workspace, jobs and outputs are closed to them while this lasts"
        )
    return None


def has_member_access(session: Session, project: Project, user: User) -> bool:
    """Whether :func:`why_no_member_access` lets ``user`` in."""
    return why_no_member_access(session, project, user) is None


def require_member_access(
    session: Session, project: Project, user: User, action: str
) -> ProjectMember:
    """The user's membership of the project if :func:`why_no_member_access` lets them
    in; else ``project.refused`` is recorded (``attempted``: ``action``) and
    :class:`~fivesafes.errors.PolicyRefusal` raised (the session is rolled back)."""
    if reason := why_no_member_access(session, project, user):
        _refuse(session, user.name, action, _subject(project.id), reason)
    found = membership(session, project.id, user.id)
    assert found is not None
    return found


def why_cannot_manage(session: Session, project: Project | None, user: User) -> str | None:
    """Why ``user`` may not widen the project's membership today (None: they may):
    invite someone (:func:`invite`, or by listing them in a draft,
    :func:`save_draft`) or change a member's or invitee's project role. A member who
    acts, a lead most often, must meet the membership rule today
    (:func:`why_lapsed`), as for the project's data; ``project`` None is a new
    application, whose applicant is asked. An administrator who is not a member acts
    by their role and is not asked. (Submitting is refused while any member, the
    lead included, does not meet the rule: :func:`submit`.) Narrowing the
    membership stays open to a lead whose access has lapsed: withdrawing an
    invitation, removing a member (themselves too, while another lead remains)."""
    if project is not None and membership(session, project.id, user.id) is None:
        return None
    problem = why_lapsed(session, user)
    if problem is None:
        return None
    if project is None:
        return (
            f"{problem}. Until then {user.name} invites nobody: save the application "
            "without the people to invite, and invite them once it is renewed"
        )
    return (
        f"{problem}. {user.name} stays a member of project {project.id}, but until then "
        "invites nobody and changes nobody's project role (nor is its application "
        "submitted); withdrawing an invitation or removing a member stays open"
    )


def members_to_review(session: Session) -> list[dict[str, Any]]:
    """Every membership that does not meet today's rule (:func:`why_lapsed`), for an
    operator's review, oldest project first: the project, the member, their project
    role, whether they joined by accepting an invitation (memberships from before
    invitations existed did not), and why. Read-only: such members stay members and
    are refused the project's data and outputs until they meet the rule."""
    found: list[dict[str, Any]] = []
    query = select(ProjectMember).order_by(ProjectMember.project_id, ProjectMember.id)
    for member in session.scalars(query):
        reason = why_lapsed(session, member.user)
        if reason is None:
            continue
        invited = session.scalar(
            select(func.count())
            .select_from(ProjectInvitation)
            .where(
                ProjectInvitation.project_id == member.project_id,
                ProjectInvitation.user_id == member.user_id,
                ProjectInvitation.state == InvitationState.ACCEPTED.value,
            )
        )
        found.append(
            {
                "project": member.project_id,
                "title": member.project.title,
                "member": member.user.name,
                "role": member.role,
                "by_invitation": bool(invited),
                "reason": reason,
            }
        )
    return found


def record_member_refusal(
    session: Session, project_id: int, user: User, action: str, reason: str
) -> None:
    """Write the refusal of a member's ``action`` (e.g. a page they opened) to the
    audit log as ``project.refused`` and commit, as :func:`require_member_access`
    does (for callers that refuse on another session, such as a web page's)."""
    record(
        session,
        user.name,
        "project.refused",
        _subject(project_id),
        {"attempted": action, "reason": reason},
    )
    session.commit()


def decided_on(session: Session, project: Project, user: User) -> bool:
    """Whether ``user`` took a reviewer's decision on the project: on its application,
    on a membership change, or on a membership rule."""
    if any(r.reviewer_id == user.id for r in project.reviews):
        return True
    if any(c.reviewer_id == user.id for c in project.rule_consents):
        return True
    return any(r.reviewer_id == user.id for inv in project.invitations for r in inv.reviews)


def why_cannot_join(session: Session, project: Project, user: User) -> str | None:
    """Why ``user`` cannot become a member of ``project`` now (None: they can). The
    one rule every way of joining goes through: the researcher role, never a linkage
    operator, a valid accreditation, and no decision taken on the project as a
    reviewer (a reviewer stays independent of what they decided)."""
    if problem := _member_problem(session, user):
        return problem
    if decided_on(session, project, user):
        return (
            f"{user.name} decided on project {project.id} as a reviewer and so can never "
            "join it; the decisions on a project are independent of its members"
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
        if problem := why_not_invited(session, user):
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
        if problem := why_not_invited(session, actor):
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
    if _widens(project, applicant, members):
        checked = None if project_id is None else project
        if reason := why_cannot_manage(session, checked, actor):
            _refuse(
                session,
                actor.name,
                action.removeprefix("project."),
                _subject(project_id or "new"),
                reason,
            )
    if project_id is None:
        session.add(project)
    project.title = data.title.strip()
    project.lay_summary = data.lay_summary.strip()
    project.public_benefit = data.public_benefit.strip()
    project.organisation = data.organisation.strip()
    project.releases_models = bool(data.releases_models)
    project.updated_at = utcnow()
    chosen = list(dict.fromkeys(data.datasets))
    # keep the rows already there, add the new ones
    project.datasets = [d for d in project.datasets if d.dataset in chosen]
    have = {d.dataset for d in project.datasets}
    project.datasets.extend(ProjectDataset(dataset=d) for d in chosen if d not in have)
    # The people listed are invited (an applicant cannot make anyone a member): those
    # already members keep their place with the role given, the others get an
    # invitation (or keep theirs, with the role given); members and invitations no
    # longer listed go.
    wanted = {u.id: role for u, role in members} | {applicant.id: MemberRole.LEAD_RESEARCHER.value}
    if project_id is None:
        project.members = [ProjectMember(user_id=applicant.id, role=wanted[applicant.id])]
        project.members[0].user = applicant
    else:
        project.members = [m for m in project.members if m.user_id in wanted]
        for m in project.members:
            m.role = wanted[m.user_id]
    present = {m.user_id for m in project.members}
    now = utcnow()
    invited: dict[int, ProjectInvitation] = {}
    for inv in project.invitations:
        if inv.state not in OPEN:
            continue
        if inv.user_id in wanted and inv.user_id not in present:
            inv.role = wanted[inv.user_id]
            invited[inv.user_id] = inv
        else:
            inv.state, inv.answered_at = InvitationState.WITHDRAWN.value, now
    for user, role in members:
        if user.id not in present and user.id not in invited:
            inv = ProjectInvitation(
                user_id=user.id,
                role=role,
                invited_by_id=actor.id,
                state=InvitationState.PENDING.value,
                approval=Approval.WITH_APPLICATION.value,
            )
            inv.user = user
            project.invitations.append(inv)
            invited[user.id] = inv
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
            "members": {m.user.name: m.role for m in project.members},
            "invited": {inv.user.name: inv.role for inv in invited.values()},
        },
    )
    session.commit()
    return project


def _widens(project: Project, applicant: User, members: list[tuple[User, str]]) -> bool:
    """Whether saving a draft with ``members`` (besides the applicant) invites
    someone not yet a member or invited, or changes someone's project role."""
    now = {m.user_id: m.role for m in project.members}
    now |= {inv.user_id: inv.role for inv in project.invitations if inv.state in OPEN}
    now.setdefault(applicant.id, MemberRole.LEAD_RESEARCHER.value)
    return any(now.get(user.id) != role for user, role in members)


def _leads(session: Session, project: Project, user: User) -> bool:
    m = membership(session, project.id, user.id)
    return (m is not None and m.role == MemberRole.LEAD_RESEARCHER) or is_admin(session, user)


def why_cannot_submit(session: Session, project: Project) -> str | None:
    """Why the members of ``project`` stop it being submitted (None: every member,
    the lead included, meets the membership rule today, :func:`rule_problem`). The
    check :func:`submit` makes, for the project's page to say before it is tried."""
    problems = [p for m in project.members if (p := _member_problem(session, m.user))]
    if not problems:
        return None
    return (
        f"project {project.id} cannot be submitted: {'; '.join(problems)}. Every member "
        "must hold the researcher role and a valid accreditation"
    )


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
    if reason := why_cannot_submit(session, project):
        _refuse(session, actor.name, "submit", _subject(project_id), reason)
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

#: A decision on an application or on a membership change: both have a reviewer, a
#: kind (panel or owner), a dataset (owners) and a decision.
AnyReview = ProjectReview | ProjectInvitationReview


@dataclass(frozen=True)
class DecisionStatus:
    """Where the review of an application (or of a membership change) stands: the
    panel's current decision, each dataset's owner and their current decision, and
    what is missing."""

    panel: AnyReview | None
    owners: dict[str, tuple[User | None, AnyReview | None]]

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


def _status(session: Session, project: Project, reviews: list[Any]) -> DecisionStatus:
    panel: AnyReview | None = None
    for rev in reviews:  # ordered by id: the last one counts
        if rev.kind == ReviewKind.PANEL:
            panel = rev
    owners: dict[str, tuple[User | None, AnyReview | None]] = {}
    for d in dataset_names(project):
        owner = owner_of(session, d)
        # Only the current owner's latest decision counts (owners can change).
        latest: AnyReview | None = None
        for rev in reviews:
            mine = owner is not None and rev.reviewer_id == owner.id
            if rev.kind == ReviewKind.OWNER and rev.dataset == d and mine:
                latest = rev
        owners[d] = (owner, latest)
    return DecisionStatus(panel, owners)


def decision_status(session: Session, project: Project) -> DecisionStatus:
    """Where the review of the application stands."""
    return _status(session, project, list(project.reviews))


def is_conflicted(session: Session, project: Project, user: User) -> bool:
    """A member or the applicant: never a reviewer of the project (an invitation not
    yet accepted is not membership, and does not count)."""
    return project.applicant_id == user.id or is_member(session, project.id, user.id)


def decides_as(session: Session, project: Project, user: User) -> list[tuple[str, str | None]]:
    """The (kind, dataset) the user may decide as on the project, conflicts aside:
    the panel (a panel member, or an administrator) and the owner of each of its
    datasets they own."""
    found: list[tuple[str, str | None]] = []
    if has_role(session, user, PANEL_ROLE) or is_admin(session, user):
        found.append((ReviewKind.PANEL.value, None))
    for d in dataset_names(project):
        owner = owner_of(session, d)
        if owner is not None and owner.id == user.id:
            found.append((ReviewKind.OWNER.value, d))
    return found


def review_access(session: Session, project: Project, user: User) -> str | None:
    """Why ``user`` may not read the review of the project (None: they may). The
    review is for those who review it: an administrator; a panel member (there is one
    approval panel, and every application that is not a draft is before it); the
    owner of a dataset the project asks for, or a data owner who decided on it
    (their decision stays theirs to read). Never for its applicant or members, whose
    project page shows them the decisions, nor for anyone while it is a draft."""
    if project.state == ProjectState.DRAFT:
        return f"project {project.id} is a draft; nobody reviews it yet"
    if is_admin(session, user):
        return None
    if is_conflicted(session, project, user):
        return (
            f"{user.name} applied for or is a member of project {project.id}, and does "
            "not review it; the project's own page shows its decisions"
        )
    if decides_as(session, project, user) or decided_on(session, project, user):
        return None
    return (
        f"{user.name} does not review project {project.id}: it asks for no dataset they "
        "own, and they are not on the approval panel"
    )


def reviewable_by(session: Session, user: User) -> list[tuple[Project, str, str | None]]:
    """Submitted applications ``user`` can decide on now, as (project, kind, dataset)."""
    found: list[tuple[Project, str, str | None]] = []
    query = select(Project).where(Project.state == ProjectState.SUBMITTED).order_by(Project.id)
    for project in session.scalars(query):
        if is_conflicted(session, project, user):
            continue
        found.extend((project, kind, d) for kind, d in decides_as(session, project, user))
    return found


def _require_reviewer(
    session: Session,
    project: Project,
    reviewer: User,
    kind: str,
    dataset: str | None,
    action: str,
    subject: str,
) -> str | None:
    """Refuse unless ``reviewer`` may decide on the project as ``kind`` (and
    ``dataset``): the panel (panel member or administrator) or the dataset's current
    owner. Returns the dataset the decision is for (None for the panel)."""
    name = reviewer.name
    if kind == ReviewKind.PANEL:
        if not (has_role(session, reviewer, PANEL_ROLE) or is_admin(session, reviewer)):
            _refuse(
                session,
                name,
                action,
                subject,
                f"{name} is not a member of the approval panel (role panel_member)",
            )
        return None
    if kind == ReviewKind.OWNER:
        if dataset is None or dataset not in dataset_names(project):
            _refuse(
                session,
                name,
                action,
                subject,
                f"project {project.id} did not request the dataset {dataset!r}",
            )
        owner = owner_of(session, dataset)
        if owner is None or owner.id != reviewer.id:
            _refuse(
                session,
                name,
                action,
                subject,
                f"{name} is not the owner of {dataset}; only its owner approves access to it",
            )
        return dataset
    raise FivesafesError(f"{kind!r} is not a kind of review; use panel or owner")


def _check_decision(decision: str, comment: str, what: str) -> None:
    if decision not in DECISIONS:
        raise FormErrors({"decision": "Choose approve or reject."})
    if decision == "reject" and not comment.strip():
        raise FormErrors({"comment": f"Say why the {what} is rejected."})


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
    _check_decision(decision, comment, "application")
    if is_conflicted(session, project, reviewer):
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
    dataset = _require_reviewer(session, project, reviewer, kind, dataset, "review", subject)
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
        project.provisioning_note = NO_STORE_NOTE
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


def workspace_twin(session: Session, project: Project, user: User) -> Path:
    """The synthetic twin of the project's workspace (:mod:`fivesafes.data.twin`),
    made on first use and again whenever the workspace is newer; in ``twin/``
    beside the workspace file. For a member who meets the membership rule today
    (:func:`require_member_access`), or an administrator who is not a member. Every
    download is in the audit log."""
    from fivesafes.data.twin import make_twin

    if membership(session, project.id, user.id) is not None or not is_admin(session, user):
        require_member_access(session, project, user, "download the synthetic twin")
    actor = user.name
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


def open_invitation(session: Session, project_id: int, user_id: int) -> ProjectInvitation | None:
    """The user's invitation to the project still waiting for an answer, if any."""
    return session.scalar(
        select(ProjectInvitation).where(
            ProjectInvitation.project_id == project_id,
            ProjectInvitation.user_id == user_id,
            ProjectInvitation.state.in_(OPEN),
        )
    )


def get_invitation(session: Session, invitation_id: int) -> ProjectInvitation:
    session.expire_all()
    inv = session.get(ProjectInvitation, invitation_id)
    if inv is None:
        raise FivesafesError(f"there is no invitation {invitation_id}")
    return inv


def invitations_of(session: Session, user: User) -> list[ProjectInvitation]:
    """The user's invitations waiting for their answer, newest first."""
    query = (
        select(ProjectInvitation)
        .where(ProjectInvitation.user_id == user.id, ProjectInvitation.state.in_(OPEN))
        .order_by(ProjectInvitation.id.desc())
    )
    return list(session.scalars(query))


def open_invitations(project: Project) -> list[ProjectInvitation]:
    """The project's invitations still waiting for an answer (or for the approvers)."""
    return [inv for inv in project.invitations if inv.state in OPEN]


def _same_organisation(user: User, project: Project) -> bool:
    mine = (user.organisation or "").strip().casefold()
    return bool(mine) and mine == project.organisation.strip().casefold()


def rule_allowing(session: Session, project: Project, user: User, role: str) -> str | None:
    """The membership rule in force on the project that lets ``user`` join in
    ``role`` without the approvers' decision, if any."""
    if (
        "same_organisation" in rules_in_force(session, project)
        and role == MemberRole.RESEARCHER.value
        and _same_organisation(user, project)
    ):
        return "same_organisation"
    return None


def invite(
    session: Session, project_id: int, actor: User, who: str, role: str
) -> ProjectInvitation:
    """A lead researcher (or an administrator) invites a researcher to join with a
    project role. The invitee becomes a member only by accepting
    (:func:`answer_invitation`); joining an approved project also waits for the
    panel and the owner of every dataset of the project (:func:`review_invitation`)
    unless a membership rule they set allows it (:func:`rule_allowing`)."""
    project = get_project(session, project_id)
    subject = _subject(project_id)
    if not _leads(session, project, actor):
        _refuse(
            session,
            actor.name,
            "invite",
            subject,
            f"{actor.name} is not a lead researcher of project {project_id}",
        )
    if reason := why_cannot_manage(session, project, actor):
        _refuse(session, actor.name, "invite", subject, reason)
    if role not in MEMBER_ROLE_LABELS:
        raise FormErrors({"role": "Choose researcher or lead researcher."})
    user = find_person(session, who)
    if user is None:
        raise FormErrors({"who": f"Nobody is registered as {who.strip()!r}."})
    if membership(session, project.id, user.id) is not None:
        raise FormErrors({"who": f"{user.name} is already a member."})
    if open_invitation(session, project.id, user.id) is not None:
        raise FormErrors({"who": f"{user.name} is invited already and has not answered yet."})
    if problem := why_not_invited(session, user):
        raise FormErrors({"who": problem[0].upper() + problem[1:]})
    if project.state in (ProjectState.SUBMITTED, ProjectState.REJECTED):
        _refuse(
            session,
            actor.name,
            "invite",
            subject,
            f"project {project_id} is {project.state}; members change before it is submitted "
            "or once it is approved",
        )
    rule = None
    if project.state == ProjectState.DRAFT:
        approval = Approval.WITH_APPLICATION.value
    elif rule := rule_allowing(session, project, user, role):
        approval = Approval.BY_RULE.value
    else:
        approval = Approval.NEEDED.value
    inv = ProjectInvitation(
        user_id=user.id,
        role=role,
        invited_by_id=actor.id,
        state=InvitationState.PENDING.value,
        approval=approval,
        rule=rule,
    )
    inv.user, inv.invited_by = user, actor
    project.invitations.append(inv)
    session.flush()
    record(
        session,
        actor.name,
        "project.invite",
        subject,
        {
            "invitation": inv.id,
            "invitee": user.name,
            "role": role,
            "approval": approval,
            "rule": rule,
        },
    )
    session.commit()
    return inv


def add_member(
    session: Session, project_id: int, actor: User, who: str, role: str
) -> ProjectInvitation:
    """What ``POST /projects/{id}/members`` does: :func:`invite` (nobody is made a
    member without accepting)."""
    return invite(session, project_id, actor, who, role)


def _open_for_answer(
    session: Session, invitation_id: int, user: User, action: str
) -> tuple[ProjectInvitation, Project]:
    inv = get_invitation(session, invitation_id)
    subject = _subject(inv.project_id)
    if inv.user_id != user.id:
        _refuse(
            session,
            user.name,
            action,
            subject,
            f"invitation {invitation_id} is not {user.name}'s; only the person invited answers it",
        )
    if inv.state not in OPEN:
        _refuse(
            session,
            user.name,
            action,
            subject,
            f"invitation {invitation_id} is {inv.state}; there is nothing left to answer",
        )
    return inv, inv.project


def answer_invitation(
    session: Session, invitation_id: int, user: User, accept: bool
) -> ProjectInvitation:
    """The invitee accepts (and becomes a member, if :func:`why_cannot_join` allows
    and joining is approved) or declines their invitation."""
    action = "accept_invitation" if accept else "decline_invitation"
    inv, project = _open_for_answer(session, invitation_id, user, action)
    subject = _subject(project.id)
    if not accept:
        inv.state, inv.answered_at = InvitationState.DECLINED.value, utcnow()
        record(
            session,
            user.name,
            "project.invitation_decline",
            subject,
            {"invitation": inv.id, "role": inv.role},
        )
        session.commit()
        return inv
    if project.state in (ProjectState.SUBMITTED, ProjectState.REJECTED):
        when = "once it is decided" if project.state == ProjectState.SUBMITTED else "no longer"
        _refuse(
            session,
            user.name,
            action,
            subject,
            f"project {project.id} is {project.state}; its members do not change while it is "
            f"under review, and the invitation can be accepted {when}",
        )
    if inv.approval == Approval.NEEDED:
        _refuse(
            session,
            user.name,
            action,
            subject,
            f"joining project {project.id} waits for the approval panel and the owners of "
            "its datasets; the invitation can be accepted once they have approved it",
        )
    if problem := why_cannot_join(session, project, user):
        _refuse(session, user.name, action, subject, problem)
    member = ProjectMember(user_id=user.id, role=inv.role)
    member.user = user
    project.members.append(member)
    inv.state, inv.answered_at = InvitationState.ACCEPTED.value, utcnow()
    session.flush()
    record(
        session,
        user.name,
        "project.member_add",
        subject,
        {
            "member": user.name,
            "role": inv.role,
            "invitation": inv.id,
            "approval": inv.approval,
            "rule": inv.rule,
        },
    )
    session.commit()
    return inv


def withdraw_invitation(session: Session, invitation_id: int, actor: User) -> ProjectInvitation:
    """A lead researcher (or an administrator) withdraws an unanswered invitation."""
    inv = get_invitation(session, invitation_id)
    project = inv.project
    if not _leads(session, project, actor):
        _refuse(
            session,
            actor.name,
            "withdraw_invitation",
            _subject(project.id),
            f"{actor.name} is not a lead researcher of project {project.id}",
        )
    if inv.state not in OPEN:
        _refuse(
            session,
            actor.name,
            "withdraw_invitation",
            _subject(project.id),
            f"invitation {invitation_id} is {inv.state}; only an unanswered one is withdrawn",
        )
    inv.state, inv.answered_at = InvitationState.WITHDRAWN.value, utcnow()
    record(
        session,
        actor.name,
        "project.invitation_withdraw",
        _subject(project.id),
        {"invitation": inv.id, "invitee": inv.user.name},
    )
    session.commit()
    return inv


# --- membership changes before the approvers ---------------------------------------------


def invitation_status(session: Session, inv: ProjectInvitation) -> DecisionStatus:
    """Where the approvers' decision on a membership change stands."""
    return _status(session, inv.project, list(inv.reviews))


def _awaits_approval(inv: ProjectInvitation) -> bool:
    return inv.state in OPEN and inv.approval == Approval.NEEDED


def changes_to_review(session: Session, project: Project, user: User) -> list[ProjectInvitation]:
    """The project's membership changes waiting for the approvers that ``user`` may
    decide on (as the panel or as a dataset's owner)."""
    if project.state != ProjectState.APPROVED or is_conflicted(session, project, user):
        return []
    if not decides_as(session, project, user):
        return []
    return [inv for inv in project.invitations if _awaits_approval(inv) and inv.user_id != user.id]


def membership_changes_for(
    session: Session, user: User
) -> list[tuple[ProjectInvitation, str, str | None]]:
    """Membership changes ``user`` can decide on now, as (invitation, kind, dataset)."""
    found: list[tuple[ProjectInvitation, str, str | None]] = []
    query = (
        select(ProjectInvitation)
        .join(Project, Project.id == ProjectInvitation.project_id)
        .where(
            Project.state == ProjectState.APPROVED,
            ProjectInvitation.state.in_(OPEN),
            ProjectInvitation.approval == Approval.NEEDED.value,
            ProjectInvitation.user_id != user.id,
        )
        .order_by(ProjectInvitation.id)
    )
    for inv in session.scalars(query):
        if is_conflicted(session, inv.project, user):
            continue
        found.extend((inv, kind, d) for kind, d in decides_as(session, inv.project, user))
    return found


def review_invitation(
    session: Session,
    invitation_id: int,
    reviewer: User,
    kind: str,
    decision: str,
    comment: str = "",
    dataset: str | None = None,
) -> ProjectInvitation:
    """A decision on a membership change of an approved project, by the panel or by
    the owner of one of its datasets. Approved by all of them, the invitee may
    accept; refused by any of them, the invitation is closed."""
    inv = get_invitation(session, invitation_id)
    project = inv.project
    subject = _subject(project.id)
    name = reviewer.name
    action = "review_invitation"
    _check_decision(decision, comment, "membership change")
    if is_conflicted(session, project, reviewer) or inv.user_id == reviewer.id:
        _refuse(
            session,
            name,
            action,
            subject,
            f"{name} is the person invited, the applicant or a member of project "
            f"{project.id}, and cannot decide who joins it; another panel member or the "
            "dataset's owner must",
        )
    if not _awaits_approval(inv):
        _refuse(
            session,
            name,
            action,
            subject,
            f"invitation {invitation_id} does not wait for a decision (it is {inv.state}, "
            f"approval {inv.approval})",
        )
    dataset = _require_reviewer(session, project, reviewer, kind, dataset, action, subject)
    rev = ProjectInvitationReview(
        reviewer_id=reviewer.id,
        kind=kind,
        dataset=dataset,
        decision=decision,
        comment=comment.strip(),
    )
    rev.reviewer = reviewer
    inv.reviews.append(rev)
    session.flush()
    details = {
        "invitation": inv.id,
        "invitee": inv.user.name,
        "role": inv.role,
        "kind": kind,
        "dataset": dataset,
        "decision": decision,
        "comment": comment.strip(),
    }
    record(session, name, "project.invitation_review", subject, details)
    status = invitation_status(session, inv)
    if status.rejected:
        inv.approval, inv.state = Approval.REJECTED.value, InvitationState.REFUSED.value
        inv.decided_at = utcnow()
        record(session, name, "project.invitation_refuse", subject, {"invitation": inv.id})
    elif not status.missing:
        inv.approval, inv.decided_at = Approval.APPROVED.value, utcnow()
        record(session, name, "project.invitation_approve", subject, {"invitation": inv.id})
    session.commit()
    return inv


# --- membership rules ----------------------------------------------------------------------


def _rule_status(session: Session, project: Project, rule: str) -> DecisionStatus:
    """The approvers' latest word on ``rule``, as a decision status (``approve``:
    allowed)."""

    @dataclass(frozen=True)
    class Word:
        kind: str
        dataset: str | None
        reviewer_id: int
        reviewer: User
        decision: str
        comment: str = ""

    words = [
        Word(c.kind, c.dataset, c.reviewer_id, c.reviewer, "approve" if c.allow else "withdraw")
        for c in project.rule_consents
        if c.rule == rule
    ]
    return _status(session, project, words)


def rules_in_force(session: Session, project: Project) -> set[str]:
    """The membership rules the panel and every dataset's current owner allow now."""
    if project.state != ProjectState.APPROVED:
        return set()
    return {r for r in RULES if not _rule_status(session, project, r).missing}


def rule_statuses(session: Session, project: Project) -> dict[str, DecisionStatus]:
    """Each membership rule and who allows it now."""
    return {r: _rule_status(session, project, r) for r in RULES}


def set_rule(
    session: Session,
    project_id: int,
    reviewer: User,
    kind: str,
    rule: str,
    allow: bool,
    dataset: str | None = None,
) -> ProjectRuleConsent:
    """An approver (the panel, or the owner of one of the project's datasets) allows
    a membership rule on an approved project, or withdraws their allowance. A rule
    is in force only while all of them allow it."""
    project = get_project(session, project_id)
    subject = _subject(project_id)
    name = reviewer.name
    if rule not in RULES:
        raise FormErrors({"rule": f"{rule!r} is not a membership rule."})
    if is_conflicted(session, project, reviewer):
        _refuse(
            session,
            name,
            "set_rule",
            subject,
            f"{name} applied for or is a member of project {project_id}, and does not set "
            "its membership rules",
        )
    if project.state != ProjectState.APPROVED:
        _refuse(
            session,
            name,
            "set_rule",
            subject,
            f"project {project_id} is {project.state}; membership rules are set on an "
            "approved project",
        )
    dataset = _require_reviewer(session, project, reviewer, kind, dataset, "set_rule", subject)
    row = ProjectRuleConsent(
        reviewer_id=reviewer.id, kind=kind, dataset=dataset, rule=rule, allow=allow
    )
    row.reviewer = reviewer
    project.rule_consents.append(row)
    session.flush()
    record(
        session,
        name,
        "project.rule",
        subject,
        {"rule": rule, "allow": allow, "kind": kind, "dataset": dataset},
    )
    session.commit()
    return row


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


def output_kinds(project: Project, extra: Sequence[str] = ()) -> list[str]:
    """The kinds of output the project releases, for precision training: ``model``
    when its application says it releases trained models, and any in ``extra``
    (the kinds in a release request being assembled)."""
    kinds = ["model"] if project.releases_models else []
    return list(dict.fromkeys([*kinds, *extra]))


def outstanding_courses(
    session: Session, project: Project, user: User, outputs: Sequence[str] = ()
) -> list[Any]:
    """The courses ``user`` must still pass for this project's datasets, their role
    in it and the kinds of output it releases (:func:`output_kinds`, with
    ``outputs`` added); empty: their learning plan is complete. Uses the learning
    platform (:mod:`fivesafes.people.plan`); without it, nothing is outstanding."""
    try:
        from fivesafes.people.plan import outstanding_courses as plan
    except ImportError:
        return []
    member = membership(session, project.id, user.id)
    role = member.role if member is not None else MemberRole.RESEARCHER.value
    return list(
        plan(
            session,
            user.id,
            dataset_names(project),
            PLAN_ROLES[role],
            outputs=output_kinds(project, outputs),
        )
    )


def describe(project: Project) -> dict[str, Any]:
    """An application as plain data."""
    return {
        "id": project.id,
        "slug": project.slug,
        "title": project.title,
        "state": project.state,
        "organisation": project.organisation,
        "datasets": dataset_names(project),
        "releases_models": bool(project.releases_models),
        "members": [{"name": m.user.name, "role": m.role} for m in project.members],
        "invitations": [
            {"name": inv.user.name, "role": inv.role, "approval": inv.approval}
            for inv in open_invitations(project)
        ],
        "provisioning": project.provisioning,
    }
