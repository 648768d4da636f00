"""The ``fivesafes`` command as people run it: in a shell, with exit codes, one
line per error and no traceback, and ``--json`` for scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from ingest_cases import BAD_FILES, BadFile

from fivesafes.datasets import BY_NAME, PUPIL_CENSUS, dataset_for_file

COMMANDS = ("synth", "ingest", "store", "datasets", "demo")
ENV = {k: v for k, v in os.environ.items() if k != "FIVESAFES_DEBUG"} | {"COLUMNS": "100"}


# A generous timeout: a safety net for a stuck command on a busy machine, not a timing.
def fivesafes(
    *args: str | Path, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fivesafes.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        cwd=cwd,
    )


def assert_user_error(run: subprocess.CompletedProcess[str], *says: str) -> str:
    """Exit code 2, one line on stderr saying what is wrong, nothing on stdout."""
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error: ")
    for phrase in says:
        assert phrase in lines[0]
    assert run.stdout == ""
    return lines[0]


def one_json_document(run: subprocess.CompletedProcess[str]) -> dict:
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    doc = json.loads(run.stdout)  # fails on anything but exactly one document
    assert isinstance(doc, dict)
    return doc


def test_the_installed_command_runs():
    exe = Path(sys.executable).with_name("fivesafes")
    assert exe.exists()
    run = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0
    for command in COMMANDS:
        assert command in run.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str):
    run = fivesafes(command, "--help")
    assert run.returncode == 0, run.stderr
    assert "Example" in run.stdout
    assert f"fivesafes {command}" in run.stdout  # the example is of this command
    assert "--json" in run.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["synth", "--people", "abc", "--out", "w"], "'--people'"),
        (["synth", "--people", "5", "--out", "w"], "'--people'"),
        (["synth", "--people", "500"], "'--out'"),
        (["ingest", "--store", "s"], "Missing argument 'paths'"),
        (["ingest", "x.csv"], "'--store'"),
        (["store"], "'--store'"),
        (["demo", "--people", "many"], "'--people'"),
        (["datasets", "--colour"], "--colour"),
        (["frobnicate"], "frobnicate"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_bad_arguments_exit_2_without_a_traceback(tmp_path: Path, args: list[str], says: str):
    run = fivesafes(*args, cwd=tmp_path)
    assert run.returncode == 2
    assert "Traceback" not in run.stdout + run.stderr
    assert says in run.stderr
    assert "Usage: " in run.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("case", BAD_FILES, ids=lambda c: c.id)
def test_a_bad_file_through_the_cli(
    case: BadFile, world: Path, base_store: Path, snapshot, tmp_path: Path
):
    bad = case.write(world, tmp_path / "returns")
    before = snapshot(base_store)
    run = fivesafes("ingest", bad, "--store", base_store)
    row = case.expected_row(world)
    says = [f"error: {bad.name}", case.says, "Nothing from this file was stored"]
    if row is not None:
        says.append(f"row {row} ")
    if case.field is not None:
        says.append(f"field '{case.field}'")
    assert_user_error(run, *says)
    assert snapshot(base_store) == before


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["ingest", "{tmp}/nothing.csv", "--store", "{tmp}/s"], "nothing.csv does not exist"),
        (["ingest", "{tmp}", "--store", "{tmp}/s"], "no provider files"),
        (["store", "--store", "{tmp}"], "not a fivesafes store"),
        (["datasets", "pupils"], "unknown dataset 'pupils'"),
        (["ingest", "{tmp}", "--store", "{tmp}/s", "--dataset", "pupils"], "unknown dataset"),
    ],
    ids=["missing file", "empty folder", "not a store", "unknown dataset", "unknown --dataset"],
)
def test_user_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], says: str):
    run = fivesafes(*(a.format(tmp=tmp_path) for a in args))
    assert_user_error(run, says)


def test_a_store_in_use_is_refused_clearly(world: Path, base_store: Path):
    holder = duckdb.connect(str(base_store / "identifiers.duckdb"))  # holds the lock
    try:
        run = fivesafes("ingest", world / "provider" / "cla_episodes.csv", "--store", base_store)
    finally:
        holder.close()
    assert_user_error(run, "in use by another fivesafes process")


def test_a_store_that_is_a_file_is_a_user_error(world: Path, tmp_path: Path):
    (tmp_path / "store").write_text("")
    run = fivesafes(
        "ingest", world / "provider" / "cla_episodes.csv", "--store", tmp_path / "store"
    )
    assert_user_error(run, "not a folder")


def test_synth_json(tmp_path: Path):
    out = tmp_path / "w"
    doc = one_json_document(
        fivesafes("synth", "--people", "300", "--seed", "2", "--out", out, "--json")
    )
    assert doc["command"] == "synth"
    assert (doc["people"], doc["seed"]) == (300, 2)
    assert isinstance(doc["seconds"], float) and doc["seconds"] > 0
    assert Path(doc["out"]) == out
    assert doc["datasets"]["census_2021"] > 0
    per_dataset: dict[str, int] = {}
    for rel, rows in doc["files"].items():
        name = dataset_for_file(Path(rel).name).name
        per_dataset[name] = per_dataset.get(name, 0) + rows
    assert per_dataset.pop("areas") > 0  # reference data
    assert per_dataset == doc["datasets"]
    for rel in doc["files"]:
        assert (out / rel).is_file()
    assert (out / "truth" / "people.csv").is_file()


def test_synth_human_output_names_where_things_are(tmp_path: Path):
    run = fivesafes("synth", "--people", "200", "--out", tmp_path / "w")
    assert run.returncode == 0, run.stderr
    assert "pupil_census" in run.stdout and "truth" in run.stdout
    assert run.stderr == ""


@pytest.mark.slow
def test_ingest_and_store_json(world: Path, tmp_path: Path):
    store = tmp_path / "store"
    files = [world / "provider" / "cla_episodes.csv", world / "provider" / "cin_census_2015.csv"]
    doc = one_json_document(fivesafes("ingest", *files, "--store", store, "--json"))
    assert doc["command"] == "ingest"
    assert doc["files_ingested"] == 2 and doc["files_already_ingested"] == 0
    rows = {f["file"]: f["rows"] for f in doc["files"]}
    assert set(rows) == {"cla_episodes.csv", "cin_census_2015.csv"}
    assert doc["rows_ingested"] == sum(rows.values()) > 0
    assert isinstance(doc["seconds"], float)
    assert all(isinstance(f["seconds"], float) for f in doc["files"])
    assert [Path(p).name for p in doc["paths"]] == ["identifiers.duckdb", "content.duckdb"]
    assert all(Path(p).is_file() for p in doc["paths"])

    again = one_json_document(fivesafes("ingest", *files, "--store", store, "--json"))
    assert (again["files_ingested"], again["files_already_ingested"]) == (0, 2)
    assert again["rows_ingested"] == 0

    summary = one_json_document(fivesafes("store", "--store", store, "--json"))
    assert summary["command"] == "store"
    assert summary["datasets"] == {
        "cla_episodes": {
            "files": 1,
            "identifier_rows": rows["cla_episodes.csv"],
            "content_rows": rows["cla_episodes.csv"],
        },
        "cin_census": {
            "files": 1,
            "identifier_rows": rows["cin_census_2015.csv"],
            "content_rows": rows["cin_census_2015.csv"],
        },
    }
    assert isinstance(summary["seconds"], float)
    assert all(Path(p).is_file() for p in summary["paths"])


@pytest.mark.slow
def test_ingest_and_store_human_output(world: Path, tmp_path: Path):
    store = tmp_path / "store"
    run = fivesafes("ingest", world / "provider" / "cla_episodes.csv", "--store", store)
    assert run.returncode == 0, run.stderr
    assert "Ingested 1 file(s)" in run.stdout
    assert run.stderr == ""
    run = fivesafes("store", "--store", store)
    assert run.returncode == 0, run.stderr
    assert "cla_episodes" in run.stdout


def test_datasets_describes_pupil_census(tmp_path: Path):
    run = fivesafes("datasets", "pupil_census")
    assert run.returncode == 0, run.stderr
    for column in PUPIL_CENSUS.column_names:
        assert column in run.stdout
    assert "identifier" in run.stdout and "content" in run.stdout
    assert "cla_episodes" not in run.stdout


def test_datasets_json_is_the_catalogue():
    doc = one_json_document(fivesafes("datasets", "--json"))
    assert [d["name"] for d in doc["datasets"]] == list(BY_NAME)
    pupils = doc["datasets"][0]
    assert [c["name"] for c in pupils["columns"]] == list(PUPIL_CENSUS.column_names)
    assert {c["name"]: c["zone"] for c in pupils["columns"]}["upn"] == "identifier"
    assert pupils["file"] == "pupil_census_2015.csv"


@pytest.mark.slow
def test_demo_writes_its_summary(tmp_path: Path):
    out = tmp_path / "demo"
    doc = one_json_document(fivesafes("demo", "--out", out, "--people", "2000", "--json"))
    assert doc["command"] == "demo"
    written = json.loads((out / "summary.json").read_text())
    assert {k: v for k, v in doc.items() if k != "command"} == written
    markdown = (out / "summary.md").read_text()
    assert doc["world"]["people"] == 2000
    assert isinstance(doc["seconds"], float)
    generated = doc["world"]["datasets"]
    assert set(doc["store"]) == {*generated, "areas"}
    for name, counts in doc["store"].items():
        assert counts["identifier_rows"] == counts["content_rows"]
        assert counts["content_rows"] == generated.get(name, counts["content_rows"])
        assert f"| {name} | {counts['content_rows']:,} |" in markdown
    assert doc["ingest"]["files_ingested"] == len(doc["world"]["files"])
    for path in doc["paths"].values():
        assert Path(path).exists()
    # run again into the same folder: it starts afresh, nothing doubles
    again = one_json_document(fivesafes("demo", "--out", out, "--people", "2000", "--json"))
    assert again["store"] == doc["store"]


@pytest.mark.parametrize("command", ["synth", "demo"])
def test_an_out_folder_that_is_a_file_is_a_user_error(tmp_path: Path, command: str):
    target = tmp_path / "w"
    target.write_text("a file where the folder should go")
    run = fivesafes(command, "--people", "100", "--out", target, "--json")
    assert_user_error(run, str(target), "Not a directory")
    assert target.read_text() == "a file where the folder should go"
