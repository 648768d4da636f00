"""Jobs as plain rules: submit a script (or a study) for a project, list and read a
project's jobs, cancel one, and the runners' side of the queue (claim, heartbeat,
finish, recover jobs whose runner was lost).

Only a member of an approved, provisioned project whose learning plan for it is
complete submits (the rule of :func:`fivesafes.projects.release.require_plan_complete`,
as for release requests); any member may cancel the project's queued or running
job. Every submission, start, end, cancellation and kill is in the audit log
(``job.submit``, ``job.start``, ``job.end``, ``job.cancel``, ``job.kill``); a
refused step records ``job.refused`` and raises
:class:`~fivesafes.errors.PolicyRefusal`.

A runner claims the oldest queued job (on PostgreSQL with ``SELECT … FOR UPDATE
SKIP LOCKED``, so many runners share one queue; on SQLite with a conditional
``UPDATE``), holds a lease it renews while the job runs, and records the end. A
running job whose lease has expired was left by a lost runner: the next runner
marks it failed with the reason; it is never run again by itself. A job whose
submitter no longer meets the membership rule is not run (:func:`claim_next`), and
a running one is stopped at its runner's next heartbeat (:func:`why_stop`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fivesafes.appdb.models import User, as_utc, utcnow
from fivesafes.audit import record
from fivesafes.errors import FivesafesError, PolicyRefusal
from fivesafes.jobs.models import FINISHED, Job, JobKind, JobOutput, JobState
from fivesafes.projects.applications import FormErrors, get_project, why_no_member_access
from fivesafes.projects.models import Project, ProjectState, Provisioning

#: The largest script accepted (bytes).
MAX_SCRIPT_BYTES = 1_000_000
#: How long a runner's claim on a job holds without a heartbeat.
LEASE = timedelta(seconds=60)
_SCRIPT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,150}\.py")


def _subject(job_id: int | str) -> str:
    return f"job:{job_id}"


def _refuse(session: Session, actor: str, action: str, subject: str, reason: str) -> NoReturn:
    session.rollback()
    record(session, actor, "job.refused", subject, {"attempted": action, "reason": reason})
    session.commit()
    raise PolicyRefusal(reason)


def why_cannot_submit(session: Session, project: Project, user: User) -> str | None:
    """Why ``user`` may not submit a job to ``project`` (``None``: they may): only a
    member who today meets the membership rule
    (:func:`~fivesafes.projects.applications.why_no_member_access`) of an approved,
    provisioned project whose learning plan for it is complete."""
    from fivesafes.projects.release import require_plan_complete

    if reason := why_no_member_access(session, project, user):
        return reason
    if project.state != ProjectState.APPROVED:
        return f"project {project.id} is {project.state}; it is not approved"
    if project.provisioning != Provisioning.PROVISIONED.value or not project.workspace:
        return f"project {project.id} has no workspace yet (it awaits provisioning)"
    try:
        require_plan_complete(session, project, user, "submit a job")
    except PolicyRefusal as exc:
        return str(exc)
    return None


def submit_job(
    session: Session,
    project_id: int,
    user: User,
    title: str,
    *,
    script: bytes | None = None,
    filename: str = "analysis.py",
    study: str | None = None,
    studies_dir: Path | None = None,
) -> Job:
    """Queue a job for a project: a Python script (``script`` bytes, ``filename``
    its name) or a study of the studies folder by name (``study``). Bad input raises
    :class:`~fivesafes.projects.applications.FormErrors` (fields ``title``,
    ``script``); a user who may not submit is refused (:func:`why_cannot_submit`).
    Returns the queued job (committed, ``job.submit`` in the audit log)."""
    project = get_project(session, project_id)
    reason = why_cannot_submit(session, project, user)
    if reason is not None:
        _refuse(session, user.name, "submit", f"project:{project_id}", reason)
    errors: dict[str, str] = {}
    title = title.strip()
    if not title:
        errors["title"] = "Give the job a title."
    elif len(title) > 200:
        errors["title"] = "Keep the title under 200 characters."
    kind = JobKind.SCRIPT
    name = Path(filename or "").name
    if study is not None:
        if script is not None:
            raise FivesafesError("give a script or a study, not both")
        from fivesafes.analysis.studies import find_study

        try:
            found = find_study(study, studies_dir)
        except FivesafesError as exc:
            raise FormErrors({"script": str(exc)}) from None
        kind, script, name = JobKind.STUDY, found.path.read_bytes(), found.path.name
    if script is None or not script.strip():
        errors["script"] = "Choose a Python script (it must not be empty)."
    elif len(script) > MAX_SCRIPT_BYTES:
        errors["script"] = f"The script is over {MAX_SCRIPT_BYTES // 1000} kB."
    elif not _SCRIPT_NAME.fullmatch(name):
        errors["script"] = (
            f"{name!r} is not a script's name: a .py file named with letters, digits, "
            "'_', '.' and '-'."
        )
    else:
        try:
            script.decode("utf-8")
        except UnicodeDecodeError:
            errors["script"] = f"{name} is not UTF-8 text."
    if errors:
        raise FormErrors(errors)
    assert script is not None
    job = Job(
        project_id=project.id,
        submitter_id=user.id,
        title=title,
        kind=kind.value,
        study=study,
        script_name=name,
        script=script,
        state=JobState.QUEUED.value,
        cancel_requested=False,
        reason="",
    )
    session.add(job)
    session.flush()
    record(
        session,
        user.name,
        "job.submit",
        _subject(job.id),
        {"project": project.slug, "kind": kind.value, "script": name, "title": title},
    )
    session.commit()
    return job


def jobs_of(session: Session, project_id: int) -> list[Job]:
    """A project's jobs, newest first."""
    session.expire_all()
    query = select(Job).where(Job.project_id == project_id).order_by(Job.id.desc())
    return list(session.scalars(query))


