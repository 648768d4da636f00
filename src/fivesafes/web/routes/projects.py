"""Safe projects in the browser: the application form, review by the approval
panel and the dataset owners, membership (invitations a lead sends and the
invitee accepts or declines; membership changes of an approved project and the
membership rules, decided by the approvers), the workspace page, dataset owners
(administrators), and the public register (HTML and JSON).

Every rule is in :mod:`fivesafes.projects.applications`; these pages only call it.
Pages of one project need membership (:data:`require_member`: 403 for a logged-in
user who is not a member; administrators pass); those that reach its data or
outputs need a member who meets the membership rule today
(:data:`require_member_access`); its review pages need to be one of
its reviewers (:data:`require_reviewer`, :func:`~fivesafes.projects.applications.review_access`);
an invitation's pages are for the person invited (:data:`require_invitee`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from fivesafes.appdb.models import Role, User
from fivesafes.datasets import DATASETS
from fivesafes.errors import FivesafesError, PolicyRefusal
from fivesafes.jobs.queue import jobs_of
from fivesafes.projects import applications as apps
from fivesafes.projects.models import (
    MemberRole,
    Project,
    ProjectInvitation,
    ProjectMember,
    ProjectState,
)
from fivesafes.projects.register import public_register
from fivesafes.projects.release import requests_of
from fivesafes.web.deps import DB, Forbidden, LoggedIn, require_role
from fivesafes.web.forms import Posted
from fivesafes.web.i18n import N_, Labels, _, gettext_plain, options
from fivesafes.web.routes._common import done
from fivesafes.web.templating import as_sentence, refusal_page, render

router = APIRouter()

DATASET_OPTIONS = [(d.name, f"{d.title} ({d.name})") for d in DATASETS]
DATASET_TITLES = {d.name: d.title for d in DATASETS}
ROLE_OPTIONS = list(apps.MEMBER_ROLE_LABELS.items())
STATE_LABELS = Labels(
    {
        "draft": N_("Draft"),
        "submitted": N_("Awaiting review"),
        "approved": N_("Approved"),
        "rejected": N_("Rejected"),
    }
)
#: What a reviewer is told once their decision is recorded, by the application's state.
DECIDED = Labels(
    {
        "approved": N_("Your decision is recorded. The application is approved."),
        "rejected": N_("Your decision is recorded. The application is rejected."),
        "submitted": N_(
            "Your decision is recorded. The application waits for the other reviewers."
        ),
    }
)
#: What the page refusing a step until the learning plan is complete says, by the
#: step (one whole sentence each, for the translators).
PLAN_STEPS = {
    "use the workspace": N_(
        "Before you can use the workspace of %(title)s, pass the courses this project's "
        "datasets and your role in it require."
    ),
    "request a release": N_(
        "Before you can start a release request in %(title)s, pass the courses this "
        "project's datasets and your role in it require."
    ),
    "see a release request": N_(
        "Before you can see a release request of %(title)s, pass the courses this "
        "project's datasets and your role in it require."
    ),
    "add outputs to a release request": N_(
        "Before you can add outputs to a release request of %(title)s, pass the courses "
        "this project's datasets and your role in it require."
    ),
    "put a trained model into a release request": N_(
        "Before you can put a trained model into a release request of %(title)s, pass "
        "the courses this project's datasets and your role in it require."
    ),
    "submit a release request": N_(
        "Before you can submit a release request of %(title)s, pass the courses this "
        "project's datasets and your role in it require."
    ),
}


def plan_required(request: Request, project: Project, courses: Any, step: str) -> HTMLResponse:
    """The page refusing ``step`` (a key of :data:`PLAN_STEPS`) until the user has
    passed ``courses``, the rest of their learning plan for ``project``."""
    return render(
        request,
        "projects/plan_required.html",
        status_code=403,
        project=project,
        courses=courses,
        plan_url=LEARNING_PLAN_URL.format(project_id=project.id),
        lead=_(PLAN_STEPS[step], title=project.title),
    )


#: Where the learning platform shows a member their plan for a project.
LEARNING_PLAN_URL = "/learning/plan?project={project_id}"


@dataclass
class ProjectAccess:
    """The project of the page, the user, and their membership (None for an
    administrator who is not a member)."""

    project: Project
    user: User
    member: ProjectMember | None

    @property
    def is_lead(self) -> bool:
        return (
            self.member is not None and self.member.role == MemberRole.LEAD_RESEARCHER
        ) or self.user.has_role(Role.ADMINISTRATOR.value)


def project_or_404(db: Session, project_id: int) -> Project:
    project = db.get(Project, project_id)
    if project is None:
        raise HTTPException(404, _("There is no such project."))
    return project


class MembershipRequirement:
    """Dependency: the page's project (path parameter ``project_id``) and the user,
    if they are a member of it (administrators pass); else 403."""

    access: ClassVar[dict[str, Any]] = {"project_member": True, "path_param": "project_id"}

    def __call__(self, project_id: int, user: LoggedIn, db: DB) -> ProjectAccess:
        project = project_or_404(db, project_id)
        member = apps.membership(db, project.id, user.id)
        if member is None and not user.has_role(Role.ADMINISTRATOR.value):
            raise Forbidden(_("This page is for the members of this project."))
        if member is not None and (problem := apps.why_never_a_member(db, user)):
            # made a linkage operator after joining: the zones are never mixed
            raise Forbidden(reason=as_sentence(problem))
        return ProjectAccess(project, user, member)

    def __repr__(self) -> str:
        return "require_member"


require_member = MembershipRequirement()
Member = Annotated[ProjectAccess, Depends(require_member)]


class MemberAccessRequirement(MembershipRequirement):
    """Dependency of the pages that reach a project's data or outputs (workspace,
    synthetic twin, jobs, release requests, bundles): as :data:`require_member`, and
    a member must meet the membership rule today
    (:func:`~fivesafes.projects.applications.why_no_member_access`: the researcher
    role and a valid safe researcher accreditation). A member who no longer does
    stays a member but gets 403 with the reason and what to do, and the refusal is
    written to the audit log (``project.refused``), as the library's are. An
    administrator who is not a member passes as before (their role, not membership,
    lets them in)."""

    access: ClassVar[dict[str, Any]] = {
        "project_member": True,
        "member_access": True,
        "path_param": "project_id",
    }

    def __call__(  # type: ignore[override]
        self, request: Request, project_id: int, user: LoggedIn, db: DB
    ) -> ProjectAccess:
        access = super().__call__(project_id, user, db)
        if access.member is None:
            return access  # an administrator, by their role
        if reason := apps.why_no_member_access(db, access.project, user):
            with request.app.state.db.session(write=True) as writer:
                action = f"{request.method} {request.url.path}"
                apps.record_member_refusal(writer, access.project.id, user, action, reason)
            raise Forbidden(reason=as_sentence(reason))
        return access

    def __repr__(self) -> str:
        return "require_member_access"


require_member_access = MemberAccessRequirement()
#: The project's data and outputs: a member meeting the membership rule today.
MemberAccess = Annotated[ProjectAccess, Depends(require_member_access)]
ReviewerRole = Annotated[User, Depends(require_role("panel_member", "data_owner"))]


@dataclass
class ReviewAccess:
    """The project under review and the reviewer."""

    project: Project
    user: User


class ReviewerRequirement:
    """Dependency: the page's project (path parameter ``project_id``) and the user, if
    they are one of its reviewers (:func:`apps.review_access`); a draft is not found
    (404); anyone else holding the panel or data owner role gets 403."""

    access: ClassVar[dict[str, Any]] = {"project_reviewer": True, "path_param": "project_id"}

    def __call__(self, project_id: int, user: ReviewerRole, db: DB) -> ReviewAccess:
        project = project_or_404(db, project_id)
        if project.state == ProjectState.DRAFT:
            raise HTTPException(404, _("There is no such application to review."))
        if problem := apps.review_access(db, project, user):
            raise Forbidden(reason=as_sentence(problem))
        return ReviewAccess(project, user)

    def __repr__(self) -> str:
        return "require_reviewer"


require_reviewer = ReviewerRequirement()
Reviewer = Annotated[ReviewAccess, Depends(require_reviewer)]


class InviteeRequirement:
    """Dependency: the invitation of the path (``invitation_id``) if it is the
    logged-in user's; else 404 (no such invitation) or 403."""

    access: ClassVar[dict[str, Any]] = {"invitee": True, "path_param": "invitation_id"}

    def __call__(self, invitation_id: int, user: LoggedIn, db: DB) -> ProjectInvitation:
        inv = db.get(ProjectInvitation, invitation_id)
        if inv is None:
            raise HTTPException(404, _("There is no such invitation."))
        if inv.user_id != user.id:
            raise Forbidden(_("This invitation is for someone else."))
        return inv

    def __repr__(self) -> str:
        return "require_invitee"


