"""Magnitude tables with cells that have no value: empty cells and missing values.

A sum table over a grid has combinations with no records (an *empty cell*: its sum
is 0, and the attacker is taken to know it is empty) and may come with values that
are missing (NaN). Neither may stop secondary suppression or weaken it: every
primary cell must still keep its protection interval against the attacker's exact
linear programs, computed here on the true table (docs/disclosure-control.md,
"Empty cells and missing values").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fivesafes.outputs import FrequencyTable, MagnitudeTable, check, load_policy
from fivesafes.outputs.audit_lp import attacker_intervals
from fivesafes.outputs.check import CheckResult
from fivesafes.outputs.linear import LinearTable
from fivesafes.outputs.secondary import SuppressionInfeasible, complete_missing, required_for

ACRO = load_policy("acro")


def microdata(cells: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    rows = [(r, b, x) for (r, b), xs in cells.items() for x in xs]
    return pd.DataFrame(rows, columns=["region", "band", "income"])


def example() -> pd.DataFrame:
    """3 × 3 regions by bands, A × z with no records, B × y dominated by one."""
    rng = np.random.default_rng(1)
    cells = {
        (r, b): [float(x) for x in rng.integers(10, 100, size=12)] for r in "ABC" for b in "xyz"
    }
    cells[("A", "z")] = []
    cells[("B", "y")].append(100_000.0)
    return microdata(cells)


def index(table: MagnitudeTable, region: str, band: str) -> int:
    labels = table.labels
    return int(np.flatnonzero((labels.region == region) & (labels.band == band))[0])


def assert_protected(
    result: CheckResult, true: MagnitudeTable, missing: set[int] | None = None
) -> None:
    """Every primary cell's attacker interval, on the true table, reaches its
    protection interval; every cell without a value is withheld."""
    missing = missing or set()
    withheld = {v.cell for v in result.verdicts if v.status == "suppress"}
    assert result.secondary == ("done" if withheld else "not needed"), result.notes
    assert missing <= withheld
    empty = np.asarray(true.counts) == 0
    cells = true.cells()
    attacked = LinearTable(
        values=np.asarray(true.values, dtype=float),
        constraints=cells.constraints,
        upper_bounds=np.where(empty, 0.0, np.inf),
    )
    primary = {
        v.cell
        for v in result.verdicts
        if v.status == "suppress" and "secondary" not in v.rules and v.cell not in missing
    }
    required = required_for(attacked, primary, ACRO)
    found = attacker_intervals(attacked, withheld)
    for p in primary:
        lo, hi = found[p]
        req_lo, req_hi = required[p]
        tol = 1e-6 * max(1.0, abs(float(true.values[p])))
        assert lo <= req_lo + tol and hi >= req_hi - tol, (p, found[p], required[p])
    published = [v for v in result.verdicts if v.status != "suppress"]
    assert all(v.safe_value is not None and np.isfinite(v.safe_value) for v in published)


def test_an_empty_combination_sums_to_zero_and_keeps_its_margins() -> None:
    t = MagnitudeTable.from_microdata(example(), ["region", "band"], "income")
    az = index(t, "A", "z")
    assert (t.values[az], t.counts[az]) == (0.0, 0.0)
    # every margin of the 4 × 4 grid: 3 rows and 3 columns, and the grand total twice
    assert len(t.cells().constraints) == 8


def test_mean_of_an_empty_combination_is_undefined_and_withheld() -> None:
    t = MagnitudeTable.from_microdata(example(), ["region", "band"], "income", statistic="mean")
    az = index(t, "A", "z")
    assert np.isnan(t.values[az])
    verdict = check(t, replace(ACRO, zeros=False)).verdicts[az]
    assert (verdict.status, verdict.rules, verdict.safe_value) == ("suppress", ["missing"], None)
    assert verdict.reasons == ["no value: the cell has no records, so its statistic is undefined"]


def test_secondary_suppression_finishes_with_an_empty_cell() -> None:
    t = MagnitudeTable.from_microdata(example(), ["region", "band"], "income")
    result = check(t, ACRO)
    assert result.verdicts[index(t, "B", "y")].rules == ["p%", "n,k"]
    assert result.verdicts[index(t, "A", "z")].rules == ["zero"]
    assert_protected(result, t)


def test_an_empty_cell_given_as_nan_is_an_empty_cell() -> None:
    t = MagnitudeTable.from_microdata(example(), ["region", "band"], "income")
    expected = [(v.status, v.rules) for v in check(t, ACRO).verdicts]
    az = index(t, "A", "z")
    t.values[az] = np.nan  # as another tool leaves a combination with no records
    result = check(t, ACRO)
    assert [(v.status, v.rules) for v in result.verdicts] == expected
    assert result.verdicts[az].rules == ["zero"]
    assert_protected(result, MagnitudeTable.from_microdata(example(), ["region", "band"], "income"))


def test_a_missing_value_is_withheld_and_does_not_poison_the_programs() -> None:
    true = MagnitudeTable.from_microdata(example(), ["region", "band"], "income")
    t = MagnitudeTable.from_microdata(example(), ["region", "band"], "income")
    gone = {index(t, "A", "x"), index(t, "C", "Total")}
    t.values[sorted(gone)] = np.nan
    assert len(t.cells().constraints) == 8  # the equations through them are kept
    result = check(t, ACRO)
    for c in gone:
        v = result.verdicts[c]
        assert (v.status, v.rules, v.safe_value) == ("suppress", ["missing"], None)
        assert v.reasons == ["no value: the value is missing, so there is nothing to publish"]
    assert result.protection is not None
    assert not gone & result.protection.secondary  # withheld already, not as secondaries
    assert_protected(result, true, gone)


def test_a_count_table_with_a_missing_value_still_protects_counts_by_one() -> None:
    """A count table with a missing value: the missing cell is withheld for itself,
    and the small count is still protected as a count (at least 1 either way, not
    a magnitude's millionth of the largest value)."""
    labels = pd.DataFrame(
        [(r, s) for r in ("N", "S", "Total") for s in ("F", "M", "Total")],
        columns=["region", "sex"],
    )
    true = np.array([40, 4, 44, 25, 31, 56, 65, 35, 100], dtype=float)
    given = true.copy()
    given[4] = np.nan  # S × M not known
    result = check(FrequencyTable(labels, given), ACRO)
    assert result.verdicts[4].rules == ["missing"]
    assert result.verdicts[1].rules == ["threshold"]
    withheld = {v.cell for v in result.verdicts if v.status == "suppress"}
    table = FrequencyTable(labels, true).linear()
    lo, hi = attacker_intervals(table, withheld)[1]
    assert lo <= 3 and hi >= 5  # N × M (4) moves by at least 1 either way


def test_missing_values_the_margins_cannot_meet_are_refused() -> None:
    values = np.array([5.0, np.nan, 3.0])  # a + b == total, but a > total
    table = LinearTable(values=values, constraints=[(2, [0, 1])], labels=[("a",), ("b",), ("T",)])
    with pytest.raises(SuppressionInfeasible, match=r"missing cells \(b\)"):
        complete_missing(table)
    values[0] = 1.0
    done, missing = complete_missing(table)
    assert missing == {1} and done.values[1] == pytest.approx(2.0)


@st.composite
def tables(draw: st.DrawFn) -> tuple[pd.DataFrame, list[int]]:
    """Small sum tables: some combinations empty, some dominated, and some cells
    (margins too, by position in the grid) whose values are then lost."""
    regions = "ABCD"[: draw(st.integers(2, 4))]
    bands = "xyz"[: draw(st.integers(2, 3))]
    cells: dict[tuple[str, str], list[float]] = {}
    for r in regions:
        for b in bands:
            n = draw(st.sampled_from([0, 0, 1, 3, 12]))
            xs = [float(x) for x in draw(st.lists(st.integers(1, 100), min_size=n, max_size=n))]
            if xs and draw(st.integers(0, 4)) == 0:
                xs.append(float(draw(st.integers(1_000, 50_000))))  # one dominates
            cells[(r, b)] = xs
    if not any(cells.values()):  # at least one combination with records
        cells[(regions[0], bands[0])] = [50.0, 60.0, 70.0]
    lost = draw(st.lists(st.integers(0, 10**6), max_size=2, unique=True))
    return microdata(cells), lost


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(tables())
def test_property_tables_with_nan_cells_finish_with_every_primary_protected(
    case: tuple[pd.DataFrame, list[int]],
) -> None:
    df, lost = case
    true = MagnitudeTable.from_microdata(df, ["region", "band"], "income")
    t = MagnitudeTable.from_microdata(df, ["region", "band"], "income")
    empty = {int(c) for c in np.flatnonzero(np.asarray(t.counts) == 0)}
    # an empty cell is an empty cell, even given as NaN (as another tool may give it)
    missing = {c % len(t.values) for c in lost} - empty
    t.values[sorted(empty | missing)] = np.nan
    result = check(t, ACRO)
    assert_protected(result, true, missing)
