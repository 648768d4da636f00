"""Jobs in the browser: a project's members submit an analysis script, watch it
run, read its outputs' verdicts and put an output into a release request.

Every rule is in :mod:`fivesafes.jobs`; these pages only call it. The pages of a
project's jobs are for its members only (not administrators who are not members);
only a member whose learning plan for the project is complete may submit
(:func:`fivesafes.jobs.why_cannot_submit`). A researcher never sees what a job
printed: the job's page shows its state, times, resources, and for a failure the
exception's type and line. Output checkers read the whole log
(``/jobs/{job_id}/log``).

Interfaces scripts rely on (kept exactly): ``GET /projects/{id}/jobs``, ``POST
/projects/{id}/jobs`` (multipart: ``script``, ``title``, ``csrf_token``; 303 to
the job's page), ``GET /projects/{id}/jobs/{job_id}`` and its ``.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from fivesafes import jobs
from fivesafes.appdb.models import Role, User
from fivesafes.errors import FivesafesError, PolicyRefusal
from fivesafes.jobs.models import Job
from fivesafes.jobs.queue import MAX_SCRIPT_BYTES
from fivesafes.outputs import airlock
from fivesafes.projects import applications as apps
from fivesafes.projects import release
from fivesafes.web.deps import DB, require_role
from fivesafes.web.forms import Posted
from fivesafes.web.i18n import N_, Labels, _, gettext_plain
from fivesafes.web.routes._common import done
from fivesafes.web.routes.projects import (
    LEARNING_PLAN_URL,
    MemberAccess,
    ProjectAccess,
    refused,
    refused_by,
)
from fivesafes.web.templating import render

router = APIRouter()

OutputChecker = Annotated[User, Depends(require_role(Role.OUTPUT_CHECKER.value))]

STATE_LABELS = Labels(
    {
        "queued": N_("Queued"),
        "running": N_("Running"),
        "succeeded": N_("Succeeded"),
        "failed": N_("Failed"),
        "killed": N_("Killed"),
        "cancelled": N_("Cancelled"),
    }
)
STATE_TAGS = {
    "queued": "tag-yellow",
    "running": "tag-yellow",
    "succeeded": "tag-green",
    "failed": "tag-red",
    "killed": "tag-red",
    "cancelled": "tag-red",
}
VERDICT_LABELS = Labels(
    {
        "pass": N_("Passes the rules"),
        "suppress": N_("Cells suppressed or rounded by the rules"),
        "review": N_("Needs an output checker's eye"),
    }
)
#: A larger script is refused by the jobs library; read a little more to say so.
_READ = MAX_SCRIPT_BYTES + 1


def require_project_member(access: MemberAccess) -> ProjectAccess:
    """The project's members only: unlike the project's other pages, an administrator
    who is not a member does not pass (the jobs pages are members only)."""
    if access.member is None:
        raise HTTPException(403, _("Only the project's members see its jobs."))
    return access


JobMember = Annotated[ProjectAccess, Depends(require_project_member)]


def _job(db: Session, access: ProjectAccess, job_id: int) -> Job:
    try:
        return jobs.get_job(db, access.project.id, job_id)
    except FivesafesError:
        raise HTTPException(404, _("This project has no such job.")) from None


def _jobs_page(
    request: Request,
    db: Session,
    access: ProjectAccess,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    why_not = jobs.why_cannot_submit(db, access.project, access.user)
    return render(
        request,
        "jobs/index.html",
        status_code=status_code,
        project=access.project,
        jobs=jobs.jobs_of(db, access.project.id),
        why_not=why_not,
        plan_url=LEARNING_PLAN_URL.format(project_id=access.project.id),
        state_labels=STATE_LABELS,
        state_tags=STATE_TAGS,
        errors=errors or {},
        values=values or {},
    )


@router.get("/projects/{project_id}/jobs", response_class=HTMLResponse)
def index(request: Request, access: JobMember, db: DB) -> HTMLResponse:
    return _jobs_page(request, db, access)


@router.post("/projects/{project_id}/jobs", response_class=HTMLResponse)
async def submit(request: Request, access: JobMember, db: DB) -> Response:
    form = await request.form()
    title = str(form.get("title") or "").strip()
    upload = form.get("script")
    script, filename = None, "analysis.py"
    if isinstance(upload, UploadFile) and upload.filename:
        script, filename = await upload.read(_READ), upload.filename
    try:
        job = jobs.submit_job(
            db, access.project.id, access.user, title, script=script, filename=filename
        )
    except PolicyRefusal as exc:
        return refused_by(request, exc, back=(f"/projects/{access.project.id}/jobs", _("Jobs")))
    except apps.FormErrors as exc:
        db.rollback()
        return _jobs_page(request, db, access, exc.errors, {"title": title}, 422)
    return done(
        request,
        db,
        _("Job %(id)s is queued: it runs in the sandbox on the workspace.", id=job.id),
        f"/projects/{access.project.id}/jobs/{job.id}",
    )


@router.get("/projects/{project_id}/jobs/{job_id}.json")
def job_json(access: JobMember, job_id: int, db: DB) -> JSONResponse:
    return JSONResponse(jobs.describe_job(_job(db, access, job_id)))


def _editable_requests(db: Session, access: ProjectAccess) -> list[tuple[str, str]]:
    """The requests of the project this user may still add outputs to."""
    mine = []
    for req in release.requests_of(db, access.project):
        if req.state not in (airlock.State.DRAFT.value, airlock.State.RETURNED.value):
            continue
        if access.user.id in airlock.author_ids(req):
            mine.append((str(req.id), _("Request %(id)s: %(title)s", id=req.id, title=req.title)))
    return mine


@router.get("/projects/{project_id}/jobs/{job_id}", response_class=HTMLResponse)
def show(request: Request, access: JobMember, job_id: int, db: DB) -> HTMLResponse:
    job = _job(db, access, job_id)
    return render(
        request,
        "jobs/job.html",
        project=access.project,
        job=job,
        info=jobs.describe_job(job),
        requests=_editable_requests(db, access),
        is_member=access.member is not None,
        state_labels=STATE_LABELS,
        state_tags=STATE_TAGS,
        verdict_labels=VERDICT_LABELS,
    )


@router.post("/projects/{project_id}/jobs/{job_id}/cancel", response_class=HTMLResponse)
def cancel(request: Request, access: JobMember, job_id: int, db: DB) -> Response:
    job = _job(db, access, job_id)
    back = (f"/projects/{access.project.id}/jobs/{job.id}", _("Job %(id)s", id=job.id))
    try:
        job = jobs.cancel_job(db, access.project.id, job.id, access.user)
    except PolicyRefusal as exc:
        return refused_by(request, exc, back=back)
    message = (
        _("Job %(id)s is cancelled.", id=job.id)
        if job.state == jobs.JobState.CANCELLED
        else _("Job %(id)s will stop: its runner cancels it within a minute.", id=job.id)
    )
    return done(request, db, message, back[0])


def _into_request(
    request: Request,
    db: Session,
    access: ProjectAccess,
    job: Job,
    add: Callable[[], Any],
    said: str,
    missing_status: int,
) -> Response:
    """Run ``add()`` (one of the jobs library's "into a release request"
    steps, for the request chosen on the form) and answer with its page or the
    refusal (``missing_status`` for what the library says cannot be found or done)."""
    back = (f"/projects/{access.project.id}/jobs/{job.id}", _("Job %(id)s", id=job.id))
    try:
        req = add()
    except PolicyRefusal as exc:
        return refused_by(request, exc, back=back)
    except apps.FormErrors as exc:
        db.rollback()
        return refused(request, "; ".join(map(gettext_plain, exc.errors.values())), 422, back=back)
    except FivesafesError as exc:
        db.rollback()
        return refused_by(request, exc, missing_status, back=back)
    return done(
        request,
        db,
        said.format(request=req.id),
        f"/projects/{access.project.id}/airlock/{req.id}",
    )


def _chosen(form: Any) -> int | None:
    chosen = form.get("request_id", "")
    return int(chosen) if chosen.isdigit() else None


@router.post(
    "/projects/{project_id}/jobs/{job_id}/outputs/{output_id}/release",
    response_class=HTMLResponse,
)
def to_release_request(
    request: Request, access: JobMember, job_id: int, output_id: int, db: DB, form: Posted
) -> Response:
    job = _job(db, access, job_id)
    return _into_request(
        request,
        db,
        access,
        job,
        lambda: jobs.add_to_release_request(
            db,
            access.project.id,
            job.id,
            output_id,
            access.user,
            request_id=_chosen(form),
            description=form.get("description", ""),
        ),
        _("The output is in release request {request}; submit it there for checking."),
        404,
    )


@router.post("/projects/{project_id}/jobs/{job_id}/log/release", response_class=HTMLResponse)
def log_to_release_request(
    request: Request, access: JobMember, job_id: int, db: DB, form: Posted
) -> Response:
    """Ask for the job's printed log: it goes into a release request, for the
    checkers, like any other output."""
    job = _job(db, access, job_id)
    return _into_request(
        request,
        db,
        access,
        job,
        lambda: jobs.add_log_to_release_request(
            db, access.project.id, job.id, access.user, request_id=_chosen(form)
        ),
        _("The job's log is in release request {request}; the checkers read it there."),
        409,
    )


@router.get("/jobs/{job_id}/log")
def job_log(checker: OutputChecker, job_id: int, db: DB) -> Response:
    """The whole printed output of a job: for output checkers only (a researcher
    asks for it through a release request, like any other output)."""
    from fivesafes.audit import record

    job = db.get(Job, job_id)
    if job is None:
        raise HTTPException(404, _("There is no such job."))
    info: dict[str, Any] = jobs.describe_job(job, with_log=True)
    record(db, checker.name, "job.log_read", f"job:{job.id}", {"bytes": len(job.log or b"")})
    db.commit()
    return PlainTextResponse(info["log"])
