"""Benchmark: the safe setting's cost — time from a job's submission to its end,
against running the same script directly (issue #13; run by hand, not in CI).

    .venv/bin/python benchmarks/bench_jobs.py [--workspace FILE] [--repeat 5]

The workspace is the demo's (``make demo`` leaves it in
demo-output/store/workspaces/attainment-and-offending/workspace.duckdb; without
one, a 10,000-person world is built, ingested, linked and provisioned first).

Cases, each repeated and reported as the median (and the fastest) wall time:

* ``empty`` — a script that does nothing; ``attainment_convictions`` — the
  example study (curation, trajectories, regression, checked outputs, report).
* ``direct``: a fresh ``python`` process runs it on a copy of the workspace (what
  a researcher with a shell would do).
* ``sandbox``: :func:`fivesafes.sandbox.run_in_sandbox` (bubblewrap, its control
  group, the outputs checked by nothing).
* ``job``: submitted to a project's queue on SQLite and run by a runner
  (``Runner.run(once=True)``: claim, sandbox, outputs checked by the disclosure
  rules, the end recorded, the audit log written); the time from submission to
  the job's recorded end.

The sandbox's overhead is ``job − direct``; the issue's target is under a second.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine_info import machine

ROOT = Path(__file__).resolve().parents[1]
DEMO_WORKSPACE = (
    ROOT / "demo-output" / "store" / "workspaces" / "attainment-and-offending" / "workspace.duckdb"
)
STUDY = "attainment_convictions"
EMPTY = b"pass\n"


def _workspace(given: Path | None, tmp: Path) -> Path:
    if given is not None:
        return given
    if DEMO_WORKSPACE.is_file():
        return DEMO_WORKSPACE
    from fivesafes.data import ingest, provision
    from fivesafes.data.link import link
    from fivesafes.synth import WorldConfig, make_world

    print("no demo workspace: building a 10,000-person world (about a minute)")
    make_world(WorldConfig(people=10_000, seed=1), tmp / "world")
    ingest([tmp / "world"], tmp / "store")
    link(tmp / "store")
    datasets = ["pupil_census", "justice_offences", "cla_episodes", "areas"]
    return provision(tmp / "store", "bench-jobs", datasets).workspace


def _direct(kind: str, workspace: Path, tmp: Path) -> float:
    copy = tmp / "direct" / "workspace.duckdb"
    out = tmp / "direct" / "out"
    shutil.rmtree(tmp / "direct", ignore_errors=True)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    shutil.copy(workspace, copy)
    if kind == "empty":
        script = tmp / "direct" / "empty.py"
        script.write_bytes(EMPTY)
        subprocess.run([sys.executable, str(script)], check=True)
    else:
        code = (
            "import sys; from pathlib import Path; "
            "from fivesafes.analysis.studies import run_study; "
            "run_study(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))"
        )
        subprocess.run([sys.executable, "-c", code, STUDY, str(copy), str(out)], check=True)
    return time.perf_counter() - t0


def _script(kind: str) -> tuple[str, bytes, str | None]:
    if kind == "empty":
        return "empty.py", EMPTY, None
    from fivesafes.analysis.studies import find_study

    path = find_study(STUDY).path
    return path.name, path.read_bytes(), STUDY


def _sandbox(kind: str, workspace: Path, tmp: Path) -> float:
    from fivesafes.sandbox import Limits, run_in_sandbox

    name, script, study = _script(kind)
    out = tmp / "sandbox-out"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    result = run_in_sandbox(
        "study" if study else "script",
        name,
        script,
        workspace=workspace,
        outputs=out,
        limits=Limits(),
        study=study,
    )
    took = time.perf_counter() - t0
    assert result.exit_code == 0, result.log[-2000:]
    return took


class Queue:
    """A SQLite application database with one approved, provisioned project."""

    def __init__(self, tmp: Path, workspace: Path) -> None:
        from sqlalchemy import select

        from fivesafes.appdb import add_user, migrate, session_factory
        from fivesafes.appdb.models import User
        from fivesafes.projects.models import (
            MemberRole,
            Project,
            ProjectDataset,
            ProjectMember,
            ProjectState,
            Provisioning,
        )

        self.url = f"sqlite:///{tmp / 'bench-jobs.db'}"
        migrate(self.url)
        self.factory = session_factory(self.url)
        with self.factory() as s:
            add_user(s, "bench", "researcher")
            user = s.scalar(select(User).where(User.name == "bench"))
            assert user is not None
            project = Project(
                slug="bench-jobs",
                title="Benchmark",
                lay_summary="x",
                public_benefit="x",
                organisation="x",
                state=ProjectState.APPROVED.value,
                applicant_id=user.id,
                provisioning=Provisioning.PROVISIONED.value,
                workspace=str(workspace),
                provisioning_note="",
            )
            project.datasets.append(ProjectDataset(dataset="pupil_census"))
            project.members.append(
                ProjectMember(user_id=user.id, role=MemberRole.LEAD_RESEARCHER.value)
            )
            s.add(project)
            s.commit()
            self.project_id, self.user_id = project.id, user.id

    def run(self, kind: str) -> float:
        from fivesafes.appdb.models import User
        from fivesafes.jobs import get_job, submit_job
        from fivesafes.jobs.runner import Runner

        name, script, study = _script(kind)
        t0 = time.perf_counter()
        with self.factory() as s:
            user = s.get(User, self.user_id)
            assert user is not None
            if study:
                job = submit_job(s, self.project_id, user, kind, study=study)
            else:
                job = submit_job(s, self.project_id, user, kind, script=script, filename=name)
        Runner(self.factory).run(once=True)
        took = time.perf_counter() - t0
        with self.factory() as s:
            done = get_job(s, self.project_id, job.id)
            assert done.state == "succeeded", (done.state, done.reason)
        return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fivesafes-bench-jobs-"))
    try:
        workspace = _workspace(args.workspace, tmp)
        size = workspace.stat().st_size / 1e6
        queue = Queue(tmp, workspace)
        rows: list[dict[str, Any]] = []
        for kind in ("empty", STUDY):
            times: dict[str, list[float]] = {"direct": [], "sandbox": [], "job": []}
            for _ in range(args.repeat):  # interleaved, so drift hits all three alike
                times["direct"].append(_direct(kind, workspace, tmp))
                times["sandbox"].append(_sandbox(kind, workspace, tmp))
                times["job"].append(queue.run(kind))
            med = {k: statistics.median(v) for k, v in times.items()}
            rows.append(
                {
                    "case": kind,
                    **{f"{k}_median_s": round(v, 3) for k, v in med.items()},
                    **{f"{k}_min_s": round(min(v), 3) for k, v in times.items()},
                    "overhead_s": round(med["job"] - med["direct"], 3),
                    "ratio": round(med["job"] / med["direct"], 2),
                }
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"machine: {machine()}; workspace {size:.0f} MB")
    print("| case | direct (median / min) | sandbox | job, submission to end | overhead | ratio |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['direct_median_s']:.2f} s / {r['direct_min_s']:.2f} s "
            f"| {r['sandbox_median_s']:.2f} s | {r['job_median_s']:.2f} s "
            f"| {r['overhead_s']:+.2f} s | {r['ratio']:.2f}× |"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
