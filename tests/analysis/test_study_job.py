"""An example study as a job, end to end: the demo site seeded over a real
(synthetic-world) store provisions the approved project's workspace, the demo
researcher's study ``attainment_convictions`` runs in the sandbox by a runner, its
outputs come back checked, and they are the files the same study writes when run
directly on the same workspace (the sandbox changes where code runs, not what it
computes)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pandas as pd
import pytest

from fivesafes.analysis.studies import run_study
from fivesafes.appdb import session_factory
from fivesafes.demo.jobs import DEMO_STUDY, describe, run_demo_job
from fivesafes.demo.site import DEMO_USERS, seed_demo
from fivesafes.jobs.models import Job, JobOutput
from fivesafes.projects import applications as apps
from shared.study_world import study_world

pytestmark = pytest.mark.slow


def test_the_example_study_runs_as_a_job_on_the_provisioned_workspace(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = study_world(tmp_path_factory)
    store = tmp_path / "store"
    shutil.copytree(base / "store", store, ignore=shutil.ignore_patterns("workspaces"))
    monkeypatch.setenv(apps.STORE_ENV, str(store))
    url = f"sqlite:///{tmp_path / 'web.db'}"
    seed_demo(url, passwords={d.key: f"{d.key}-pass-2026" for d in DEMO_USERS})
    result = run_demo_job(url)
    assert result["ran"], result
    job = result["job"]
    assert job["state"] == "succeeded", job
    names = {o["name"]: o["verdict"] for o in job["outputs"]}
    cohort, coefficients = "outputs/cohort/cohort.csv", "outputs/convictions/coefficients.csv"
    assert {cohort, coefficients, "report.html", "study.json"} <= set(names)
    assert names[cohort] == "pass"  # a table of counts, checked by the rules
    assert names["report.html"] == names[coefficients] == "review"  # for a checker's eye
    assert "log" not in job and DEMO_STUDY in describe(result)

    with session_factory(url)() as s:
        ran = s.get(Job, job["id"])
        assert ran is not None
        project = apps.get_project(s, ran.project_id)
        assert project.workspace and Path(project.workspace).is_relative_to(store)
        workspace = tmp_path / "direct" / "workspace.duckdb"
        workspace.parent.mkdir()
        shutil.copy(project.workspace, workspace)
        inside = {o.name: o.content for o in s.query(JobOutput).filter_by(job_id=ran.id)}
    direct = run_study(DEMO_STUDY, workspace, tmp_path / "direct-out")
    assert direct is not None
    for name in (cohort, coefficients, "outputs/trajectories/trajectory_groups.csv"):
        # The same figures (to rounding: threads may sum in another order).
        pd.testing.assert_frame_equal(
            pd.read_csv(io.BytesIO(inside[name])),
            pd.read_csv(tmp_path / "direct-out" / name),
            rtol=1e-9,
            obj=name,
        )
