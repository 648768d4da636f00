"""The adults' and carers' censuses and the aggregate collections (the framework,
the checkpoint): clean synthetic returns pass every rule, every planted mistake
is found where it was planted (row and field; for a measure left out, the measure
named), the rules for aggregate data (measure list complete, totals the sum of
their parts, change against the previous period) fail with their messages, and
a monthly collection's periods are months."""

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
from fivesafes.collections.spec import load_spec, parse_period
from fivesafes.errors import FivesafesError
from fivesafes.synth import care_returns as cr
from fivesafes.synth import returns as rt

CFG = rt.ReturnsConfig(children=300)


def check(
    table: pa.Table, collection: str, la: int, period: int, previous: Any = None
) -> tuple[Validation, list[tuple[Any, ...]]]:
    table = table.append_column("__row", pa.array(np.arange(1, table.num_rows + 1)))
    con = duckdb.connect()
    con.register("incoming", table)
    spec = load_spec(collection)
    v = run_rules(con, "incoming", Context(spec, rt.la_code(la), period), previous)
    found = con.execute("SELECT row, field, value, message FROM __issues").fetchall()
    return v, found


def clean(collection: str, la: int, period: int) -> pa.Table:
    if collection == "adults_census":
        return cr.adults_return(cr.make_adults(CFG, la), period)
    if collection == "carers_census":
        return cr.carers_return(cr.make_carers(CFG, la), period)
    if collection == "pif_measures":
        return cr.pif_return(CFG, la, period)
    return cr.checkpoint_return(CFG, la, period)


PERIODS = {
    "adults_census": (2023, 2024),
    "carers_census": (2025, 2026),
    "pif_measures": (CFG.first_year, CFG.last_year),
    "ss_checkpoint": (202311, 202312),
}


@pytest.mark.parametrize("la", [0, 9, 21])
@pytest.mark.parametrize("collection", sorted(PERIODS))
def test_clean_returns_pass_every_rule_and_their_next_period_needs_no_explanation(
    collection: str, la: int
) -> None:
    first, second = PERIODS[collection]
    v1, found = check(clean(collection, la, first), collection, la, first)
    assert v1.counts == {}, found[:5]
    assert v1.rows >= 10
    v2, found = check(clean(collection, la, second), collection, la, second, v1.summary)
    assert v2.counts == {}, found[:5]


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("collection", sorted(PERIODS))
def test_every_planted_mistake_is_found_at_its_row_and_field(collection: str, seed: int) -> None:
    period = PERIODS[collection][0]
    bad, planted = cr.with_errors(
        clean(collection, seed, period), collection, np.random.default_rng(seed)
    )
    assert {p.kind for p in planted} == set(cr.error_kinds(collection))
    v, found = check(bad, collection, seed, period)
    at = {(row, field) for row, field, _, _ in found}
    for p in planted:
        if p.row == 0:  # a measure left out: reported with no row, naming the measure
            missing = [f for f in found if f[0] is None and f[1] == "measure"]
            assert len(missing) == 1 and "is missing from the return" in missing[0][3]
        else:
            assert (p.row, p.field) in at, (p, found)
    assert v.errors >= len(planted)


def test_a_total_that_is_not_the_sum_of_its_parts_names_both() -> None:
    table = cr.pif_return(CFG, 3, 2021)
    values = dict(
        zip(table.column("measure").to_pylist(), table.column("value").to_pylist(), strict=True)
    )
    rows = [
        dict(zip(table.column_names, r, strict=True))
        for r in zip(*table.to_pydict().values(), strict=True)
    ]
    for r in rows:
        if r["measure"] == "CH02B":
            r["value"] = str(int(r["value"]) + 5)
    bad = pa.Table.from_pylist(rows)
    v, found = check(bad, "pif_measures", 3, 2021)
    assert v.counts == {"PIF302": 1}
    ((row, field, value, message),) = found
    assert row is not None
    expected = int(values["CH02A"]) + int(values["CH02B"]) + 5
    assert value == values["CH02"] and field == "value"
    assert message == (
        f"Children's assessments (CH02) is {values['CH02']} but its parts CH02A + CH02B "
        f"add up to {expected}."
    )


def test_a_measure_out_of_line_with_the_previous_period_is_a_warning_naming_it() -> None:
    la = rt.JUMP_LA
    dec, _ = check(cr.checkpoint_return(CFG, la, 202312), "ss_checkpoint", la, 202312)
    jan, found = check(
        cr.checkpoint_return(CFG, la, 202401), "ss_checkpoint", la, 202401, dec.summary
    )
    assert jan.errors == 0 and jan.counts.get("SSC501", 0) >= 1
    named = {f[3].split()[1] for f in found}
    assert "CP01" in named
    assert all("since the last accepted month" in f[3] for f in found)


def test_the_return_of_another_month_is_refused() -> None:
    v, found = check(cr.checkpoint_return(CFG, 2, 202312), "ss_checkpoint", 2, 202401)
    assert v.counts == {"SSC104": 10}
    assert found[0][3] == "The month 2023-12 is not the month of this return (2024-01)."


def test_periods_are_years_or_months() -> None:
    assert parse_period("2022") == 2022 and parse_period("2025-04") == 202504
    with pytest.raises(FivesafesError, match="YYYY-MM"):
        parse_period("2025-13")
    monthly, annual = load_spec("ss_checkpoint"), load_spec("pif_measures")
    assert monthly.period(202402)[1].isoformat() == "2024-02-29"
    assert monthly.period_label(202504) == "2025-04"
    with pytest.raises(FivesafesError, match="not a month"):
        monthly.check_period(2025)
    with pytest.raises(FivesafesError, match="not a collection year"):
        annual.check_period(202504)
    assert annual.published and not monthly.published and monthly.kind == "aggregate"


def test_the_command_line_lists_six_collections_and_writes_returns_for_each(
    tmp_path: Path,
) -> None:
    def run(*args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "fivesafes.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=os.environ | {"FIVESAFES_STATE_DIR": str(tmp_path / "state")},
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    listed = run("collections", "list", "--json")["collections"]
    names = [c["name"] for c in listed]
    assert names == [
        "adults_census",
        "carers_census",
        "cin_census",
        "cla_episodes",
        "pif_measures",
        "ss_checkpoint",
    ]
    written = run("collections", "returns", "--out", str(tmp_path / "r"), "--json")["files"]
    assert {k.split("/")[0] for k in written} == set(names)
    assert "ss_checkpoint/X06000001_2023-04.csv" in written
