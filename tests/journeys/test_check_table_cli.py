"""``fivesafes outputs check-table`` as a researcher runs it on a table made
elsewhere: under the TRE's policy, with stricter (and, refused, looser) rules, and
on tables that are wrong. Every run below is independent, so they run at once
(module fixture) and each test reads its own."""

from __future__ import annotations

import csv
import io
import subprocess
from dataclasses import dataclass
from functools import partial
from pathlib import Path

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
        "from its contributions, with fivesafes.outputs.MagnitudeTable (got '-5000')",
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
} | {name: Case(text, value=value) for name, (text, value, _) in BAD_TABLES.items()}


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
        subst = {"{tighter}": str(tmp / "tighter.toml"), "{looser}": str(tmp / "looser.toml")}
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
