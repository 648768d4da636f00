"""``fivesafes analyse trajectories`` as a user runs it (a subprocess each).

The interface is fixed by issue 6: ``LONG.csv --id --time --value [--groups 1-6]
[--degree 2] [--out ASSIGN.csv] [--json]``; ``--json`` prints ``chosen_groups``,
``bic`` (by number of groups) and ``groups`` (group, proportion, avg_posterior,
occ, coefficients); ``--out`` writes id, group and the posterior of each group.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fivesafes.analysis.trajectories import fit_trajectories, read_long_csv
from fivesafes.cli.trajectories import parse_groups
from fivesafes.errors import FivesafesError, InputError

ENV = {k: v for k, v in os.environ.items() if not k.startswith("FIVESAFES_")} | {"COLUMNS": "120"}


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fivesafes.cli.main", "analyse", "trajectories", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
        cwd=cwd,
    )


def refused(r: subprocess.CompletedProcess[str], *says: str) -> str:
    """Exit 2, one line on stderr naming what is wrong, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for phrase in says:
        assert phrase in lines[0], (phrase, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def scores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two groups (true: 30% at 40 + 2·year, 70% at 60 − 1·year, sd 3), years
    2015-2020, pupil ids as text, some scores blank."""
    rng = np.random.default_rng(3)
    n, years = 300, np.arange(2015, 2021)
    group = rng.random(n) < 0.3
    t = years - 2015
    mean = np.where(group[:, None], 40 + 2.0 * t, 60 - 1.0 * t)
    y = (mean + rng.normal(0, 3, mean.shape)).round(1)
    df = pd.DataFrame(
        {
            "pupil": np.repeat([f"P{i:04d}" for i in range(n)], len(years)),
            "year": np.tile(years, n),
            "score": y.ravel(),
            "school": "x",
        }
    )
    df.loc[rng.random(len(df)) < 0.1, "score"] = np.nan
    folder = tmp_path_factory.mktemp("traj-cli")
    df.to_csv(folder / "scores.csv", index=False)
    pd.DataFrame({"pupil": [f"P{i:04d}" for i in range(n)], "true": np.where(group, 1, 2)}).to_csv(
        folder / "truth.csv", index=False
    )
    return folder / "scores.csv"


def test_json_has_the_keys_the_issue_fixes(scores: Path) -> None:
    out = scores.parent / "groups.csv"
    r = run(
        scores, "--id", "pupil", "--time", "year", "--value", "score", "--groups", "1-4",
        "--out", out, "--json", cwd=scores.parent,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["chosen_groups"] == 2
    assert set(doc["bic"]) == {"1", "2", "3", "4"}
    assert min(doc["bic"], key=lambda k: doc["bic"][k]) == "2"
    assert [g["group"] for g in doc["groups"]] == [1, 2]
    for g in doc["groups"]:
        assert {"group", "proportion", "avg_posterior", "occ", "coefficients"} <= set(g)
        assert len(g["coefficients"]) == 3  # --degree 2 by default
    low, high = doc["groups"]
    assert low["proportion"] == pytest.approx(0.3, abs=0.06)
    # coefficients on the time scale given (calendar years): at 2015 the low
    # group is at 40 and rises 2 a year
    at = np.polynomial.polynomial.polyval
    assert at(2015, low["coefficients"]) == pytest.approx(40, abs=1.0)
    assert at(2020, low["coefficients"]) - at(2015, low["coefficients"]) == pytest.approx(
        10, abs=1.0
    )
    assert at(2015, high["coefficients"]) == pytest.approx(60, abs=1.0)
    assert doc["paths"] == [str(out)]

    assign = pd.read_csv(out, dtype={"id": str})
    assert list(assign.columns) == ["id", "group", "posterior_1", "posterior_2"]
    assert len(assign) == 300 and assign["id"].str.startswith("P").all()
    truth = pd.read_csv(scores.parent / "truth.csv").set_index("pupil")["true"]
    assert (assign["group"].to_numpy() == truth.loc[assign["id"]].to_numpy()).mean() > 0.95


def test_human_output_is_a_table_of_bic_and_groups(scores: Path) -> None:
    r = run(
        scores, "--id", "pupil", "--time", "year", "--value", "score", "--groups", "1-3",
        "--degree", "1", cwd=scores.parent,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "BIC" in r.stdout and "chosen" in r.stdout
    assert "The 2-group model" in r.stdout and "AvePP" in r.stdout and "OCC" in r.stdout


def test_help_has_an_example(tmp_path: Path) -> None:
    r = run("--help", cwd=tmp_path)
    assert r.returncode == 0
    assert "Example" in r.stdout and "--groups" in r.stdout


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("pupil,year,mark\nA,1,3\n", ["scores.csv", "field 'score'", "no column"]),
        (
            "pupil,year,score\nA,1,3\nA,2,x3\nB,1,4\nB,2,?\n",
            [
                "scores.csv, row 2 (line 3), field 'score'",
                "not a number",
                "'x3'",
                "1 more problem",
            ],
        ),
        ("pupil,year,score\nA,1,3\nA,,3\n", ["row 2", "field 'year'", "blank"]),
        ("pupil,year,score\nA,1,3\n,2,3\n", ["row 2", "field 'pupil'", "blank"]),
        ("pupil,year,score\nA,1,3\nA,1,4\n", ["row 2", "second row for the same pupil"]),
        ("pupil,year,score\nA,1,3\nB,1,4\n", ["2 person(s)", "at least 60 are needed"]),
        ("", ["scores.csv", "empty"]),
    ],
)
def test_bad_input_names_file_row_and_field(tmp_path: Path, content: str, says: list[str]) -> None:
    path = tmp_path / "scores.csv"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        read_long_csv(path, "pupil", "year", "score", min_persons=60)
    for phrase in says:
        assert phrase in str(err.value), (phrase, str(err.value))
    assert "Nothing was fitted" in str(err.value)


@pytest.mark.parametrize("text", ["two", "0-3", "4-2", "1-99", ""])
def test_bad_groups(text: str) -> None:
    with pytest.raises(FivesafesError, match="--groups"):
        parse_groups(text)
    assert parse_groups("1-6") == [1, 2, 3, 4, 5, 6] and parse_groups("3") == [3]


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text("pupil,year,score\nA,1,3\nA,2,x3\n")
    r = run(path, "--id", "pupil", "--time", "year", "--value", "score", cwd=tmp_path)
    refused(r, "scores.csv, row 2 (line 3), field 'score'", "not a number")
    assert r.stdout == ""


def test_too_few_times_for_the_degree() -> None:
    long = pd.DataFrame(
        {"p": np.repeat(np.arange(40), 2), "t": np.tile([1.0, 2.0], 40), "y": np.arange(80.0)}
    )
    with pytest.raises(FivesafesError, match=r"2 distinct time\(s\) .* degree 2"):
        fit_trajectories(long, "p", "t", "y", groups=[1, 2], degree=2)


def test_time_must_be_waves() -> None:
    rng = np.random.default_rng(1)
    long = pd.DataFrame({"p": np.arange(500) // 2, "t": rng.random(500) * 1000, "y": 1.0})
    with pytest.raises(FivesafesError, match="500 distinct values"):
        fit_trajectories(long, "p", "t", "y", groups=[1, 2])
