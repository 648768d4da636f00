"""The airlock in the browser, over :mod:`fivesafes.outputs.airlock` (every rule
is there: who reviews, the two-checker rule, authors never reviewing their own
request, release) and :mod:`fivesafes.projects.release` (a project's requests,
the learning plan first).

- members of a project (while they meet the membership rule:
  :data:`~fivesafes.web.routes.projects.require_member_access`) assemble a release
  request from the workspace's output files or uploads, describe each, and submit
  it; the automatic disclosure check runs on submission; they download the bundle
  once it is released;
- a table of sums goes in as its microdata (one row per contribution) with its
  amount column and, optionally, its person column: the rules check the table of
  sums at once and only its safe version is kept (the microdata is not);
- a trained model goes in with the CSVs it was fitted and tested on and its
  target column (only the model file is ever released); its model check runs on
  submission;
- output checkers see every output's disclosure report cell by cell (a model's
  attack metrics and a figure of the attacks' ROC curves), comment,
  approve, reject or return (for a table of sums from microdata, also the check's
  notes on negative amounts and what an attacker knows of each withheld cell);
  when the last approval it needs arrives, the request
  is approved and released by that checker (the bundle is written at once).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from fivesafes.appdb.models import ReleaseRequest, Role, User
from fivesafes.errors import FivesafesError, PolicyRefusal
from fivesafes.outputs import airlock
from fivesafes.projects import applications as apps
from fivesafes.projects import release
from fivesafes.projects.models import Project
from fivesafes.web.deps import DB, Forbidden, WriteDB, require_role
from fivesafes.web.forms import Posted
from fivesafes.web.i18n import N_, Labels, _
from fivesafes.web.routes._common import back_to, done
from fivesafes.web.routes.projects import (
    MemberAccess,
    ProjectAccess,
    plan_required,
    refused_by,
)
from fivesafes.web.templating import render

router = APIRouter()

Checker = Annotated[User, Depends(require_role(Role.OUTPUT_CHECKER.value))]
AirlockUser = Annotated[
    User, Depends(require_role(Role.RESEARCHER.value, Role.OUTPUT_CHECKER.value))
]

STATE_LABELS = Labels(
    {
        "draft": N_("Draft"),
        "submitted": N_("Submitted"),
        "checked": N_("Checked by the rules, awaiting a checker"),
        "in_review": N_("In review"),
        "approved": N_("Approved"),
        "rejected": N_("Rejected"),
        "returned": N_("Returned to the researchers"),
        "released": N_("Released"),
    }
)
VERDICT_LABELS = Labels(
    {
        "pass": N_("Passes every rule"),
        "review": N_("Needs a checker's judgement"),
        "suppress": N_("Cells suppressed by the rules"),
        "fail": N_("Fails the rules"),
    }
)
#: The largest upload taken into a request.
MAX_UPLOAD = 20 * 1024 * 1024


def _checker_back(request_id: int) -> tuple[str, str]:
    """The link on the page refusing a checker's step (e.g. approving twice)."""
    return f"/airlock/requests/{request_id}", _("Back to the request")


def _member_url(access: ProjectAccess, request_id: int) -> str:
    """A member's page of one request."""
    return f"/projects/{access.project.id}/airlock/{request_id}"


def _member_back(access: ProjectAccess, request_id: int) -> tuple[str, str]:
    """The link on the page refusing a member's step on a request."""
    return _member_url(access, request_id), _("Back to the request")


def _plan_refused(
    request: Request,
    project: Project,
    user: User,
    db: Session,
    action: str,
    outputs: tuple[str, ...] = (),
) -> Any:
    courses = apps.outstanding_courses(db, project, user, outputs)
    if not courses:
        return None
    return plan_required(request, project, courses, action)


# --- the airlock's front page ------------------------------------------------------------


