"""``fivesafes outputs check-table`` as a researcher runs it on a table made
elsewhere: under the TRE's policy, with stricter (and, refused, looser) rules, and
on tables that are wrong. Every run below is independent, so they run at once
(module fixture) and each test reads its own."""

from __future__ import annotations

import csv
import io
import subprocess
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest

#: Every cell at least 14 people: nothing to suppress under acro (threshold 10).
CLEAN = """region,sex,count
North,F,40
North,M,14
North,Total,54
South,F,25
South,M,31
South,Total,56
Total,F,65
Total,M,45
Total,Total,110
"""

#: docs/disclosure-control.md's example: North × M is 4.
SMALL = CLEAN.replace("North,M,14", "North,M,4").replace("North,Total,54", "North,Total,44")
SMALL = SMALL.replace("Total,M,45", "Total,M,35").replace("Total,Total,110", "Total,Total,100")

#: The four inner cells withheld (North × M, and three that would give it away);
#: the margins keep their true values.
SUPPRESSED = {("North", "F"), ("North", "M"), ("South", "F"), ("South", "M")}

TIGHTER = """[policy]
name = "ana-stricter"
version = "1"
base = "acro"
threshold = 20
"""

LOOSER = """[policy]
name = "ana-looser"
version = "1"
base = "acro"
threshold = 5
"""

#: ACRO with a protection interval of 10% each way, so that the attacker's a priori
#: bounds (a cell is at least its negative contributions) decide how far down a
#: withheld cell is protected.
GUARDED = """[policy]
name = "acro-10"
version = "1"
base = "acro"
protection_upper = 10
protection_lower = 10
"""


def _microdata() -> str:
    """One row per contribution to the profit of regions A, B by bands x, y: A × x is
    twelve small profits (10 to 21) and one loss of 50,000, which dominates it; the
    other cells are twelve profits of thousands each."""
    base = {("A", "x"): (10, 1), ("A", "y"): (6000, 250), ("B", "x"): (5000, 250)}
    base[("B", "y")] = (7000, 250)
    rows = ["region,band,profit"]
    for (region, band), (first, step) in base.items():
        rows += [f"{region},{band},{first + step * i}" for i in range(12)]
    return "\n".join([*rows, "A,x,-50000"]) + "\n"


MICRODATA = _microdata()

BAD_MICRODATA = {
    "an amount that is not a number": (
        MICRODATA.replace("B,x,5250\n", 'B,x,"5,250"\n'),  # a thousands separator
        "row 26 (line 27), field 'profit': the amount is not a number (got '5,250')",
    ),
    "an empty amount": (
        MICRODATA.replace("A,y,6000\n", "A,y,\n"),
        "row 13 (line 14), field 'profit': the amount is empty",
    ),
    "a Total row in microdata": (
        MICRODATA + "Total,x,4\n",
        "row 50 (line 51), field 'region': the category 'Total' is reserved for the margins",
    ),
}

BAD_TABLES = {
    "a Total that is not the sum of its parts": (
        CLEAN.replace("North,Total,54", "North,Total,57"),
        "count",
        "row 3 (line 4), field 'count': this Total is 57 but its 2 parts add up to 54",
    ),
    "a value that is not a number": (
        CLEAN.replace("South,M,31", "South,M,thirty"),
        "count",
        "row 5 (line 6), field 'count': the value is not a number (got 'thirty')",
    ),
    "an empty value (a combination with no records, left blank)": (
        CLEAN.replace("South,M,31", "South,M,"),
        "count",
        "row 5 (line 6), field 'count': the value is empty: write 0 for a combination "
        "with no records",
    ),
    "a negative count": (
        CLEAN.replace("South,F,25", "South,F,-25"),
        "count",
        "row 4 (line 5), field 'count': a count cannot be negative",
    ),
    "a table of net amounts (profits and losses)": (
        "region,band,profit\nA,x,-5000\nA,y,120\nA,Total,-4880\nB,x,300\nB,y,410\n"
        "B,Total,710\nTotal,x,-4700\nTotal,y,530\nTotal,Total,-4170\n",
        "profit",
        "row 1 (line 2), field 'profit': a count cannot be negative: this reads a table "
        "of counts; a table of amounts that can be negative (profits, changes) is checked "
        "from its contributions, one row each (fivesafes outputs check-table --microdata, "
        "or fivesafes.outputs.MagnitudeTable) (got '-5000')",
    ),
    "a cell given twice": (
        CLEAN + "North,F,40\n",
        "count",
        "row 10 (line 11)",
    ),
    "no value column": (CLEAN, "n", "field 'n': has no column 'n'; its columns are region, sex"),
}


