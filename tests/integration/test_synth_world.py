"""The synthetic world as a user gets it: ``fivesafes synth`` writes provider files
that follow the dataset catalogue, a truth kept apart from them that accounts for
every row, and the same files for the same seed."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fivesafes.datasets import AREAS, BY_NAME, DATASETS, dataset_for_file
from fivesafes.synth import ErrorRates, WorldConfig, make_world

PROVIDER_DATASETS = [d.name for d in DATASETS if d is not AREAS]
CLI = [sys.executable, "-m", "fivesafes.cli.main"]
MULTIPLIERS = ErrorRates().dataset_multiplier
TRUTH_FILES = {"people.csv", "records.csv", "effects.json"}


def file_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def header(path: Path) -> list[str]:
    with path.open(newline="") as f:
        return next(csv.reader(f))


@pytest.mark.slow
def test_cli_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    """``fivesafes synth`` run twice with one seed writes byte-identical files (every
    file, the truth and world.json included); another seed writes different ones."""
    runs = {"a": 1, "b": 1, "c": 2}
    procs = {
        key: subprocess.Popen(
            [*CLI, "synth", "--people", "5000", "--seed", str(seed), "--out", str(tmp_path / key)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for key, seed in runs.items()
    }
    for key, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"run {key}: {err}"
        assert "Synthetic world of 5,000 people" in out
    a, b, c = (file_hashes(tmp_path / key) for key in runs)
    assert len(a) > 40
    assert any(k.startswith("truth/") for k in a) and "world.json" in a
    assert a == b
    provider = [k for k in a if k.startswith("provider/")]
    assert provider and set(provider) <= set(c)
    same = [k for k in provider if a[k] == c[k]]
    assert not same, f"seed 2 wrote the same {same}"


def test_provider_files_follow_the_catalogue(synth_world_dir: Path) -> None:
    """Each provider file is named for its dataset and its header is exactly the
    dataset's columns, in order; every dataset has its files (yearly ones, one per
    year of data)."""
    seen: dict[str, list[str]] = {}
    for path in sorted((synth_world_dir / "provider").iterdir()):
        ds = dataset_for_file(path.name)
        assert ds is not None and ds is not AREAS, f"{path.name}: no such dataset"
        assert ds.matches(path.name)
        assert header(path) == list(ds.column_names), path.name
        seen.setdefault(ds.name, []).append(path.name)
    assert set(seen) == set(PROVIDER_DATASETS)
    for name, files in seen.items():
        if BY_NAME[name].yearly:
            years = sorted(int(f[-8:-4]) for f in files)
            assert years == list(range(years[0], years[-1] + 1)), name
            assert len(years) > 10, name
        else:
            assert files == [f"{name}.csv"]
    areas = synth_world_dir / "reference" / "areas.csv"
    assert header(areas) == list(AREAS.column_names)
    assert [p.name for p in (synth_world_dir / "reference").iterdir()] == ["areas.csv"]


def test_truth_accounts_for_every_provider_row(synth_world_dir: Path, synth_world) -> None:
    """truth/records.csv has exactly one row per provider data row, naming the
    dataset, file and row, and a person who exists in truth/people.csv."""
    records = synth_world.records
    assert not records.duplicated(["file", "row"]).any()
    provider_rows = pd.concat(
        [df[["file", "row"]].assign(dataset=name) for name, df in synth_world.provider.items()],
        ignore_index=True,
    )
    files = {p.name for p in (synth_world_dir / "provider").iterdir()}
    assert set(provider_rows["file"]) == files == set(records["file"])
    merged = provider_rows.merge(records, on=["file", "row"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    assert (merged["dataset_x"] == merged["dataset_y"]).all()
    assert records["person_id"].isin(synth_world.people["pid"]).all()
    assert synth_world.people["pid"].tolist() == list(range(synth_world.config.people))

    world = json.loads((synth_world_dir / "world.json").read_text())
    counts = records.groupby("file").size()
    for rel, n in world["files"].items():
        if rel.startswith("provider/"):
            assert counts[rel.removeprefix("provider/")] == n, rel
    assert world["datasets"] == records.groupby("dataset").size().to_dict()
    assert world["config"]["people"] == synth_world.config.people


def test_truth_is_kept_apart_from_provider_files(synth_world_dir: Path, synth_world) -> None:
    """Nothing a provider sends names the true person: truth files live under truth/
    only, and no provider or reference file has a person_id or any truth-only column."""
    assert {p.name for p in (synth_world_dir / "truth").iterdir()} == TRUTH_FILES
    top = {p.name for p in synth_world_dir.iterdir()}
    assert top == {"provider", "reference", "truth", "world.json"}
    truth_only = set(synth_world.people.columns) - {c.name for d in DATASETS for c in d.columns}
    truth_only |= set(synth_world.records.columns) - {"file", "row"}
    assert {"person_id", "trajectory_group", "convicted_by_21", "hotspot_area"} <= truth_only
    for path in [
        *(synth_world_dir / "provider").iterdir(),
        synth_world_dir / "reference" / "areas.csv",
    ]:
        leaked = set(header(path)) & truth_only
        assert not leaked, f"{path.name} has truth columns {leaked}"
        assert path.name not in TRUTH_FILES
    world = json.loads((synth_world_dir / "world.json").read_text())
    assert not [f for f in world["files"] if f.startswith("truth/")]


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, float]]]:
    calls: list[tuple[str, float]] = []
    out = tmp_path_factory.mktemp("small-world")
    make_world(WorldConfig(people=3000, seed=5), out, lambda s, f: calls.append((s, f)))
    return out, calls


def test_progress_is_reported_to_the_end(small_world) -> None:
    _, calls = small_world
    fractions = [f for _, f in calls]
    assert len(calls) >= 9
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0 and calls[-1] == ("done", 1.0)


@pytest.mark.parametrize(
    ("change", "changed"),
    [
        (
            lambda cfg: dataclasses.replace(
                cfg,
                errors=ErrorRates(
                    dataset_multiplier={
                        **ErrorRates().dataset_multiplier,
                        "hospital_admissions": 3.0,
                    }
                ),
            ),
            {"hospital_admissions"},
        ),
        (
            lambda cfg: dataclasses.replace(
                cfg, effects=dataclasses.replace(cfg.effects, hotspot_odds_ratio=8.0)
            ),
            {"pupil_census"},
        ),
    ],
    ids=["hospital-error-rates", "school-hotspot"],
)
def test_changing_one_dataset_leaves_the_others_as_they_were(
    small_world, tmp_path: Path, change, changed: set[str]
) -> None:
    """Each stage draws from its own random stream: changing the hospital's error
    rates, or the schools' special-needs model, changes those files only."""
    base_dir, _ = small_world
    out = tmp_path / "w"
    make_world(change(WorldConfig(people=3000, seed=5)), out)
    before, after = file_hashes(base_dir / "provider"), file_hashes(out / "provider")
    assert set(before) == set(after)
    differs = {dataset_for_file(f).name for f in before if before[f] != after[f]}
    assert differs == changed
