"""The demo's safe setting: the demo researcher submits the example study
``attainment_convictions`` as a job to the demo site's approved project, and a
runner runs it in the sandbox on the project's workspace (provisioned from the demo
store), as it would inside a TRE. Called by ``fivesafes web seed-demo`` when a store
is configured (``make demo`` gives the demo's).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from fivesafes.appdb import session_factory
from fivesafes.appdb.models import User
from fivesafes.demo.projects import APPROVED_TITLE
from fivesafes.jobs import describe_job, get_job, submit_job
from fivesafes.jobs.runner import Runner
from fivesafes.projects.models import Project
from fivesafes.sandbox import SandboxError

DEMO_STUDY = "attainment_convictions"
JOB_TITLE = "Attainment trajectories and convictions by 21 (the example study)"


def run_demo_job(db_url: str | None, researcher: str = "researcher") -> dict[str, Any]:
    """Submit the example study as the demo researcher and run it (one runner, until
    the queue is empty). Returns what happened: ``ran`` and, if it ran, the job as
    its ``.json`` gives it (``state``, ``duration``, ``outputs`` with verdicts, ...);
    else ``reason`` (the workspace is not provisioned, or the sandbox cannot be set
    up here: the job then waits in the queue for a runner where it can)."""
    factory = session_factory(db_url)
    with factory() as s:
        project = s.scalar(select(Project).where(Project.title == APPROVED_TITLE))
        user = s.scalar(select(User).where(User.name == researcher))
        if project is None or user is None:
            return {"ran": False, "reason": "the demo site has no approved project"}
        if not project.workspace:
            note = project.provisioning_note
            return {"ran": False, "reason": f"the project's workspace is not provisioned: {note}"}
        job = submit_job(s, project.id, user, JOB_TITLE, study=DEMO_STUDY)
        project_id, job_id = project.id, job.id
    try:
        Runner(factory).run(once=True)
    except SandboxError as exc:
        return {"ran": False, "job": job_id, "reason": f"the job waits in the queue: {exc}"}
    with factory() as s:
        info = describe_job(get_job(s, project_id, job_id))
    verdicts = Counter(o["verdict"] for o in info["outputs"])
    return {
        "ran": True,
        "project": project_id,
        "job": info,
        "verdicts": dict(verdicts),
        "page": f"/projects/{project_id}/jobs/{job_id}",
    }


def describe(result: dict[str, Any]) -> str:
    """One sentence for the demo's summary."""
    if not result.get("ran"):
        return f"The example study was not run as a job: {result.get('reason')}."
    job = result["job"]
    counts = ", ".join(f"{n} {v}" for v, n in sorted(result["verdicts"].items()))
    return (
        f"The example study {DEMO_STUDY} ran as job {job['id']} in the sandbox: "
        f"{job['state']} in {job['duration']:.1f} s, {len(job['outputs'])} outputs checked "
        f"({counts}); see {result['page']}."
    )