@dataclass(frozen=True)
class Case:
    table: str
    args: tuple[str, ...] = ()
    tre: str = "acro"  # $FIVESAFES_POLICY
    value: str = "count"
    out: bool = True


CASES = {
    "clean": Case(CLEAN),
    "small": Case(SMALL),
    "json": Case(SMALL, ("--json",)),
    "json without --out": Case(CLEAN, ("--json",), out=False),
    "opensafely under acro": Case(CLEAN, ("--policy", "opensafely")),
    "tighter toml": Case(CLEAN, ("--policy", "{tighter}", "--json")),
    "looser toml": Case(CLEAN, ("--policy", "{looser}")),
    "no such policy": Case(CLEAN, ("--policy", "strictest")),
    "tre opensafely": Case(CLEAN, tre="opensafely"),
    "microdata with a loss": Case(
        MICRODATA, ("--microdata", "--policy", "{guarded}", "--json"), value="profit"
    ),
    "microdata with a loss, as text": Case(
        MICRODATA, ("--microdata", "--policy", "{guarded}"), value="profit"
    ),
    "person without microdata": Case(CLEAN, ("--person", "region")),
} | {name: Case(text, value=value) for name, (text, value, _) in BAD_TABLES.items()}
CASES |= {
    name: Case(text, ("--microdata",), value="profit") for name, (text, _) in BAD_MICRODATA.items()
}


@dataclass(frozen=True)
class Ran:
    table: Path
    out: Path
    run: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory, fivesafes_at, together) -> dict[str, Ran]:
    prepared, jobs = {}, []
    for name, case in CASES.items():
        tmp = tmp_path_factory.mktemp("check-table")
        table, out = tmp / "table.csv", tmp / "safe.csv"
        table.write_text(case.table)
        (tmp / "tighter.toml").write_text(TIGHTER)
        (tmp / "looser.toml").write_text(LOOSER)
        (tmp / "guarded.toml").write_text(GUARDED)
        subst = {
            "{tighter}": str(tmp / "tighter.toml"),
            "{looser}": str(tmp / "looser.toml"),
            "{guarded}": str(tmp / "guarded.toml"),
        }
        args = ["outputs", "check-table", str(table), "--value", case.value]
        args += [subst.get(a, a) for a in case.args] + (["--out", str(out)] if case.out else [])
        prepared[name] = (table, out)
        jobs.append(partial(fivesafes_at(tmp / "state", policy=case.tre), *args))
    return {
        name: Ran(table, out, run)
        for (name, (table, out)), run in zip(prepared.items(), together(jobs), strict=True)
    }


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_a_clean_table_passes_and_its_safe_version_is_the_table(ran: dict[str, Ran]):
    r = ran["clean"]
    assert r.run.returncode == 0, r.run.stderr
    assert "Traceback" not in r.run.stderr
    said = " ".join(r.run.stdout.split())  # Rich wraps long lines at spaces
    assert f"{r.table}: pass under policy acro" in said
    assert f"safe version written to {r.out}" in said
    safe = rows(r.out.read_text())
    assert safe == [row | {"status": "pass"} for row in rows(CLEAN)]
    assert list(safe[0]) == ["region", "sex", "count", "status"]


