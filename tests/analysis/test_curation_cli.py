"""``fivesafes curate`` as a researcher runs it: standard steps, a steps file of
their own, re-runs, the dictionary, reconciliation, and the errors they meet."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from curation_world import copy_workspace, shared_workspace

from fivesafes.cli.main import main

PEOPLE, SEED = 8000, 11
ENV = {k: v for k, v in os.environ.items() if not k.startswith("FIVESAFES_")} | {"COLUMNS": "120"}

STEPS_YAML = """\
steps:
  - name: pupils_by_year
    description: Pupils on roll per academic year
    inputs: [pupil_census]
    outputs: [pupils_by_year]
    sql: >-
      SELECT academic_year, count(DISTINCT person_pseudonym) AS pupils
      FROM pupil_census GROUP BY 1
    columns:
      pupils: Distinct pupils in the census that year
  - name: big_years
    description: Years with more than 1,000 pupils
    inputs: [pupils_by_year]
    outputs: [big_years]
    sql: SELECT * FROM pupils_by_year WHERE pupils > 1000
"""


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``fivesafes ARGS`` in this process (as ``main()`` runs it: exit codes, one-line
    errors), which is much faster than a new interpreter per command."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["fivesafes", *map(str, args)]
    code = 0
    with (
        mock.patch.object(sys, "argv", argv),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def run_process(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fivesafes.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )


def refused(r: subprocess.CompletedProcess[str], *says: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    line = r.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line, line
    for s in says:
        assert s in line, (s, line)
    return line


@pytest.fixture
def workspace(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_workspace(shared_workspace(tmp_path_factory, PEOPLE, SEED), tmp_path)


@pytest.mark.slow
def test_standard_steps_then_nothing_to_do(workspace: Path, tmp_path: Path) -> None:
    first = run("curate", "run", "--workspace", workspace, "--json")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["command"] == "curate run"
    assert "analysis_persons" in summary["ran"] and summary["unchanged"] == []
    again = json.loads(run("curate", "run", "--workspace", workspace, "--json").stdout)
    assert again["ran"] == []
    text = run("curate", "run", "--workspace", workspace)
    assert text.returncode == 0 and "0 step(s) ran, 8 unchanged" in " ".join(text.stdout.split())
    listed = json.loads(run("curate", "list", "--workspace", workspace, "--json").stdout)
    assert listed["steps"][0]["step"] == "person_spine"
    assert all(s["last_ran"] for s in listed["steps"])
    d = run("curate", "dictionary", "--workspace", workspace, "--out", tmp_path / "dict", "--json")
    assert d.returncode == 0, d.stderr
    assert "analysis_persons" in json.loads(d.stdout)["tables"]
    assert (tmp_path / "dict" / "data-dictionary.html").exists()


def test_own_steps_file_reruns_what_changed(workspace: Path, tmp_path: Path) -> None:
    steps = tmp_path / "steps.yaml"
    steps.write_text(STEPS_YAML)
    r = run("curate", "run", "--workspace", workspace, "--steps", steps, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ran"] == ["pupils_by_year", "big_years"]
    steps.write_text(STEPS_YAML.replace("pupils > 1000", "pupils > 1500"))
    r = run("curate", "run", "--workspace", workspace, "--steps", steps, "--json")
    assert json.loads(r.stdout)["ran"] == ["big_years"]
    r = run("curate", "run", "--workspace", workspace, "--steps", steps, "--json")
    assert json.loads(r.stdout)["ran"] == []


def test_errors_name_the_file_step_and_field(workspace: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(STEPS_YAML.replace("    outputs: [big_years]\n", ""))
    refused(
        run("curate", "run", "--workspace", workspace, "--steps", bad),
        "bad.yaml",
        "row 2",
        "'outputs'",
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text(STEPS_YAML.replace("WHERE pupils > 1000", "WHERE no_such > 1"))
    line = refused(
        run("curate", "run", "--workspace", workspace, "--steps", broken),
        "step 'big_years' failed",
        "no_such",
    )
    assert "nothing it wrote was kept" in line
    leaky = tmp_path / "leaky.yaml"
    leaky.write_text(STEPS_YAML.replace("AS pupils\n", "AS pupils, 'x' AS surname\n"))
    refused(
        run("curate", "run", "--workspace", workspace, "--steps", leaky),
        "step 'pupils_by_year'",
        "named like identifiers (surname)",
    )
    # the real command, in its own process: exit code 2 and one line
    refused(
        run_process("curate", "run", "--workspace", tmp_path / "none.duckdb"), "not a workspace"
    )
    refused(
        run("curate", "dictionary", "--workspace", workspace, "--out", tmp_path / "d"),
        "run `fivesafes curate run` first",
    )


def test_reconcile(workspace: Path) -> None:
    r = run(
        "curate",
        "reconcile",
        "--workspace",
        workspace,
        "--source",
        "census_2021.ethnicity",
        "--source",
        "pupil_census.ethnicity",
        "--missing",
        "REFU,NOBT",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    (pair,) = out["pairs"]
    assert (pair["source_a"], pair["source_b"]) == ("census_2021", "pupil_census")
    # schools record a different code for about 5% of pupils (docs/synthetic-world.md)
    assert 2 < pair["disagree_pct"] < 8
    refused(
        run("curate", "reconcile", "--workspace", workspace, "--source", "ethnicity"),
        "TABLE.COLUMN",
    )


def test_help_has_examples() -> None:
    for cmd in (["curate", "run"], ["curate", "dictionary"], ["curate", "reconcile"], ["profile"]):
        r = run(*cmd, "--help")
        assert r.returncode == 0 and "Example" in r.stdout, cmd
