"""``fivesafes indicators`` as a performance analyst runs it on a board's quarterly
returns: the summary CSV, the JSON summary, the disclosure policy applied, and
files that are wrong (the other malformed inputs are tested on the library, in
tests/analysis/test_indicators_input.py). Every run is independent, so they run
at once; the module is marked slow (each run starts the whole command)."""

from __future__ import annotations

import csv
import io
import subprocess
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Worked by hand: Northshire (100-125)/125 = -20.0%, average (120+130+125+100)/4 =
# 118.75 -> 119, the last 2: (125+100)/2 = 112.5 -> 113; Eastmoor 2024Q1 has no row
# (previous quarter not available), and its 2023Q4 is 4 (below acro's threshold).
TABLE = """area,indicator,period,value
Northshire,suspects charged,2023Q1,120
Northshire,suspects charged,2023Q2,N/A
Northshire,suspects charged,2023Q3,130
Northshire,suspects charged,2024Q1,125
Northshire,suspects charged,2024Q2,100
Eastmoor,suspects charged,2023Q3,40
Eastmoor,suspects charged,2023Q4,4
Eastmoor,suspects charged,2024Q2,50
Southvale,suspects charged,2024Q1,60
Southvale,suspects charged,2024Q2,
"""

HEADER = (
    "area,indicator,latest_period,latest_value,previous_period,previous_value,"
    "change_percent,average,periods_averaged,note"
)

BAD = {
    "a malformed period": (
        TABLE.replace("2023Q3,130", "2023Q5,130"),
        "row 3 (line 4), field 'period': the period is not a quarter like 2024Q1",
    ),
    "a missing column": (
        TABLE.replace("area,indicator,period,value", "area,indicator,quarter,value"),
        "field 'period': has no column 'period'",
    ),
}


@dataclass(frozen=True)
class Case:
    table: str
    args: tuple[str, ...] = ()


CASES = {
    "plain": Case(TABLE),
    "json window 2": Case(TABLE, ("--window", "2", "--json")),
    "looser policy": Case(TABLE, ("--policy", "opensafely")),
} | {name: Case(text) for name, (text, _) in BAD.items()}


@dataclass(frozen=True)
class Ran:
    out: Path
    run: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory, fivesafes_at, together) -> dict[str, Ran]:
    outs, jobs = {}, []
    for name, case in CASES.items():
        tmp = tmp_path_factory.mktemp("indicators")
        table, out = tmp / "cjs.csv", tmp / "out" / "summary.csv"
        table.write_text(case.table)
        outs[name] = out
        args = ["indicators", str(table), "--out", str(out), *case.args]
        jobs.append(partial(fivesafes_at(tmp / "state"), *args))
    return {name: Ran(outs[name], run) for name, run in zip(CASES, together(jobs), strict=True)}


def _rows(path: Path) -> dict[str, dict[str, str]]:
    return {r["area"]: r for r in csv.DictReader(io.StringIO(path.read_text()))}


def test_summary_has_one_row_per_area_and_indicator_with_the_fixed_columns(ran):
    r = ran["plain"]
    assert r.run.returncode == 0, r.run.stderr
    assert r.out.read_text().splitlines()[0] == HEADER
    rows = _rows(r.out)
    assert list(rows) == ["Northshire", "Eastmoor", "Southvale"]
    north = rows["Northshire"]
    assert (north["latest_period"], north["latest_value"], north["previous_value"]) == (
        "2024Q2",
        "100",
        "125",
    )
    assert (north["change_percent"], north["average"], north["note"]) == ("-20.0", "119", "")
    # 2024Q1 has no row: the previous quarter, not 2023Q4, and 2023Q4 (4) is withheld
    east = rows["Eastmoor"]
    assert (east["previous_period"], east["previous_value"], east["change_percent"]) == (
        "2024Q1",
        "",
        "",
    )
    assert east["note"] == (
        "previous quarter not available; average withheld: it would include the "
        "suppressed value of 2023Q4"
    )
    assert "4" not in (east["latest_value"], east["previous_value"], east["average"])
    south = rows["Southvale"]
    assert (south["latest_value"], south["previous_value"], south["note"]) == (
        "",
        "60",
        "latest quarter not available",
    )
    assert "written to" in r.run.stdout


def test_json_is_one_summary_document(ran, one_json):
    doc = one_json(ran["json window 2"].run)
    assert doc["command"] == "indicators"
    assert doc["window"] == 2
    assert doc["latest_period"] == {"suspects charged": "2024Q2"}
    assert (doc["areas"], doc["series"], doc["rows_written"]) == (3, 3, 3)
    assert doc["periods_suppressed"] == 1
    assert doc["policy"].startswith("acro")
    assert doc["paths"] == [str(ran["json window 2"].out)]
    assert _rows(ran["json window 2"].out)["Northshire"]["average"] == "113"


def test_a_looser_policy_than_the_tre_is_refused(ran, refused):
    refused(ran["looser policy"].run, "would loosen the TRE's policy")
    assert not ran["looser policy"].out.exists()


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_table_is_refused_naming_file_row_and_field(ran, refused, name):
    line = refused(ran[name].run, BAD[name][1], "cjs.csv", "Nothing was written.")
    assert line
    assert not ran[name].out.exists()