@router.get("/airlock", response_class=HTMLResponse)
def index(request: Request, user: AirlockUser, db: DB) -> HTMLResponse:
    waiting: list[ReleaseRequest] = []
    if user.has_role(Role.OUTPUT_CHECKER.value):
        waiting = list(
            db.scalars(
                select(ReleaseRequest)
                .where(
                    ReleaseRequest.state.in_(
                        [
                            airlock.State.CHECKED.value,
                            airlock.State.IN_REVIEW.value,
                            airlock.State.APPROVED.value,
                        ]
                    )
                )
                .order_by(ReleaseRequest.id)
            )
        )
    # the requests of the projects whose outputs the user reaches as a member today
    reached = [p for p in apps.projects_of(db, user) if apps.has_member_access(db, p, user)]
    projects = {p.slug: p for p in reached}
    mine = [(projects[r.project], r) for p in projects.values() for r in release.requests_of(db, p)]
    by_slug = {
        p.slug: p
        for p in db.scalars(
            select(Project).where(Project.slug.in_(sorted({r.project for r in waiting})))
        )
    }
    return render(
        request,
        "airlock/index.html",
        waiting=[(by_slug.get(r.project), r) for r in waiting],
        mine=mine,
        state_labels=STATE_LABELS,
        is_checker=user.has_role(Role.OUTPUT_CHECKER.value),
    )


# --- a project's requests (members) ------------------------------------------------------


@router.get("/projects/{project_id}/airlock", response_class=HTMLResponse)
def project_requests(request: Request, access: MemberAccess, db: DB) -> HTMLResponse:
    return _project_requests_page(request, db, access)


def _project_requests_page(
    request: Request,
    db: Session,
    access: ProjectAccess,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "airlock/project.html",
        status_code=status_code,
        project=access.project,
        requests=release.requests_of(db, access.project),
        state_labels=STATE_LABELS,
        errors=errors or {},
        values=values or {},
    )


@router.post("/projects/{project_id}/airlock", response_class=HTMLResponse)
def start_request(request: Request, access: MemberAccess, db: DB, form: Posted) -> Response:
    project = access.project
    plan = _plan_refused(request, project, access.user, db, "request a release")
    if plan is not None:
        return plan  # type: ignore[no-any-return]
    try:
        req = release.start_request(db, project, access.user, form.get("title", ""))
    except apps.FormErrors as exc:
        return _project_requests_page(request, db, access, exc.errors, dict(form), 422)
    except PolicyRefusal as exc:
        requests = (f"/projects/{project.id}/airlock", _("Back to the release requests"))
        return refused_by(request, exc, back=requests)
    return done(
        request,
        db,
        _("Request started: add the outputs you want released."),
        f"/projects/{project.id}/airlock/{req.id}",
    )


def _member_request(db: Session, access: ProjectAccess, request_id: int) -> ReleaseRequest:
    try:
        return release.request_of(db, access.project, request_id)
    except FivesafesError:
        raise HTTPException(404, _("This project has no such release request.")) from None


