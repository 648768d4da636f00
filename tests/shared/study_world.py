"""A demo-sized world for the study tests: 10,000 people (seed 1, as ``fivesafes
demo``), through the real synth → ingest → link → provision (about a minute).

Two workspaces: the demo project ``attainment-and-offending`` (pupil_census,
justice_offences, cla_episodes, areas) and ``studies-pay`` (earnings_survey,
census_2021, pupil_census, areas). Built once per test session (per xdist
worker) under the session's base temporary folder; tests copy a workspace
before running a study on it (curation writes derived tables into it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fivesafes.data import ingest, provision
from fivesafes.data.link import link
from fivesafes.synth import WorldConfig, make_world
from shared.fixed_secrets import fixed_project_secrets

PEOPLE, SEED = 10_000, 1
DEMO_PROJECT = "attainment-and-offending"
DEMO_DATASETS = ["pupil_census", "justice_offences", "cla_episodes", "areas"]
PAY_PROJECT = "studies-pay"
PAY_DATASETS = ["earnings_survey", "census_2021", "pupil_census", "areas"]


def study_world(factory: pytest.TempPathFactory) -> Path:
    """The built world's folder (``world``, ``store``, ``done``), built on first use."""
    base = factory.getbasetemp() / "study-world"
    if (base / "done").exists():
        return base
    if base.exists():
        shutil.rmtree(base)
    make_world(WorldConfig(people=PEOPLE, seed=SEED), base / "world")
    ingest([base / "world"], base / "store")
    link(base / "store")
    with fixed_project_secrets("study-world"):
        provision(base / "store", DEMO_PROJECT, DEMO_DATASETS)
        provision(base / "store", PAY_PROJECT, PAY_DATASETS)
    (base / "done").write_text("ok\n")
    return base


def workspace_copy(base: Path, project: str, target: Path) -> Path:
    """A fresh copy of a project's workspace in ``target`` (a folder)."""
    target.mkdir(parents=True, exist_ok=True)
    src = base / "store" / "workspaces" / project / "workspace.duckdb"
    dst = target / "workspace.duckdb"
    shutil.copy(src, dst)
    return dst