def test_a_small_cell_is_suppressed_with_its_secondaries_and_margins_stay_true(
    ran: dict[str, Ran],
):
    r = ran["small"]
    assert r.run.returncode == 0, r.run.stderr
    said = " ".join(r.run.stdout.split())
    assert "suppress under policy acro" in said
    assert "4 records: fewer than the threshold of 10" in said
    for true, safe in zip(rows(SMALL), rows(r.out.read_text()), strict=True):
        cell = (true["region"], true["sex"])
        if cell in SUPPRESSED:
            assert (safe["count"], safe["status"]) == ("", "suppress"), cell
        else:  # margins (and nothing else here): their true values
            assert "Total" in cell
            assert (safe["count"], safe["status"]) == (true["count"], "pass"), cell


def test_json_is_one_document_with_status_counts_seconds_and_paths(ran: dict[str, Ran], one_json):
    r = ran["json"]
    doc = one_json(r.run)
    assert doc["command"] == "outputs check-table"
    assert doc["table"] == str(r.table)
    assert doc["status"] == "suppress"
    assert doc["counts"] == {"pass": 5, "round": 0, "review": 0, "suppress": 4}
    assert isinstance(doc["seconds"], int | float) and 0 <= doc["seconds"] < 60
    assert doc["paths"] == [str(r.out)]
    assert r.out.exists()
    assert doc["report"]["status"] == doc["status"]
    assert doc["report"]["policy"]["name"] == "acro"

    plain = one_json(ran["json without --out"].run)
    assert (plain["status"], plain["paths"]) == ("pass", [])
    assert sum(plain["counts"].values()) == 9
    assert not ran["json without --out"].out.exists()


def test_a_looser_preset_than_the_tre_is_refused_naming_each_setting(ran: dict[str, Ran], refused):
    r = ran["opensafely under acro"]
    refused(
        r.run,
        "the policy opensafely would loosen the TRE's policy acro",
        "threshold 0 (the TRE's is 10)",
        "zeros off",
        "p% rule off",
        "n,k rule off",
        "A researcher may only make the rules stricter",
    )
    assert not r.out.exists()


def test_a_looser_toml_policy_is_refused(ran: dict[str, Ran], refused):
    r = ran["looser toml"]
    refused(r.run, "the policy ana-looser would loosen", "threshold 5 (the TRE's is 10)")
    assert not r.out.exists()


def test_an_unknown_policy_is_refused(ran: dict[str, Ran], refused):
    refused(ran["no such policy"].run, "no policy 'strictest'", "acro")
    assert not ran["no such policy"].out.exists()


def test_a_stricter_toml_policy_tightens_and_suppresses_more(ran: dict[str, Ran], one_json):
    r = ran["tighter toml"]
    doc = one_json(r.run)
    assert doc["status"] == "suppress"  # the clean table passes under acro alone
    assert doc["counts"]["suppress"] == 4
    policy = doc["report"]["policy"]
    assert policy["settings"]["threshold"] == 20
    assert policy["settings"]["tightened_by"] == ["ana-stricter 1"]
    assert "tightened by ana-stricter 1" in policy["label"]
    cells = {(c["labels"]["region"], c["labels"]["sex"]): c for c in doc["report"]["cells"]}
    assert any("threshold of 20" in reason for reason in cells["North", "M"]["reasons"])
    safe = rows(r.out.read_text())
    assert {(s["region"], s["sex"]) for s in safe if s["status"] == "suppress"} == SUPPRESSED
    assert {s["count"] for s in safe if s["sex"] == "Total" or s["region"] == "Total"} == {
        "54",
        "56",
        "65",
        "45",
        "110",
    }


def test_the_tre_policy_comes_from_the_environment(ran: dict[str, Ran]):
    r = ran["tre opensafely"]
    assert r.run.returncode == 0, r.run.stderr
    assert "under policy opensafely" in " ".join(r.run.stdout.split())
    safe = rows(r.out.read_text())
    assert {s["status"] for s in safe} == {"round"}
    assert all(int(s["count"]) % 5 == 0 for s in safe)
    assert safe[0]["count"] == "40" and safe[1]["count"] == "15"  # 14 → 15