def _request_page(
    request: Request,
    db: Session,
    access: ProjectAccess,
    req: ReleaseRequest,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    files = apps.workspace_output_files(access.project)
    return render(
        request,
        "airlock/request.html",
        status_code=status_code,
        project=access.project,
        req=req,
        summary=airlock.summary(req),
        is_author=access.user.id in airlock.author_ids(req),
        editable=req.state in (airlock.State.DRAFT.value, airlock.State.RETURNED.value),
        files=[f.name for f in files],
        bundle=release.bundle_of(db, req.id) is not None,
        state_labels=STATE_LABELS,
        verdict_labels=VERDICT_LABELS,
        errors=errors or {},
        values=values or {},
    )


@router.get("/projects/{project_id}/airlock/{request_id}", response_class=HTMLResponse)
def show_request(request: Request, access: MemberAccess, request_id: int, db: DB) -> HTMLResponse:
    req = _member_request(db, access, request_id)
    # A request shows the workspace's files and its outputs cell by cell: as much
    # as the workspace, refused to a member until their learning plan is complete.
    plan = _member_plan_refused(request, access, db, "see a release request")
    if plan is not None:
        return plan
    return _request_page(request, db, access, req)


def _member_plan_refused(
    request: Request, access: ProjectAccess, db: Session, action: str
) -> HTMLResponse | None:
    """The learning-plan refusal for a member (an administrator who is not one
    passes, as on the workspace page)."""
    if access.member is None:
        return None
    refusal: HTMLResponse | None = _plan_refused(request, access.project, access.user, db, action)
    return refusal


@router.post("/projects/{project_id}/airlock/{request_id}/outputs", response_class=HTMLResponse)
async def add_output(request: Request, access: MemberAccess, request_id: int, db: DB) -> Response:
    req = _member_request(db, access, request_id)
    plan = _member_plan_refused(request, access, db, "add outputs to a release request")
    if plan is not None:
        return plan
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    chosen = values.get("workspace_file", "").strip()
    upload = form.get("upload")
    content, file_name = b"", ""
    errors: dict[str, str] = {}
    if isinstance(upload, UploadFile) and upload.filename:
        content = await upload.read(MAX_UPLOAD + 1)
        file_name = upload.filename
        if len(content) > MAX_UPLOAD:
            errors["file"] = _(
                "The file is larger than %(max_upload)s MB.", max_upload=MAX_UPLOAD // (1024 * 1024)
            )
    elif chosen:
        files = {f.name: f for f in apps.workspace_output_files(access.project)}
        if chosen not in files:
            errors["file"] = _("That file is not among the workspace's outputs.")
        else:
            try:
                content, file_name = apps.read_workspace_output(files[chosen]), chosen
            except OSError:
                errors["file"] = _("That file is not among the workspace's outputs.")
    name = values.get("name", "").strip() or file_name
    if errors:
        return _request_page(request, db, access, req, errors, values, 422)
    try:
        # In a worker thread: reading and checking a table of up to MAX_UPLOAD takes
        # a while, and in the event loop it would hold up every other request.
        await run_in_threadpool(
            release.add_output,
            db,
            access.project,
            req.id,
            access.user,
            name,
            values.get("description", ""),
            content,
            file_name,
            values.get("value_column", ""),
            values.get("table") == "microdata",
            values.get("person_column", ""),
        )
    except apps.FormErrors as exc:
        db.rollback()
        req = _member_request(db, access, request_id)
        return _request_page(request, db, access, req, exc.errors, values, 422)
    except PolicyRefusal as exc:
        return refused_by(request, exc, back=_member_back(access, request_id))
    except FivesafesError as exc:
        req = _member_request(db, access, request_id)
        return _request_page(request, db, access, req, {"name": str(exc)}, values, 422)
    return done(request, db, _("Output %(name)s added.", name=name), _member_url(access, req.id))


async def _chosen_file(
    form: Any, access: ProjectAccess, field: str, errors: dict[str, str]
) -> tuple[str, bytes]:
    """The file of one field of the model form: an upload (``<field>_upload``) or a
    workspace output file (``<field>_workspace``); a problem goes into ``errors``."""
    upload = form.get(f"{field}_upload")
    chosen = str(form.get(f"{field}_workspace") or "").strip()
    if isinstance(upload, UploadFile) and upload.filename:
        content = await upload.read(MAX_UPLOAD + 1)
        if len(content) > MAX_UPLOAD:
            errors[field] = _(
                "The file is larger than %(limit)s MB.", limit=MAX_UPLOAD // (1024 * 1024)
            )
        return upload.filename, content
    if chosen:
        files = {f.name: f for f in apps.workspace_output_files(access.project)}
        try:
            return chosen, apps.read_workspace_output(files[chosen])
        except (KeyError, OSError):
            errors[field] = _("That file is not among the workspace's outputs.")
    return "", b""


@router.post("/projects/{project_id}/airlock/{request_id}/models", response_class=HTMLResponse)
async def add_model(request: Request, access: MemberAccess, request_id: int, db: DB) -> Response:
    """Add a trained model with the data it was fitted and tested on."""
    req = _member_request(db, access, request_id)
    plan = _plan_refused(
        request,
        access.project,
        access.user,
        db,
        "put a trained model into a release request",
        release.MODEL,
    )
    if plan is not None:
        return plan  # type: ignore[no-any-return]
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    errors: dict[str, str] = {}
    model = await _chosen_file(form, access, "model", errors)
    train = await _chosen_file(form, access, "train", errors)
    test = await _chosen_file(form, access, "test", errors)
    name = values.get("model_name", "").strip() or model[0]
    if errors:
        return _request_page(request, db, access, req, errors, values, 422)
    try:
        await run_in_threadpool(
            release.add_model_output,
            db,
            access.project,
            req.id,
            access.user,
            name,
            values.get("model_description", ""),
            model,
            train,
            test,
            values.get("target", ""),
            values.get("categorical", ""),
        )
    except apps.FormErrors as exc:
        db.rollback()
        req = _member_request(db, access, request_id)
        found = {
            ("model_" + k if k in ("name", "description") else k): v for k, v in exc.errors.items()
        }
        return _request_page(request, db, access, req, found, values, 422)
    except PolicyRefusal as exc:
        return refused_by(request, exc, back=_member_back(access, request_id))
    return done(
        request,
        db,
        _("Model %(name)s added: its model check runs when you submit the request.", name=name),
        _member_url(access, req.id),
    )


def _roc_png(req: ReleaseRequest, output_id: int) -> Response:
    from fivesafes.outputs.models import roc_figure_png

    for out in req.outputs:
        if out.id == output_id and out.model_data is not None and out.check_report:
            png = roc_figure_png(out.check_report)
            return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
    raise HTTPException(404, _("This output has no model check to draw."))


@router.get("/projects/{project_id}/airlock/{request_id}/roc/{output_id}.png")
def member_roc(
    access: MemberAccess, request_id: int, output_id: int, db: DB, request: Request
) -> Response:
    """The ROC curves of a model output's attacks, for the request's authors."""
    req = _member_request(db, access, request_id)
    if _member_plan_refused(request, access, db, "see a release request") is not None:
        raise HTTPException(403, _("Complete your learning plan for the project first."))
    return _roc_png(req, output_id)


@router.get("/airlock/requests/{request_id}/roc/{output_id}.png")
def checker_roc(request_id: int, output_id: int, user: Checker, writer: WriteDB) -> Response:
    """The ROC curves of a model output's attacks, for output checkers (the view is
    in the audit log, as the request page's)."""
    try:
        req = airlock.get_request(writer, request_id, user.name)
    except PolicyRefusal as exc:
        raise Forbidden(reason=str(exc)) from None
    except FivesafesError:
        raise HTTPException(404, _("There is no such release request.")) from None
    return _roc_png(req, output_id)


@router.post(
    "/projects/{project_id}/airlock/{request_id}/outputs/remove", response_class=HTMLResponse
)
def remove_output(
    request: Request, access: MemberAccess, request_id: int, db: DB, form: Posted
) -> Response:
    req = _member_request(db, access, request_id)
    try:
        airlock.remove_output(db, req.id, access.user.name, form.get("output", ""))
    except FivesafesError as exc:
        return refused_by(request, exc, back=_member_back(access, request_id))
    return done(request, db, _("The output was removed."), _member_url(access, req.id))


@router.post("/projects/{project_id}/airlock/{request_id}/submit", response_class=HTMLResponse)
def submit(request: Request, access: MemberAccess, request_id: int, db: DB) -> Response:
    req = _member_request(db, access, request_id)
    kinds = release.MODEL if any(o.model_data is not None for o in req.outputs) else ()
    plan = _plan_refused(
        request, access.project, access.user, db, "submit a release request", kinds
    )
    if plan is not None:
        return plan  # type: ignore[no-any-return]
    try:
        release.submit_request(db, access.project, req.id, access.user)
    except FivesafesError as exc:
        return refused_by(request, exc, back=_member_back(access, request_id))
    return done(
        request,
        db,
        _("Submitted: the rules checked every output; checkers review it next."),
        _member_url(access, req.id),
    )


@router.post("/projects/{project_id}/airlock/{request_id}/comment", response_class=HTMLResponse)
def member_comment(
    request: Request, access: MemberAccess, request_id: int, db: DB, form: Posted
) -> Response:
    req = _member_request(db, access, request_id)
    if not form.get("body", ""):
        return _request_page(
            request, db, access, req, {"body": _("Write a comment.")}, dict(form), 422
        )
    try:
        airlock.add_comment(db, req.id, access.user.name, form.get("body", ""))
    except FivesafesError as exc:
        return refused_by(request, exc, back=_member_back(access, request_id))
    db.commit()
    return back_to(_member_url(access, req.id) + "#comments")


@router.get("/projects/{project_id}/airlock/{request_id}/bundle")
def bundle(access: MemberAccess, request_id: int, db: DB, writer: WriteDB) -> Response:
    req = _member_request(db, access, request_id)
    project = writer.get(Project, access.project.id)
    user = writer.get(User, access.user.id)
    assert project is not None and user is not None
    try:
        path = release.download_bundle(writer, project, req.id, user)
    except PolicyRefusal as exc:
        raise Forbidden(reason=str(exc)) from None
    except FivesafesError:
        raise HTTPException(404, _("This request has no released bundle to download.")) from None
    return FileResponse(path, media_type="application/zip", filename=path.name)


# --- checkers ----------------------------------------------------------------------------


def _checker_page(
    request: Request,
    db: Session,
    user: User,
    request_id: int,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
    reader: Session | None = None,
) -> HTMLResponse:
    """The checker's page. ``db`` logs the view (the library writes it to the audit
    log and commits); the page is then read with ``reader`` if given, so that no
    write transaction stays open while the page renders."""
    try:
        req = airlock.get_request(db, request_id, user.name)
    except PolicyRefusal as exc:
        return refused_by(request, exc, back=("/airlock", _("Back to the airlock")))
    except FivesafesError:
        raise HTTPException(404, _("There is no such release request.")) from None
    if reader is not None:
        db.close()
        db = reader
        found = db.get(ReleaseRequest, request_id)
        assert found is not None
        req = found
    project = db.scalar(select(Project).where(Project.slug == req.project))
    return render(
        request,
        "airlock/review.html",
        status_code=status_code,
        req=req,
        project=project,
        summary=airlock.summary(req),
        statuses={s.name: s for s in airlock.review_status(req)},
        is_author=user.id in airlock.conflicted_ids(req, db),
        bundle=release.bundle_of(db, req.id) is not None,
        state_labels=STATE_LABELS,
        verdict_labels=VERDICT_LABELS,
        errors=errors or {},
        values=values or {},
    )


@router.get("/airlock/requests/{request_id}", response_class=HTMLResponse)
def checker_view(
    request: Request, request_id: int, user: Checker, db: DB, writer: WriteDB
) -> HTMLResponse:
    return _checker_page(request, writer, user, request_id, reader=db)


def _decision_recorded(db: Session, req_id: int, user: User, output: str) -> str:
    """Release the request if the decision approved its last output; what to say."""
    req = db.get(ReleaseRequest, req_id)
    if req is None or req.state != airlock.State.APPROVED.value:
        return _("Your decision on %(output)s is recorded.", output=output)
    try:
        airlock.release(db, req_id, user.name, release.bundle_root(), as_zip=True)
    except FivesafesError as exc:
        return _(
            "Your decision on %(output)s is recorded. The request is approved, but the "
            "release failed: %(reason)s",
            output=output,
            reason=str(exc),
        )
    return _(
        "Your decision on %(output)s is recorded. Every output has its approvals: the "
        "request is released.",
        output=output,
    )


@router.post("/airlock/requests/{request_id}/review", response_class=HTMLResponse)
def review(request: Request, request_id: int, user: Checker, db: DB, form: Posted) -> Response:
    output = form.get("output", "")
    decision, comment = form.get("decision", ""), form.get("comment", "")
    errors: dict[str, str] = {}
    if decision not in {d.value for d in airlock.Decision}:
        errors["decision"] = _("Choose approve, request changes or reject.")
    elif decision != airlock.Decision.APPROVE and not comment:
        errors["comment"] = _("Say why: the researchers need to know what to change.")
    if errors:
        return _checker_page(request, db, user, request_id, errors, dict(form), 422)
    try:
        req = airlock.get_request(db, request_id, user.name)
        if req.state == airlock.State.CHECKED.value:
            airlock.start_review(db, request_id, user.name)
        airlock.review(db, request_id, output, user.name, decision, comment)
    except PolicyRefusal as exc:
        return refused_by(request, exc, back=_checker_back(request_id))
    except FivesafesError as exc:
        return _checker_page(request, db, user, request_id, {"output": str(exc)}, dict(form), 422)
    said = _decision_recorded(db, request_id, user, output)
    return done(
        request,
        db,
        said,
        f"/airlock/requests/{request_id}",
    )


def _close(
    request: Request, request_id: int, user: User, db: Session, form: Any, action: str
) -> Response:
    comment = form.get("close_comment", "")
    if not comment:
        return _checker_page(
            request,
            db,
            user,
            request_id,
            {
                "close_comment": _("Say why you return the request.")
                if action == "return"
                else _("Say why you reject the request.")
            },
            dict(form),
            422,
        )
    try:
        req = airlock.get_request(db, request_id, user.name)
        if req.state == airlock.State.CHECKED.value:
            airlock.start_review(db, request_id, user.name)
        if action == "return":
            airlock.return_to_researcher(db, request_id, user.name, comment)
        else:
            airlock.reject(db, request_id, user.name, comment)
    except FivesafesError as exc:
        return refused_by(request, exc, back=_checker_back(request_id))
    return done(
        request,
        db,
        _("Returned to the researchers.") if action == "return" else "Rejected.",
        f"/airlock/requests/{request_id}",
    )


@router.post("/airlock/requests/{request_id}/return", response_class=HTMLResponse)
def return_request(
    request: Request, request_id: int, user: Checker, db: DB, form: Posted
) -> Response:
    return _close(request, request_id, user, db, form, "return")


@router.post("/airlock/requests/{request_id}/reject", response_class=HTMLResponse)
def reject_request(
    request: Request, request_id: int, user: Checker, db: DB, form: Posted
) -> Response:
    return _close(request, request_id, user, db, form, "reject")


@router.post("/airlock/requests/{request_id}/comment", response_class=HTMLResponse)
def checker_comment(
    request: Request, request_id: int, user: Checker, db: DB, form: Posted
) -> Response:
    body = form.get("body", "")
    if not body:
        return _checker_page(
            request, db, user, request_id, {"body": _("Write a comment.")}, dict(form), 422
        )
    try:
        airlock.add_comment(db, request_id, user.name, body, form.get("output") or None)
    except PolicyRefusal as exc:
        return refused_by(request, exc, back=_checker_back(request_id))
    except FivesafesError as exc:
        return _checker_page(request, db, user, request_id, {"body": str(exc)}, dict(form), 422)
    db.commit()
    return back_to(f"/airlock/requests/{request_id}#comments")


@router.post("/airlock/requests/{request_id}/release", response_class=HTMLResponse)
def release_request(request: Request, request_id: int, user: Checker, db: DB) -> Response:
    try:
        airlock.release(db, request_id, user.name, release.bundle_root(), as_zip=True)
    except FivesafesError as exc:
        return refused_by(request, exc, back=_checker_back(request_id))
    return done(
        request,
        db,
        _("Released: the project's members can download the bundle."),
        f"/airlock/requests/{request_id}",
    )