def get_job(session: Session, project_id: int, job_id: int) -> Job:
    """One job of a project (another project's job is not found here)."""
    session.expire_all()
    job = session.get(Job, job_id)
    if job is None or job.project_id != project_id:
        raise FivesafesError(f"project {project_id} has no job {job_id}")
    return job


def outputs_of(job: Job) -> list[JobOutput]:
    """The files a job wrote, each with its verdict (``pass``, ``suppress``, ``review``)."""
    return list(job.outputs)


def get_output(session: Session, project_id: int, job_id: int, output_id: int) -> JobOutput:
    """One output of a job of a project."""
    job = get_job(session, project_id, job_id)
    for out in job.outputs:
        if out.id == output_id:
            return out
    raise FivesafesError(f"job {job_id} has no output {output_id}")


def cancel_job(session: Session, project_id: int, job_id: int, user: User) -> Job:
    """A member (who meets the membership rule today) cancels a queued job (at once)
    or a running one (its runner stops it within a heartbeat and marks it
    cancelled). Anyone else is refused, as is cancelling a finished job."""
    job = get_job(session, project_id, job_id)
    if reason := why_no_member_access(session, job.project, user):
        _refuse(session, user.name, "cancel", _subject(job_id), reason)
    if job.state == JobState.QUEUED:
        done = session.execute(
            update(Job)
            .where(Job.id == job.id, Job.state == JobState.QUEUED.value)
            .values(
                state=JobState.CANCELLED.value,
                finished_at=utcnow(),
                reason=f"cancelled by {user.name} before it started",
            )
        )
        if getattr(done, "rowcount", 0) == 1:
            record(session, user.name, "job.cancel", _subject(job.id), {"state": "queued"})
            session.commit()
            return get_job(session, project_id, job_id)
        session.rollback()
        job = get_job(session, project_id, job_id)  # claimed meanwhile
    if job.state == JobState.RUNNING:
        job.cancel_requested = True
        record(session, user.name, "job.cancel", _subject(job.id), {"state": "running"})
        session.commit()
        return job
    _refuse(
        session,
        user.name,
        "cancel",
        _subject(job_id),
        f"job {job_id} is {job.state}; only a queued or running job can be cancelled",
    )