require_invitee = InviteeRequirement()
Invitee = Annotated[ProjectInvitation, Depends(require_invitee)]
Admin = Annotated[User, Depends(require_role(Role.ADMINISTRATOR.value))]
Researcher = Annotated[User, Depends(require_role(Role.RESEARCHER.value))]


def refused(
    request: Request, message: str, status_code: int = 403, back: tuple[str, str] | None = None
) -> HTMLResponse:
    """The page refusing a step, with the web app's own (translated) ``message``;
    ``back`` is (address, link text) of the page the step was taken from."""
    return refusal_page(request, status_code, message=message, back=back)


def refused_by(
    request: Request, exc: Exception, status_code: int = 403, back: tuple[str, str] | None = None
) -> HTMLResponse:
    """The page refusing a step for the library's reason ``exc`` (a
    :class:`PolicyRefusal` or another :class:`FivesafesError`): a translated
    heading and explanation, then the reason as the library wrote it (English)."""
    return refusal_page(request, status_code, reason=str(exc), back=back)


# --- the public register (fixed routes first: /projects/{project_id} would match) ----


@router.get("/projects/public", response_class=HTMLResponse)
def register_page(request: Request, db: DB) -> HTMLResponse:
    return render(request, "projects/register.html", projects=public_register(db))


@router.get("/projects/public.json")
def register_json(db: DB) -> JSONResponse:
    return JSONResponse({"projects": public_register(db)})


