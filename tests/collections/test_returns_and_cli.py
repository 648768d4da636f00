# ruff: noqa: E501  (the command lines of the journey stay one per line)
"""The synthetic provider returns (clean ones pass every rule; every planted
mistake is found at its row and field), the submission cycle of the demo, and
the ``fivesafes collections`` commands as a provider runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from fivesafes.collections.rules import Context, Validation, run_rules
from fivesafes.collections.spec import load_spec
from fivesafes.demo.collections import run_cycle
from fivesafes.synth import returns as rt

CFG = rt.ReturnsConfig()


def check(
    table: pa.Table, collection: str, la: int, year: int, previous: Any = None
) -> tuple[Validation, set[tuple[Any, Any]]]:
    table = table.append_column("__row", pa.array(np.arange(1, table.num_rows + 1)))
    con = duckdb.connect()
    con.register("incoming", table)
    v = run_rules(con, "incoming", Context(load_spec(collection), rt.la_code(la), year), previous)
    found = {(r[0], r[1]) for r in con.execute("SELECT row, field FROM __issues").fetchall()}
    return v, found


@pytest.mark.parametrize("la", [0, 7, 21])
def test_clean_returns_pass_every_rule(la: int) -> None:
    a = rt.make_authority(CFG, la)
    for collection, make in (("cla_episodes", rt.cla_return), ("cin_census", rt.cin_return)):
        for year in (CFG.first_year, CFG.last_year):
            v, _ = check(make(a, year), collection, la, year)
            assert v.counts == {}, (collection, year, v.counts)
            assert v.rows > 50


@pytest.mark.parametrize("collection", ["cla_episodes", "cin_census"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_planted_mistake_is_found(collection: str, seed: int) -> None:
    a = rt.make_authority(CFG, seed)
    make = rt.cla_return if collection == "cla_episodes" else rt.cin_return
    bad, planted = rt.with_errors(make(a, 2021), collection, np.random.default_rng(seed), 2)
    v, found = check(bad, collection, seed, 2021)
    kinds = rt.CLA_ERROR_KINDS if collection == "cla_episodes" else rt.CIN_ERROR_KINDS
    assert {p.kind for p in planted} == set(kinds)
    for p in planted:
        assert (p.row, p.field) in found, p
    assert v.errors >= len(planted)


def test_the_jump_is_a_warning_about_the_change() -> None:
    a = rt.make_authority(CFG, rt.JUMP_LA)
    before, _ = check(rt.cla_return(a, rt.JUMP_YEAR - 1), "cla_episodes", rt.JUMP_LA, 2021)
    after, _ = check(
        rt.cla_return(a, rt.JUMP_YEAR), "cla_episodes", rt.JUMP_LA, 2022, before.summary
    )
    assert after.errors == 0 and after.counts.get("CLA401") == 1


def test_returns_are_written_for_22_authorities(tmp_path: Path) -> None:
    cfg = rt.ReturnsConfig(children=40, first_year=2022, last_year=2023)
    summary = rt.make_returns(tmp_path, cfg, error_share=0.25)
    assert len(summary.files) == 22 * 2 * 2
    assert (tmp_path / "cla_episodes" / "X06000022_2023.csv").exists()
    planted = json.loads((tmp_path / "planted.json").read_text())
    assert set(planted) == {k for k, f in summary.files.items() if f["errors_planted"]}
    assert 0 < len(planted) < len(summary.files)


@pytest.mark.slow
def test_the_demo_cycle(tmp_path: Path) -> None:
    result = run_cycle(tmp_path, all_authorities=False)
    assert result["rejected"]["status"] == "rejected"
    assert result["rejected"]["errors"] >= len(result["planted_errors"])
    assert result["corrected"]["status_before_explanations"] == "needs_explanation"
    assert result["corrected"]["status"] == "accepted"
    assert result["corrected"]["supersedes"] == result["rejected"]["id"]
    assert result["corrected"]["warnings_explained"] == sorted(
        result["corrected"]["issues_by_rule"]
    )
    for key in ("rejected_html", "rejected_csv", "accepted_html", "accepted_csv"):
        assert Path(result["reports"][key]).exists()
    con = duckdb.connect(result["accepted_db"], read_only=True)
    try:
        rows = con.execute(
            "SELECT collection_year, count(*) FROM cla_episodes GROUP BY 1 ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    assert rows == [
        (rt.JUMP_YEAR - 1, result["baseline"]["rows"]),
        (rt.JUMP_YEAR, result["corrected"]["rows"]),
    ]


# --- the commands -----------------------------------------------------------------------------

ENV = {k: v for k, v in os.environ.items() if not k.startswith("FIVESAFES_")} | {"COLUMNS": "200"}


def fivesafes(state: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fivesafes.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV | {"FIVESAFES_STATE_DIR": str(state)},
        cwd=state.parent,
    )


def ok(run: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert run.returncode == 0, (run.stdout, run.stderr)
    return json.loads(run.stdout)  # type: ignore[no-any-return]


def refused(run: subprocess.CompletedProcess[str], says: str) -> None:
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stdout + run.stderr
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run.stderr
    assert says in run.stderr, run.stderr


@pytest.mark.slow
def test_a_provider_submits_explains_and_accepts_from_the_command_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    a = rt.make_authority(rt.ReturnsConfig(children=150), 0)
    code = rt.la_code(0)
    rt.write_csv(rt.cla_return(a, 2021), tmp_path / "ok.csv")
    ethnicity_blank = rt.cla_return(a, 2022)
    col = ethnicity_blank.column("ethnicity").to_pylist()
    col[0] = ""
    ethnicity_blank = ethnicity_blank.set_column(
        ethnicity_blank.schema.get_field_index("ethnicity"), "ethnicity", [col]
    )
    rt.write_csv(ethnicity_blank, tmp_path / "warn.csv")
    (tmp_path / "sheet.csv").write_bytes(b"PK\x03\x04" + b"\x00" * 64)

    ok(fivesafes(state, "users", "add", "admin", "--role", "administrator", "--json"))
    ok(fivesafes(state, "users", "add", "ann", "--role", "data_owner", "--json"))
    ok(fivesafes(state, "users", "add", "bob", "--role", "data_owner", "--json"))
    ok(fivesafes(state, "collections", "providers", "add", code, "--name", "A", "--as", "admin", "--json"))  # fmt: skip
    ok(fivesafes(state, "collections", "providers", "add-member", code, "ann", "--as", "admin", "--json"))  # fmt: skip

    first = ok(fivesafes(state, "collections", "submit", "cla_episodes", tmp_path / "ok.csv", "--year", "2021", "--as", "ann", "--json"))  # fmt: skip
    sub = first["submission"]
    assert sub["status"] == "ready"  # type: ignore[index]
    accepted = ok(fivesafes(state, "collections", "accept", str(sub["id"]), "--as", "ann", "--json"))  # type: ignore[index]  # fmt: skip
    assert accepted["submission"]["status"] == "accepted"  # type: ignore[index]
    assert Path(str(accepted["accepted_db"])).exists()

    second = ok(fivesafes(state, "collections", "submit", "cla_episodes", tmp_path / "warn.csv", "--year", "2022", "--as", "ann", "--json"))  # fmt: skip
    sid = str(second["submission"]["id"])  # type: ignore[index]
    assert second["submission"]["status"] == "needs_explanation"  # type: ignore[index]
    refused(fivesafes(state, "collections", "accept", sid, "--as", "ann"), "not yet explained (rule CLA108)")  # fmt: skip
    refused(fivesafes(state, "collections", "report", sid, "--as", "bob"), f"no submission {sid} among those bob may see")  # fmt: skip
    report = ok(fivesafes(state, "collections", "report", sid, "--as", "ann", "--json"))
    assert report["unexplained_warnings"] == [{"rule": "CLA108", "row": 1}]
    assert report["issues"][0]["message"] == (  # type: ignore[index]
        "Ethnicity is missing; record NOBT if it has not yet been obtained."
    )
    ok(fivesafes(state, "collections", "explain", sid, "--rule", "CLA108", "--row", "1", "--text", "Not yet asked", "--as", "ann", "--json"))  # fmt: skip
    done = ok(fivesafes(state, "collections", "accept", sid, "--as", "ann", "--json"))
    assert done["submission"]["status"] == "accepted"  # type: ignore[index]

    refused(fivesafes(state, "collections", "submit", "cla_episodes", tmp_path / "sheet.csv", "--year", "2022", "--as", "ann"), "is a spreadsheet, not a CSV file")  # fmt: skip