# --- the researcher's view --------------------------------------------------------------


def error_of(job: Job) -> dict[str, Any] | None:
    """A failure's exception type and the script's file and line (never its message)."""
    if job.error_type is None:
        return None
    return {"type": job.error_type, "file": job.error_file, "line": job.error_line}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat(timespec="seconds")


def describe_job(job: Job, *, with_log: bool = False) -> dict[str, Any]:
    """A job as plain data for its page and ``.json``: state, times, exit code,
    duration, resources, reason, limit, error (type, file, line) and the outputs with
    their verdicts. The printed log is only in it with ``with_log`` (for output
    checkers; never show it to a researcher)."""
    out: dict[str, Any] = {
        "id": job.id,
        "project_id": job.project_id,
        "title": job.title,
        "kind": job.kind,
        "study": job.study,
        "script": job.script_name,
        "submitter": job.submitter.name,
        "state": job.state,
        "submitted_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "exit_code": job.exit_code,
        "duration": job.duration,
        "cpu_seconds": job.cpu_seconds,
        "max_rss_kb": job.max_rss_kb,
        "reason": job.reason or None,
        "limit": job.limit,
        "error": error_of(job),
        "cancel_requested": job.cancel_requested,
        "outputs": [
            {
                "id": o.id,
                "name": o.name,
                "size": o.size,
                "sha256": o.sha256,
                "verdict": o.verdict,
                "note": o.note,
            }
            for o in job.outputs
        ],
    }
    if with_log:
        out["log"] = (job.log or b"").decode("utf-8", "replace")
    return out


# --- the runners' side ------------------------------------------------------------------


@dataclass
class Claimed:
    """What a runner needs to run a claimed job (read while the claim was made)."""

    id: int
    project_slug: str
    workspace: Path
    kind: str
    study: str | None
    script_name: str
    script: bytes


def claim_next(session: Session, runner: str) -> Claimed | None:
    """Claim the oldest queued job for ``runner`` (state ``running``, lease taken,
    ``job.start`` in the audit log) or ``None`` when the queue is empty. Safe with
    many runners on PostgreSQL (``FOR UPDATE SKIP LOCKED``); on SQLite a conditional
    update makes a lost race claim nothing. A job whose submitter no longer meets the
    membership rule (:func:`~fivesafes.projects.applications.why_no_member_access`:
    their researcher role revoked, their accreditation expired or revoked) is not
    run: it is marked failed with the reason, and the next job is claimed."""
    postgres = session.get_bind().dialect.name == "postgresql"
    races = 0
    while races < 5:
        query = select(Job.id).where(Job.state == JobState.QUEUED.value).order_by(Job.id).limit(1)
        if postgres:
            query = query.with_for_update(skip_locked=True)
        job_id = session.scalar(query)
        if job_id is None:
            session.rollback()
            return None
        now = utcnow()
        done = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == JobState.QUEUED.value)
            .values(
                state=JobState.RUNNING.value, runner=runner, started_at=now, lease_until=now + LEASE
            )
        )
        if getattr(done, "rowcount", 0) != 1:
            session.rollback()
            races += 1
            continue
        job = session.get(Job, job_id)
        assert job is not None
        project = session.get(Project, job.project_id)
        assert project is not None and project.slug is not None
        if refusal := why_no_member_access(session, project, job.submitter):
            job.state, job.finished_at, job.lease_until = JobState.FAILED.value, now, None
            job.reason = f"not run: {refusal}"
            details = {"state": "failed", "runner": runner, "reason": job.reason}
            record(session, "system", "job.end", _subject(job_id), details)
            session.commit()
            continue
        record(session, "system", "job.start", _subject(job_id), {"runner": runner})
        session.commit()
        return Claimed(
            id=job.id,
            project_slug=project.slug,
            workspace=Path(project.workspace or ""),
            kind=job.kind,
            study=job.study,
            script_name=job.script_name,
            script=job.script,
        )
    return None


