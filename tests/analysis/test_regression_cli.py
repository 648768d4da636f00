"""``fivesafes analyse logit | ordinal | oaxaca | fixed-effects`` on CSV tables
made anywhere: the same numbers as the Python API's outside references, and bad
input named by file, row and field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import statsmodels
import statsmodels.api as sm

#: Five subprocesses, each importing statsmodels or pyfixest: several seconds each.
pytestmark = pytest.mark.slow

ENV = {k: v for k, v in os.environ.items() if not k.startswith("FIVESAFES_")} | {"COLUMNS": "100"}


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fivesafes.cli.main", "analyse", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        env=ENV,
    )


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, earnings_data: pd.DataFrame
) -> dict[str, object]:
    d = tmp_path_factory.mktemp("models-cli")
    spector = d / "spector.csv"
    sm.datasets.spector.load_pandas().data.to_csv(spector, index=False)
    bad = d / "bad.csv"
    sm.datasets.spector.load_pandas().data.assign(GRADE=[0, 1, 2] + [0] * 29).to_csv(
        bad, index=False
    )
    ccard = d / "ccard.csv"
    sm.datasets.ccard.load_pandas().data.to_csv(ccard, index=False)
    ucla = Path(statsmodels.__file__).parent / "miscmodels/tests/results/ologit_ucla.csv"
    pay = d / "pay.csv"
    earnings_data.to_csv(pay, index=False)
    out = d / "or.csv"
    jobs = {
        "logit": [
            "logit",
            spector,
            "--formula",
            "GRADE ~ GPA + TUCE + PSI",
            "--json",
            "--out",
            out,
        ],
        "logit_bad": ["logit", bad, "--formula", "GRADE ~ GPA + TUCE + PSI"],
        "ordinal": [
            "ordinal",
            ucla,
            "--formula",
            "apply ~ pared + public + gpa",
            "--levels",
            "unlikely,somewhat likely,very likely",
            "--json",
        ],
        "oaxaca": [
            "oaxaca",
            ccard,
            "--outcome",
            "AVGEXP",
            "--group",
            "OWNRENT",
            "--group-a",
            "1.0",
            "--covariates",
            "AGE + INCOME + INCOMESQ",
            "--bootstrap",
            "20",
            "--seed",
            "1",
            "--json",
        ],
        "fe": [
            "fixed-effects",
            pay,
            "--formula",
            "log_pay ~ immigrant + immigrant:residence + C(english) + age + I(age**2)"
            " + C(skill) + female + year | employer_id",
            "--cluster",
            "person_id",
        ],
    }
    with ThreadPoolExecutor(2) as pool:
        done: dict[str, object] = dict(
            zip(jobs, pool.map(lambda a: run(*a), jobs.values()), strict=True)
        )
    done["out"] = out
    return done


def _ok(r: object) -> subprocess.CompletedProcess[str]:
    assert isinstance(r, subprocess.CompletedProcess)
    assert r.returncode == 0, r.stderr
    return r


def test_logit_json_and_out(runs: dict[str, object]) -> None:
    doc = json.loads(_ok(runs["logit"]).stdout)
    coefs = {r["term"]: r for r in doc["tables"]["coefficients"]}
    assert coefs["GPA"]["coef"] == pytest.approx(2.82611297201, rel=1e-6)  # Stata 11
    assert doc["summary"]["n"] == 32
    out = pd.read_csv(runs["out"])  # type: ignore[arg-type]
    assert list(out.columns) == [
        "term",
        "coef",
        "se",
        "z",
        "p",
        "odds_ratio",
        "or_lower",
        "or_upper",
    ]


def test_logit_bad_outcome_named(runs: dict[str, object]) -> None:
    r = runs["logit_bad"]
    assert isinstance(r, subprocess.CompletedProcess)
    assert r.returncode == 2 and r.stdout == ""
    assert (
        "bad.csv, row 3" in r.stderr and "field 'GRADE'" in r.stderr and "Traceback" not in r.stderr
    )


def test_ordinal_json(runs: dict[str, object]) -> None:
    doc = json.loads(_ok(runs["ordinal"]).stdout)
    coefs = {r["term"]: r["coef"] for r in doc["tables"]["coefficients"]}
    assert coefs["pared"] == pytest.approx(1.04769011, abs=2e-4)  # R MASS::polr
    assert [t["threshold"] for t in doc["tables"]["thresholds"]] == [
        "unlikely|somewhat likely",
        "somewhat likely|very likely",
    ]


def test_oaxaca_json(runs: dict[str, object]) -> None:
    doc = json.loads(_ok(runs["oaxaca"]).stdout)
    s = doc["summary"]
    assert s["gap"] == pytest.approx(158.7504, abs=1e-3)  # Stata oaxaca
    assert s["endowments"] == pytest.approx(321.7482, abs=1e-3)
    assert s["explained"] == pytest.approx(130.8095, abs=1e-3)


def test_fixed_effects_human(runs: dict[str, object]) -> None:
    r = _ok(runs["fe"])
    assert "immigrant: -0.4" in r.stdout  # without employer effects ...
    assert "→ -0.2" in r.stdout  # ... and within them (planted -0.25)