@pytest.mark.parametrize("name", list(BAD_TABLES))
def test_a_bad_table_is_refused_naming_file_row_and_field(ran: dict[str, Ran], refused, name: str):
    r = ran[name]
    line = refused(r.run, f"error: {r.table}", BAD_TABLES[name][2], "Nothing was checked")
    if name == "a cell given twice":
        assert "the same cell appears twice (also row 1)" in line
    assert not r.out.exists()


def _library(table: Path) -> tuple[Any, Any, int]:
    """The same microdata checked by the library, under the same policy."""
    import pandas as pd

    from fivesafes.outputs import MagnitudeTable, check, load_policy

    guarded = replace(
        load_policy("acro"), name="acro-10", protection_upper=10.0, protection_lower=10.0
    )
    t = MagnitudeTable.from_microdata(pd.read_csv(table), ["region", "band"], "profit")
    labels = t.labels
    ax = int(((labels.region == "A") & (labels.band == "x")).to_numpy().nonzero()[0][0])
    return t, check(t, guarded), ax


def test_microdata_with_a_dominant_loss_withholds_the_cell_and_reports_the_bound(
    ran: dict[str, Ran], one_json
):
    r = ran["microdata with a loss"]
    doc = one_json(r.run)
    report = doc["report"]
    assert report["object"] == "magnitude" and doc["status"] == "suppress"
    cells = {(c["labels"]["region"], c["labels"]["band"]): c for c in report["cells"]}
    ax = cells["A", "x"]
    assert ax["value"] == sum(range(10, 22)) - 50_000 and ax["safe_value"] is None
    assert (ax["status"], ax["rules"]) == ("suppress", ["negative", "p%", "n,k"])
    assert "applied to the contributions' absolute values" in ax["reasons"][0]
    assert any("1 of the 49 contributions is negative" in n for n in report["notes"])
    bounds = {(b["labels"]["region"], b["labels"]["band"]): b for b in report["attacker_bounds"]}
    assert set(bounds) == {k for k, c in cells.items() if c["status"] == "suppress"}
    assert bounds["A", "x"]["lower_bound"] == -50_000
    # as the library reports it: the attacker's interval reaches down to the loss
    _, result, i = _library(r.table)
    assert result.protection is not None
    lo, hi = result.protection.intervals[i]
    assert lo == pytest.approx(-50_000.0)
    assert bounds["A", "x"]["interval"] == [pytest.approx(lo), pytest.approx(hi)]
    assert [(c["status"], c["safe_value"]) for c in report["cells"]] == [
        (v.status, None if v.safe_value is None else pytest.approx(v.safe_value))
        for v in result.verdicts
    ]
    safe = {(s["region"], s["band"]): s for s in rows(r.out.read_text())}
    assert (safe["A", "x"]["profit"], safe["A", "x"]["status"]) == ("", "suppress")
    assert safe["A", "Total"]["status"] == "review"  # it holds the loss: a checker judges it
    # its true value: the small profits and the loss of A × x, and A × y's profits
    assert safe["A", "Total"]["profit"] == str(sum(range(10, 22)) - 50_000 + 12 * 6000 + 250 * 66)


def test_microdata_as_text_names_the_loss_and_the_attackers_bound(ran: dict[str, Ran]):
    r = ran["microdata with a loss, as text"]
    assert r.run.returncode == 0, r.run.stderr
    said = " ".join(r.run.stdout.split())
    assert "suppress under policy acro" in said
    assert "1 of the 49 contributions is negative" in said
    assert "What an attacker knows of the withheld cells" in said
    assert "│ A × x │ -50000 │ -50000 to" in said


@pytest.mark.parametrize("name", list(BAD_MICRODATA))
def test_bad_microdata_is_refused_naming_file_row_and_field(
    ran: dict[str, Ran], refused, name: str
):
    r = ran[name]
    refused(r.run, f"error: {r.table}", BAD_MICRODATA[name][1], "Nothing was checked")
    assert not r.out.exists()


def test_person_is_only_for_microdata(ran: dict[str, Ran], refused):
    refused(ran["person without microdata"].run, "--person is for microdata")