def heartbeat(session: Session, job_id: int, runner: str) -> bool:
    """Renew ``runner``'s lease on a running job; returns whether a member asked to
    cancel it (or the job is no longer this runner's: stop it either way)."""
    done = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.runner == runner, Job.state == JobState.RUNNING.value)
        .values(lease_until=utcnow() + LEASE)
    )
    session.commit()
    if getattr(done, "rowcount", 0) != 1:
        return True
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def why_stop(session: Session, job_id: int) -> str | None:
    """Why a running job must stop now (None: it runs on): its submitter no longer
    reaches the project as its member
    (:func:`~fivesafes.projects.applications.why_no_member_access`: their researcher
    role revoked, their accreditation expired or revoked, or no longer a member).
    Its runner asks at every heartbeat, stops the job and records it failed
    (``not finished: <reason>``), keeping none of its outputs."""
    try:
        session.expire_all()
        job = session.get(Job, job_id)
        if job is None or job.state != JobState.RUNNING:
            return None
        project = session.get(Project, job.project_id)
        assert project is not None
        return why_no_member_access(session, project, job.submitter)
    finally:
        session.rollback()  # hold no transaction open between heartbeats


def finish(
    session: Session,
    job_id: int,
    runner: str,
    state: JobState,
    *,
    reason: str = "",
    limit: str | None = None,
    exit_code: int | None = None,
    error: dict[str, Any] | None = None,
    duration: float | None = None,
    cpu_seconds: float | None = None,
    max_rss_kb: int | None = None,
    log: bytes | None = None,
    outputs: list[JobOutput] | None = None,
) -> bool:
    """Record the end of a running job by its runner: its state and what it used;
    ``job.end`` (``job.kill`` for a killed one, ``job.cancel`` for a cancelled one) in
    the audit log. Returns ``False`` if the job was no longer this runner's."""
    session.expire_all()
    job = session.get(Job, job_id)
    if job is None or job.state != JobState.RUNNING or job.runner != runner:
        session.rollback()
        return False
    job.state = state.value
    job.finished_at = utcnow()
    job.lease_until = None
    job.reason = reason
    job.limit = limit
    job.exit_code = exit_code
    if error:
        job.error_type = str(error.get("type") or "")[:200] or None
        job.error_file = str(error["file"])[:200] if error.get("file") else None
        job.error_line = int(error["line"]) if error.get("line") is not None else None
    job.duration, job.cpu_seconds, job.max_rss_kb = duration, cpu_seconds, max_rss_kb
    job.log = log
    for out in outputs or []:
        job.outputs.append(out)
    action = {JobState.KILLED: "job.kill", JobState.CANCELLED: "job.cancel"}.get(state, "job.end")
    details: dict[str, Any] = {"state": state.value, "exit_code": exit_code, "runner": runner}
    if limit:
        details["limit"] = limit
    if reason:
        details["reason"] = reason
    details["outputs"] = {o.name: o.verdict for o in outputs or []}
    record(session, "system", action, _subject(job_id), details)
    session.commit()
    return True


def recover_lost(session: Session, now: datetime | None = None) -> list[int]:
    """Mark failed every running job whose runner's lease expired (the runner was
    killed or lost its machine); such a job is never run again by itself. Returns
    their ids."""
    now = now or utcnow()
    query = select(Job).where(Job.state == JobState.RUNNING.value)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    lost: list[int] = []
    for job in session.scalars(query):
        if job.lease_until is not None and as_utc(job.lease_until) >= now:
            continue
        job.state = JobState.FAILED.value
        job.finished_at = now
        job.reason = (
            f"its runner ({job.runner}) stopped before the job finished; the job was not "
            "rerun: submit it again"
        )
        record(
            session,
            "system",
            "job.end",
            _subject(job.id),
            {"state": "failed", "reason": "runner lost", "runner": job.runner},
        )
        lost.append(job.id)
    session.commit()
    return lost


def is_finished(state: str) -> bool:
    return state in FINISHED
