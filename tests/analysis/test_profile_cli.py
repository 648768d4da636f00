"""``fivesafes profile`` and ``fivesafes profile missingness`` as a researcher runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from curation_world import shared_workspace
from test_curation_cli import refused, run

PEOPLE, SEED = 8000, 11


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_workspace(tmp_path_factory, PEOPLE, SEED)


def test_profile_json_and_files(workspace: Path, tmp_path: Path) -> None:
    r = run(
        "profile",
        "--workspace",
        workspace,
        "--dataset",
        "hospital_admissions,areas",
        "--out",
        tmp_path,
        "--json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [d["dataset"] for d in out["datasets"]] == ["hospital_admissions", "areas"]
    eth = next(v for v in out["datasets"][0]["variables"] if v["variable"] == "ethnicity")
    assert 85 < eth["completeness_pct"] < 90  # 12% missing, 30% for mixed and other groups
    assert sorted(Path(p).name for p in out["paths"]) == [
        "profile-variables.csv",
        "profile.json",
        "profile.md",
    ]
    text = run("profile", "--workspace", workspace, "--dataset", "pupil_census")
    assert text.returncode == 0 and "pupil_census:" in text.stdout
    assert "2006 to 2023, 18 periods" in " ".join(text.stdout.split())


def test_missingness(workspace: Path) -> None:
    r = run(
        "profile",
        "missingness",
        "--workspace",
        workspace,
        "--table",
        "hospital_admissions",
        "--variable",
        "ethnicity",
        "--covariates",
        "sex,birth_year",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["variable"] == "ethnicity" and "related" in out
    text = run(
        "profile",
        "missingness",
        "--workspace",
        workspace,
        "--table",
        "hospital_admissions",
        "--variable",
        "ethnicity",
        "--covariates",
        "sex",
    )
    assert "ethnicity is missing in" in " ".join(text.stdout.split())


def test_errors(workspace: Path) -> None:
    refused(
        run("profile", "--workspace", workspace, "--dataset", "earnings_survey"),
        "earnings_survey not in the workspace",
    )
    refused(run("profile"), "--workspace")
    refused(
        run(
            "profile",
            "missingness",
            "--workspace",
            workspace,
            "--table",
            "nope",
            "--variable",
            "x",
            "--covariates",
            "y",
        ),
        "no table nope",
    )
    refused(
        run(
            "profile",
            "missingness",
            "--workspace",
            workspace,
            "--table",
            "hospital_admissions",
            "--variable",
            "ethnicity",
            "--covariates",
            "colour",
        ),
        "no column(s) colour",
    )