# --- my projects, applying ---------------------------------------------------------------


@router.get("/projects", response_class=HTMLResponse)
def index(request: Request, user: LoggedIn, db: DB) -> HTMLResponse:
    return render(
        request,
        "projects/index.html",
        projects=apps.projects_of(db, user),
        invitations=apps.invitations_of(db, user),
        to_review=apps.reviewable_by(db, user),
        changes=apps.membership_changes_for(db, user),
        state_labels=STATE_LABELS,
        role_labels=Labels(apps.MEMBER_ROLE_LABELS),
        can_apply=user.has_role(Role.RESEARCHER.value),
    )


def _form_values(form: dict[str, str], datasets: list[str]) -> apps.ApplicationInput:
    return apps.ApplicationInput(
        title=form.get("title", ""),
        lay_summary=form.get("lay_summary", ""),
        public_benefit=form.get("public_benefit", ""),
        organisation=form.get("organisation", ""),
        datasets=datasets,
        members=form.get("members", ""),
        releases_models=form.get("releases_models", "") == "1",
    )


def _application_page(
    request: Request,
    values: apps.ApplicationInput,
    errors: dict[str, str] | None = None,
    project: Project | None = None,
    status_code: int = 200,
    no_manage: str | None = None,
) -> HTMLResponse:
    """The application form; ``no_manage`` is why the user may not invite anyone or
    change a project role in it (:func:`apps.why_cannot_manage`), said above the
    members they list (removing one stays open)."""
    return render(
        request,
        "projects/apply.html",
        status_code=status_code,
        values=values,
        errors=errors or {},
        project=project,
        dataset_options=DATASET_OPTIONS,
        no_manage=no_manage,
        plan_url=LEARNING_PLAN_URL.format(project_id=project.id) if project else "",
    )


@router.get("/projects/new", response_class=HTMLResponse)
def new_application(request: Request, user: Researcher) -> HTMLResponse:
    values = apps.ApplicationInput(organisation=getattr(user, "organisation", "") or "")
    return _application_page(request, values)


@router.post("/projects/new", response_class=HTMLResponse)
def create_application(request: Request, user: Researcher, db: DB, form: Posted) -> Response:
    values = _form_values(form, form.getlist("datasets"))
    try:
        project = apps.save_draft(db, user, values)
    except apps.FormErrors as exc:
        return _application_page(request, values, exc.errors, status_code=422)
    return done(
        request,
        db,
        _("Your application is saved as a draft. Submit it when it is ready."),
        f"/projects/{project.id}",
    )


