"""``fivesafes analyse moran`` as a researcher runs it: the JSON keys and the
--out columns the spec fixes, and bad input named by file, row and field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

#: Six subprocesses at once (the first importing esda): several seconds in all.
pytestmark = pytest.mark.slow

ENV = {k: v for k, v in os.environ.items() if not k.startswith("FIVESAFES_")} | {"COLUMNS": "100"}


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fivesafes.cli.main", "analyse", "moran", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )


@pytest.fixture(scope="module")
def runs(
    asd_areas: tuple[pd.DataFrame, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess[str]]:
    areas, pairs = asd_areas
    d = tmp_path_factory.mktemp("moran-cli")
    good = d / "areas.csv"
    areas[["area_code", "asd_share"]].to_csv(good, index=False)
    text = areas[["area_code", "asd_share"]].astype(str)
    text.loc[5, "asd_share"] = "n/a"
    bad_value = d / "bad_value.csv"
    text.to_csv(bad_value, index=False)
    unknown = d / "unknown.csv"
    with_unknown = pd.read_csv(pairs, dtype=str)
    with_unknown.loc[len(with_unknown)] = ["X01000001", "X09999999"]
    with_unknown.to_csv(unknown, index=False)
    island = d / "island.csv"
    pd.concat(
        [
            areas[["area_code", "asd_share"]],
            pd.DataFrame({"area_code": ["X01999999"], "asd_share": [0.1]}),
        ]
    ).to_csv(island, index=False)
    out = d / "local.csv"
    base = ["--id", "area_code", "--value", "asd_share"]
    jobs = {
        "human": [good, *base, "--neighbours", pairs, "--seed", "4", "--out", out],
        "json": [good, *base, "--neighbours", pairs, "--seed", "4", "--json"],
        "bad_value": [bad_value, *base, "--neighbours", pairs, "--json"],
        "unknown": [good, *base, "--neighbours", unknown],
        "island": [island, *base, "--neighbours", pairs],
        "no_column": [good, "--id", "area_code", "--value", "rate", "--neighbours", pairs],
    }
    with ThreadPoolExecutor(2) as pool:
        done = dict(zip(jobs, pool.map(lambda a: run(*a), jobs.values()), strict=True))
    done["out_path"] = out  # type: ignore[assignment]
    return done


def _refused(r: subprocess.CompletedProcess[str], *says: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stdout == ""
    line = r.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line, r.stderr
    for phrase in says:
        assert phrase in line, (phrase, line)


def test_json_has_the_spec_keys(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    r = runs["json"]
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {"I", "expected_I", "z", "p_sim"} <= set(doc)
    assert doc["I"] > 0.1 and doc["p_sim"] <= 0.01
    assert doc["expected_I"] == pytest.approx(-1 / (doc["areas"] - 1))


def test_out_has_local_i_p_value_and_quadrant_per_area(
    runs: dict[str, subprocess.CompletedProcess[str]], asd_areas: tuple[pd.DataFrame, Path]
) -> None:
    r = runs["human"]
    assert r.returncode == 0, r.stderr
    assert "Moran's I =" in r.stdout
    local = pd.read_csv(runs["out_path"])  # type: ignore[arg-type]
    assert list(local.columns) == ["area_code", "local_I", "p_sim", "quadrant"]
    assert len(local) == len(asd_areas[0])
    assert set(local["quadrant"]) <= {"HH", "LL", "HL", "LH"}
    assert local["p_sim"].between(0, 1).all()
    # same seed as the --json run: the same global statistic
    i = float(r.stdout.split("Moran's I =")[1].split()[0])
    assert i == pytest.approx(json.loads(runs["json"].stdout)["I"], abs=1e-4)


def test_non_numeric_value_named(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    _refused(runs["bad_value"], "bad_value.csv, row 6", "field 'asd_share'", "'n/a'")


def test_unknown_area_in_pairs_named(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    _refused(runs["unknown"], "unknown.csv", "field 'neighbour'", "X09999999", "not in the areas")


def test_island_named(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    _refused(runs["island"], "no neighbours", "X01999999")


def test_missing_column_named(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    _refused(runs["no_column"], "areas.csv", "no column 'rate'")
