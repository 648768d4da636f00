"""``fivesafes analyse target-trial`` on a person-period CSV: the same estimates as
the Python API on the simulation with a known effect (tte_simulation.py; the
truth is stated in test_target_trial.py), the table written, and bad input named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from tte_simulation import simulate

from fivesafes.analysis.target_trial import Protocol, emulate

#: Two subprocesses importing pandas and statsmodels, and a bootstrap.
pytestmark = pytest.mark.slow

ENV = {k: v for k, v in os.environ.items() if not k.startswith("FIVESAFES_")} | {"COLUMNS": "100"}
TRUE_RD = -0.2506  # start at time zero vs never, 5 periods (test_target_trial.py)


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fivesafes.cli.main", "analyse", "target-trial", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )


def test_the_cli_gives_the_api_estimates_and_writes_the_table(tmp_path: Path) -> None:
    data = simulate(3000, 5, seed=2)
    periods = tmp_path / "periods.csv"
    data.to_csv(periods, index=False)
    out = tmp_path / "estimates.csv"
    done = run(
        periods, "--id", "id", "--period", "period", "--treatment", "treated",
        "--outcome", "event", "--confounders", "L", "--follow-up", "5",
        "--bootstrap", "40", "--seed", "1", "--out", out, "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["command"] == "analyse target-trial"
    assert summary["method"] == "target_trial"
    api = emulate(
        data,
        Protocol("id", "period", "treated", "event", ["L"], follow_up=5),
        bootstrap=40,
        seed=1,
    )
    table = pd.read_csv(out).set_index("estimate")
    assert table.loc["risk_difference", "value"] == pytest.approx(api.weighted.risk_difference)
    assert table.loc["risk_difference", "ci_low"] == pytest.approx(api.ci["risk_difference"][0])
    lo, hi = table.loc["risk_difference", ["ci_low", "ci_high"]]
    assert lo < TRUE_RD < hi
    assert set(table.index) == {
        "risk_treated", "risk_untreated", "risk_difference", "risk_ratio",
        "naive_risk_difference",
    }  # fmt: skip


def test_a_missing_column_is_named_without_a_traceback(tmp_path: Path) -> None:
    periods = tmp_path / "periods.csv"
    simulate(50, 3, seed=1).drop(columns="L").to_csv(periods, index=False)
    done = run(
        periods, "--id", "id", "--period", "period", "--treatment", "treated",
        "--outcome", "event", "--confounders", "L", "--follow-up", "3",
    )  # fmt: skip
    assert done.returncode == 2
    assert "L" in done.stderr and "Traceback" not in done.stderr
    bad = run(periods, "--id", "id", "--period", "period", "--treatment", "treated",
              "--outcome", "event", "--confounders", "treated", "--follow-up", "3",
              "--time-zero", "sometimes")  # fmt: skip
    assert bad.returncode == 2 and "--time-zero is first or every" in bad.stderr