# --- dataset owners (administrators) -----------------------------------------------------


@router.get("/projects/dataset-owners", response_class=HTMLResponse)
def dataset_owners(request: Request, admin: Admin, db: DB) -> HTMLResponse:
    return _owners_page(request, db)


def _owners_page(
    request: Request,
    db: Session,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "projects/owners.html",
        status_code=status_code,
        owners=apps.owners(db),
        titles=DATASET_TITLES,
        dataset_options=DATASET_OPTIONS,
        errors=errors or {},
        values=values or {},
    )


@router.post("/projects/dataset-owners", response_class=HTMLResponse)
def assign_owner(request: Request, admin: Admin, db: DB, form: Posted) -> Response:
    dataset, who = form.get("dataset", ""), form.get("who", "")
    try:
        row = apps.assign_owner(db, admin, dataset, who)
    except apps.FormErrors as exc:
        return _owners_page(request, db, exc.errors, dict(form), 422)
    return done(
        request,
        db,
        _("%(user)s now approves access to %(dataset)s.", user=row.user.name, dataset=dataset),
        "/projects/dataset-owners",
    )


# --- one project -------------------------------------------------------------------------


def _project_page(
    request: Request,
    db: Session,
    access: ProjectAccess,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    project = access.project
    user, member = access.user, access.member
    # What the page's controls would be refused (the library's reasons, said before
    # they are tried): the workspace and the release requests for a member who no
    # longer meets the membership rule; inviting and project roles for such a lead
    # (removing a member and withdrawing an invitation stay open); submitting while
    # any member does not meet it.
    no_access = apps.why_no_member_access(db, project, user) if member is not None else None
    no_manage = apps.why_cannot_manage(db, project, user) if access.is_lead else None
    no_submit = (
        apps.why_cannot_submit(db, project)
        if access.is_lead and project.state == ProjectState.DRAFT
        else None
    )
    lapse = apps.rule_problem(db, user) if no_access or no_manage else None
    return render(
        request,
        "projects/show.html",
        status_code=status_code,
        project=project,
        access=access,
        no_access=no_access,
        no_manage=no_manage,
        no_submit=no_submit,
        renew_accreditation=lapse is not None and lapse.condition == "accreditation",
        plan_url=LEARNING_PLAN_URL.format(project_id=project.id),
        status=apps.decision_status(db, project),
        state_labels=STATE_LABELS,
        titles=DATASET_TITLES,
        role_labels=Labels(apps.MEMBER_ROLE_LABELS),
        role_options=options(ROLE_OPTIONS),
        approval_labels=APPROVAL_LABELS,
        invitations=apps.open_invitations(project),
        rules=sorted(apps.rules_in_force(db, project)),
        rule_texts=Labels(apps.RULES),
        requests=requests_of(db, project),
        errors=errors or {},
        values=values or {},
    )


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def show(request: Request, access: Member, db: DB) -> HTMLResponse:
    return _project_page(request, db, access)


@router.get("/projects/{project_id}/edit", response_class=HTMLResponse)
def edit(request: Request, access: Member, db: DB) -> HTMLResponse:
    p = access.project
    if p.state != ProjectState.DRAFT or not access.is_lead:
        return refused(request, _("Only a lead researcher changes an application, while a draft."))
    others = [
        f"{m.user.email or m.user.name}, {m.role}" for m in p.members if m.user_id != p.applicant_id
    ] + [f"{i.user.email or i.user.name}, {i.role}" for i in apps.open_invitations(p)]
    values = apps.ApplicationInput(
        title=p.title,
        lay_summary=p.lay_summary,
        public_benefit=p.public_benefit,
        organisation=p.organisation,
        datasets=apps.dataset_names(p),
        members="\n".join(others),
        releases_models=bool(p.releases_models),
    )
    no_manage = apps.why_cannot_manage(db, p, access.user)
    return _application_page(request, values, project=p, no_manage=no_manage)


@router.post("/projects/{project_id}/edit", response_class=HTMLResponse)
def update(request: Request, access: Member, db: DB, form: Posted) -> Response:
    values = _form_values(form, form.getlist("datasets"))
    try:
        apps.save_draft(db, access.user, values, access.project.id)
    except apps.FormErrors as exc:
        no_manage = apps.why_cannot_manage(db, access.project, access.user)
        return _application_page(request, values, exc.errors, access.project, 422, no_manage)
    except PolicyRefusal as exc:
        return refused_by(request, exc)
    return done(request, db, _("Your changes are saved."), f"/projects/{access.project.id}")


@router.post("/projects/{project_id}/submit", response_class=HTMLResponse)
def submit(request: Request, access: Member, db: DB) -> Response:
    try:
        apps.submit(db, access.project.id, access.user)
    except PolicyRefusal as exc:
        return refused_by(request, exc)
    return done(
        request,
        db,
        _("Submitted: the approval panel and the owners of the datasets review it."),
        f"/projects/{access.project.id}",
    )


#: What the invitation waits for, as its lead sees it.
APPROVAL_LABELS = Labels(
    {
        "with_application": N_("Approved with the application"),
        "by_rule": N_("Allowed by the project's membership rule"),
        "needed": N_("Waiting for the approval panel and the dataset owners"),
        "approved": N_("Approved by the panel and the dataset owners"),
        "rejected": N_("Refused by the approvers"),
    }
)
INVITED_MESSAGES = Labels(
    {
        "with_application": N_(
            "The approval panel and the dataset owners see the invitation with the application."
        ),
        "by_rule": N_("The project's membership rule allows it without a further decision."),
        "needed": N_(
            "The project is approved, so the approval panel and the owners of its "
            "datasets decide on it first."
        ),
    }
)


@router.post("/projects/{project_id}/members", response_class=HTMLResponse)
def add_member(request: Request, access: Member, db: DB, form: Posted) -> Response:
    """Invite someone to join (the route keeps its name: nobody becomes a member
    without accepting)."""
    project_id = access.project.id
    try:
        inv = apps.invite(db, project_id, access.user, form.get("who", ""), form.get("role", ""))
    except apps.FormErrors as exc:
        db.rollback()
        project = apps.get_project(db, project_id)
        again = ProjectAccess(project, access.user, access.member)
        return _project_page(request, db, again, exc.errors, dict(form), 422)
    except PolicyRefusal as exc:
        return refused_by(request, exc)
    return done(
        request,
        db,
        _(
            "%(user)s is invited, and becomes a member only by accepting. %(next)s",
            user=inv.user.name,
            next=INVITED_MESSAGES.get(inv.approval, ""),
        ).strip(),
        f"/projects/{project_id}#members",
    )


@router.post(
    "/projects/{project_id}/invitations/{invitation_id}/withdraw", response_class=HTMLResponse
)
def withdraw_invitation(request: Request, access: Member, invitation_id: int, db: DB) -> Response:
    inv = db.get(ProjectInvitation, invitation_id)
    if inv is None or inv.project_id != access.project.id:
        return refused(request, _("There is no such invitation to this project."), 404)
    try:
        apps.withdraw_invitation(db, invitation_id, access.user)
    except PolicyRefusal as exc:
        return refused_by(request, exc)
    return done(
        request, db, _("The invitation is withdrawn."), f"/projects/{access.project.id}#members"
    )


# --- an invitation, for the person invited ------------------------------------------------


@router.get("/invitations/{invitation_id}", response_class=HTMLResponse)
def invitation_page(request: Request, inv: Invitee, db: DB) -> HTMLResponse:
    project = inv.project
    return render(
        request,
        "projects/invitation.html",
        inv=inv,
        project=project,
        problem=apps.why_cannot_join(db, project, inv.user),
        titles=DATASET_TITLES,
        state_labels=STATE_LABELS,
        role_labels=Labels(apps.MEMBER_ROLE_LABELS),
        approval_labels=APPROVAL_LABELS,
    )


def _answer(request: Request, inv: ProjectInvitation, db: Session, accept: bool) -> Response:
    invitation_id, project_id, user = inv.id, inv.project_id, inv.user
    back = (f"/invitations/{invitation_id}", _("Back to the invitation"))
    try:
        apps.answer_invitation(db, invitation_id, user, accept)
    except PolicyRefusal as exc:
        return refused_by(request, exc, back=back)
    if accept:
        return done(
            request,
            db,
            _(
                "You are a member of the project. Your learning plan says what you "
                "must pass before you use the workspace."
            ),
            f"/projects/{project_id}",
        )
    return done(request, db, _("You declined the invitation."), "/projects")


@router.post("/invitations/{invitation_id}/accept", response_class=HTMLResponse)
def accept_invitation(request: Request, inv: Invitee, db: DB) -> Response:
    return _answer(request, inv, db, accept=True)


@router.post("/invitations/{invitation_id}/decline", response_class=HTMLResponse)
def decline_invitation(request: Request, inv: Invitee, db: DB) -> Response:
    return _answer(request, inv, db, accept=False)


@router.post("/projects/{project_id}/members/{user_id}/remove", response_class=HTMLResponse)
def remove_member(request: Request, access: Member, user_id: int, db: DB) -> Response:
    try:
        apps.remove_member(db, access.project.id, access.user, user_id)
    except PolicyRefusal as exc:
        return refused_by(request, exc)
    except FivesafesError as exc:
        return refused_by(request, exc, 404)
    return done(request, db, _("The member was removed."), f"/projects/{access.project.id}#members")


@router.post("/projects/{project_id}/provision", response_class=HTMLResponse)
def provision(request: Request, project_id: int, admin: Admin, db: DB) -> Response:
    project_or_404(db, project_id)
    try:
        project = apps.provision_workspace(db, project_id, admin.name)
    except PolicyRefusal as exc:
        return refused_by(request, exc)
    message = (
        _("The workspace is provisioned.")
        if project.workspace
        else _(
            "Not provisioned: %(provisioning_note)s",
            provisioning_note=gettext_plain(project.provisioning_note or ""),
        )
    )
    return done(request, db, message, f"/projects/{project_id}")


@router.get("/projects/{project_id}/workspace", response_class=HTMLResponse)
def workspace(request: Request, access: MemberAccess, db: DB) -> HTMLResponse:
    project = access.project
    outstanding = apps.outstanding_courses(db, project, access.user) if access.member else []
    if outstanding:
        return plan_required(request, project, outstanding, "use the workspace")
    return render(
        request,
        "projects/workspace.html",
        project=project,
        access=access,
        files=apps.workspace_output_files(project),
        recent_jobs=jobs_of(db, project.id)[:5] if access.member is not None else [],
    )


@router.get("/projects/{project_id}/workspace/twin")
def workspace_twin(request: Request, access: MemberAccess, db: DB) -> Response:
    """The workspace's synthetic twin (no real row) to develop scripts on."""
    project = access.project
    try:
        path = apps.workspace_twin(db, project, access.user)
    except FivesafesError as exc:
        return refused_by(request, exc, 404)
    name = f"{project.slug or project.id}-twin.duckdb"
    return FileResponse(path, media_type="application/octet-stream", filename=name)


# --- review by the panel and the dataset owners ------------------------------------------


def _review_page(
    request: Request,
    db: Session,
    user: User,
    project: Project,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    mine = [(k, d) for p, k, d in apps.reviewable_by(db, user) if p.id == project.id]
    as_options = [
        (
            f"{k}:{d or ''}",
            _("As the approval panel") if k == "panel" else _("As the owner of %(d)s", d=d),
        )
        for k, d in apps.decides_as(db, project, user)
    ]
    return render(
        request,
        "projects/review.html",
        status_code=status_code,
        project=project,
        status=apps.decision_status(db, project),
        mine=mine,
        changes=[
            (inv, apps.invitation_status(db, inv))
            for inv in apps.changes_to_review(db, project, user)
        ],
        invitations=apps.open_invitations(project),
        rules=apps.rule_statuses(db, project),
        rule_texts=Labels(apps.RULES),
        in_force=apps.rules_in_force(db, project),
        can_decide=project.state == ProjectState.APPROVED
        and bool(as_options)
        and not apps.is_conflicted(db, project, user),
        as_options=as_options,
        titles=DATASET_TITLES,
        state_labels=STATE_LABELS,
        role_labels=Labels(apps.MEMBER_ROLE_LABELS),
        approval_labels=APPROVAL_LABELS,
        errors=errors or {},
        values=values or {},
    )


@router.get("/projects/{project_id}/review", response_class=HTMLResponse)
def review_page(request: Request, access: Reviewer, db: DB) -> HTMLResponse:
    return _review_page(request, db, access.user, access.project)


@router.post("/projects/{project_id}/review", response_class=HTMLResponse)
def review(request: Request, access: Reviewer, db: DB, form: Posted) -> Response:
    project, user, project_id = access.project, access.user, access.project.id
    target = form.get("as", "")
    kind, _sep, dataset = target.partition(":")
    try:
        apps.review(
            db,
            project_id,
            user,
            kind,
            form.get("decision", ""),
            form.get("comment", ""),
            dataset or None,
        )
    except apps.FormErrors as exc:
        return _review_page(request, db, user, project, exc.errors, dict(form), 422)
    except PolicyRefusal as exc:
        return refused_by(request, exc)
    except FivesafesError as exc:
        return _review_page(request, db, user, project, {"as": str(exc)}, dict(form), 422)
    project = apps.get_project(db, project_id)
    return done(
        request,
        db,
        DECIDED.get(project.state, DECIDED["submitted"]),
        f"/projects/{project_id}/review",
    )


@router.post(
    "/projects/{project_id}/review/invitations/{invitation_id}", response_class=HTMLResponse
)
def review_invitation(
    request: Request, access: Reviewer, invitation_id: int, db: DB, form: Posted
) -> Response:
    """A decision on a membership change (an invitation to the approved project)."""
    project, user = access.project, access.user
    inv = db.get(ProjectInvitation, invitation_id)
    if inv is None or inv.project_id != project.id:
        return refused(request, _("There is no such invitation to this project."), 404)
    kind, _sep, dataset = form.get("as", "").partition(":")
    back = (f"/projects/{project.id}/review", _("Back to the review"))
    try:
        inv = apps.review_invitation(
            db,
            invitation_id,
            user,
            kind,
            form.get("decision", ""),
            form.get("comment", ""),
            dataset or None,
        )
    except apps.FormErrors as exc:
        errors = {f"{k}-{invitation_id}": v for k, v in exc.errors.items()}
        return _review_page(request, db, user, project, errors, dict(form), 422)
    except PolicyRefusal as exc:
        return refused_by(request, exc, back=back)
    except FivesafesError as exc:
        errors = {f"as-{invitation_id}": str(exc)}
        return _review_page(request, db, user, project, errors, dict(form), 422)
    if inv.approval == "approved":
        said = _(
            "Your decision is recorded. %(user)s may now accept the invitation.",
            user=inv.user.name,
        )
    elif inv.approval == "rejected":
        said = _(
            "Your decision is recorded. %(user)s will not join the project.", user=inv.user.name
        )
    else:
        said = _("Your decision is recorded. It waits for the other approvers.")
    return done(
        request,
        db,
        said,
        f"/projects/{project.id}/review",
    )


@router.post("/projects/{project_id}/review/rules", response_class=HTMLResponse)
def set_rule(request: Request, access: Reviewer, db: DB, form: Posted) -> Response:
    """An approver allows a membership rule on the project, or withdraws it."""
    project, user = access.project, access.user
    kind, _sep, dataset = form.get("as", "").partition(":")
    allow = form.get("allow", "")
    back = (f"/projects/{project.id}/review", _("Back to the review"))
    if allow not in ("yes", "no"):
        return _review_page(
            request, db, user, project, {"allow": _("Choose allow or withdraw.")}, dict(form), 422
        )
    try:
        apps.set_rule(
            db, project.id, user, kind, form.get("rule", ""), allow == "yes", dataset or None
        )
    except apps.FormErrors as exc:
        return _review_page(request, db, user, project, exc.errors, dict(form), 422)
    except PolicyRefusal as exc:
        return refused_by(request, exc, back=back)
    except FivesafesError as exc:
        return _review_page(request, db, user, project, {"as": str(exc)}, dict(form), 422)
    project = apps.get_project(db, project.id)
    said = (
        _("Your word on the membership rule is recorded; the rule is in force.")
        if form.get("rule", "") in apps.rules_in_force(db, project)
        else _("Your word on the membership rule is recorded; the rule is not in force.")
    )
    return done(
        request,
        db,
        said,
        f"/projects/{project.id}/review",
    )
