"""Magnitude tables whose contributions can be negative (profits and losses, changes).

The dominance rules are applied to the absolute values of the contributions, and the
attacker is taken to know that every cell is at least the sum of its negative
contributions (0 for a cell with none: today's bound). Every primary must keep its
protection interval against that attacker, which the tests compute here with their
own linear programs (:func:`scipy.optimize.linprog`), not the engine's
(docs/disclosure-control.md, "Negative values").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from fivesafes.outputs import MagnitudeTable, check, load_policy
from fivesafes.outputs.check import CheckResult

ACRO = load_policy("acro")
#: ACRO with a protection interval of 10% each way, so the a priori bounds matter.
GUARDED = replace(ACRO, name="acro-10", protection_upper=10.0, protection_lower=10.0)


def microdata(cells: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    rows = [(r, b, x) for (r, b), xs in cells.items() for x in xs]
    return pd.DataFrame(rows, columns=["region", "band", "profit"])


def example() -> pd.DataFrame:
    """3 × 3 regions by bands: B × y dominated by a profit, A × x by a loss."""
    rng = np.random.default_rng(1)
    cells = {
        (r, b): [float(x) for x in rng.integers(10, 100, size=12)] for r in "ABC" for b in "xyz"
    }
    cells[("B", "y")].append(100_000.0)
    cells[("A", "x")].append(-50_000.0)
    cells[("C", "z")] += [-30.0, -45.0]
    return microdata(cells)


def index(table: MagnitudeTable, region: str, band: str) -> int:
    labels = table.labels
    return int(np.flatnonzero((labels.region == region) & (labels.band == band))[0])


def negative_parts(df: pd.DataFrame, t: MagnitudeTable) -> np.ndarray:
    """Each cell's sum of negative contributions, from the microdata (margins too)."""
    out = np.zeros(t.values.size)
    for i, (region, band) in enumerate(t.labels.itertuples(index=False, name=None)):
        rows = df
        if region != "Total":
            rows = rows[rows.region == region]
        if band != "Total":
            rows = rows[rows.band == band]
        out[i] = rows.profit.clip(upper=0).sum()
    return out


def interval(
    values: np.ndarray,
    constraints: list[tuple[int, list[int]]],
    withheld: set[int],
    lower: np.ndarray,
    upper: np.ndarray,
    cell: int,
) -> tuple[float, float]:
    """The attacker's [min, max] of ``cell``: every equation holds, published cells
    at their values, withheld cells within [lower, upper]."""
    n = len(values)
    a = np.zeros((len(constraints), n))
    for r, (total, parts) in enumerate(constraints):
        a[r, total] -= 1.0
        for p in parts:
            a[r, p] += 1.0
    bounds = [
        (float(lower[j]), None if np.isinf(upper[j]) else float(upper[j]))
        if j in withheld
        else (float(values[j]), float(values[j]))
        for j in range(n)
    ]
    ends = []
    for sense in (1.0, -1.0):
        c = np.zeros(n)
        c[cell] = sense
        res = linprog(c, A_eq=a, b_eq=np.zeros(len(constraints)), bounds=bounds, method="highs")
        if res.status == 3:
            ends.append(-np.inf * sense)
            continue
        assert res.status == 0, res.message
        ends.append(float(res.x[cell]))
    return ends[0], ends[1]


def assert_protected(result: CheckResult, df: pd.DataFrame, t: MagnitudeTable) -> None:
    """Every primary's attacker interval (the bounds documented: at least its
    negative contributions, an empty cell exactly 0) reaches its protection
    interval, the policy's percentages of |value| clipped to those bounds, and
    reaches past the value both ways (it is not derivable)."""
    withheld = {v.cell for v in result.verdicts if v.status == "suppress"}
    assert result.secondary == ("done" if withheld else "not needed"), result.notes
    values = np.asarray(t.values, dtype=float)
    lower = negative_parts(df, t)
    upper = np.where(t.counts == 0, 0.0, np.inf)
    constraints = t.cells().constraints
    primary = [
        v.cell for v in result.verdicts if v.status == "suppress" and "secondary" not in v.rules
    ]
    up = result.policy.protection_upper_percent / 100.0
    down = result.policy.protection_lower_percent / 100.0
    for p in primary:
        lo, hi = interval(values, constraints, withheld, lower, upper, p)
        v = float(values[p])
        tol = 1e-6 * max(1.0, abs(v))
        want_lo = max(v - down * abs(v), lower[p])
        want_hi = min(v + up * abs(v), upper[p])
        assert lo <= want_lo + tol and hi >= want_hi - tol, (p, (lo, hi), (want_lo, want_hi))
        if lower[p] < v:
            assert lo < v - tol, (p, lo, v)
        assert hi > v + tol, (p, hi, v)


def test_negative_contributions_no_longer_break_secondary_suppression() -> None:
    """The review's reproduction: a sum table with a loss in it used to raise
    ``ValueError: some cells lie outside their a priori bounds`` from ``check``."""
    df = example()
    t = MagnitudeTable.from_microdata(df, ["region", "band"], "profit")
    assert (t.values < 0).any()
    result = check(t, ACRO)
    assert result.secondary == "done"
    assert_protected(result, df, t)


def test_a_cell_dominated_by_a_loss_is_suppressed_by_absolute_values() -> None:
    df = example()
    t = MagnitudeTable.from_microdata(df, ["region", "band"], "profit")
    ax = index(t, "A", "x")
    assert t.values[ax] < 0
    v = check(t, ACRO).verdicts[ax]
    assert v.status == "suppress"
    assert v.rules == ["negative", "p%", "n,k"]
    assert "absolute values" in v.reasons[0]
    assert "two largest contributions (absolute values)" in v.reasons[1]


def test_the_attacker_bound_is_the_sum_of_negative_contributions() -> None:
    """With a 10% protection interval, the loss-dominated cell A × x cannot be
    protected below its own loss (the attacker knows the cell is at least that):
    its interval reaches exactly that far down, and 10% above."""
    df = example()
    t = MagnitudeTable.from_microdata(df, ["region", "band"], "profit")
    np.testing.assert_allclose(t.negative_sum, negative_parts(df, t))
    result = check(t, GUARDED)
    assert_protected(result, df, t)
    ax = index(t, "A", "x")
    assert result.protection is not None
    lo, hi = result.protection.intervals[ax]
    assert lo == pytest.approx(-50_000.0)
    assert hi >= t.values[ax] + 0.1 * abs(t.values[ax]) - 1e-6


def test_a_table_of_non_negative_contributions_is_checked_as_before() -> None:
    """No negative contribution: the same verdicts whether or not the table keeps
    its absolute contributions (the default bound 0 and the signed rules)."""
    rng = np.random.default_rng(3)
    cells = {(r, b): [float(x) for x in rng.integers(1, 50, size=11)] for r in "AB" for b in "xy"}
    cells[("A", "y")].append(9_000.0)
    t = MagnitudeTable.from_microdata(microdata(cells), ["region", "band"], "profit")
    assert not (t.negative_sum < 0).any()
    np.testing.assert_array_equal(t.abs_top, t.top)
    plain = replace(t, negative_sum=None, abs_top=None)
    got = [(v.status, v.rules, v.reasons) for v in check(t, ACRO).verdicts]
    assert got == [(v.status, v.rules, v.reasons) for v in check(plain, ACRO).verdicts]


def test_a_hand_built_table_without_its_negative_contributions_has_no_lower_bound() -> None:
    """When only the count of negative contributions is known, a cell that can be
    negative has no a priori lower bound (not 0): check still gives a verdict."""
    df = example()
    t = MagnitudeTable.from_microdata(df, ["region", "band"], "profit")
    result = check(replace(t, negative_sum=None, abs_top=None), ACRO)
    ax = index(t, "A", "x")
    assert result.verdicts[ax].rules == ["negative"]  # rules not applied: review
    assert result.secondary in ("done", "not needed")


@st.composite
def tables(draw: st.DrawFn) -> pd.DataFrame:
    """2–3 × 2–3 grids of 3–8 contributions in [-200, 500], some a big loss or profit."""
    rows = draw(st.integers(2, 3))
    cols = draw(st.integers(2, 3))
    cells: dict[tuple[str, str], list[float]] = {}
    for r in "ABC"[:rows]:
        for b in "xyz"[:cols]:
            xs = draw(st.lists(st.integers(-200, 500), min_size=3, max_size=8))
            big = draw(st.sampled_from([0, 0, 20_000, -20_000]))
            cells[(r, b)] = [float(x) for x in xs] + ([float(big)] if big else [])
    return microdata(cells)


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(tables())
def test_random_tables_with_losses_get_every_primary_protected(df: pd.DataFrame) -> None:
    t = MagnitudeTable.from_microdata(df, ["region", "band"], "profit")
    result = check(t, GUARDED)
    assert_protected(result, df, t)


def test_handbook_form_contributions_use_absolute_values() -> None:
    """One cell from its list of contributions: a loss of 1,000 among 10 of profit
    dominates by absolute value (p% rule: 5 / 1,000 = 0.5% of the largest, n,k:
    99.7%), whereas signed it would not even have a positive total."""
    t = MagnitudeTable.from_contributions(["a", "b"], [[-1000, 5, 3, 2], [40, 30, 30, *[3] * 10]])
    np.testing.assert_array_equal(t.negative_sum, [-1000.0, 0.0])
    np.testing.assert_array_equal(t.abs_top[0, :4], [1000.0, 5.0, 3.0, 2.0])
    a, b = check(t, ACRO).verdicts
    assert (a.status, a.rules) == ("suppress", ["threshold", "negative", "p%", "n,k"])
    assert a.reasons[2] == (
        "the total less the two largest contributions (absolute values) is 0.5% of the "
        "largest (p% rule: 10%)"
    )
    assert (b.status, b.rules) == ("pass", [])  # 13 contributors, no dominance
