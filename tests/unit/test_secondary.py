"""Secondary suppression (fivesafes.outputs.secondary) and its audit (audit_lp).

Outside references:

* sdcTable (R package, github.com/sdcTools/sdcTable, tests/testthat at commit
  6393dfb): ``test-protectTable.r``, ``test-simpleheuristic.R``,
  ``test-linked-tables.r`` and ``test-cell_info.R``. R is not available here: data
  and expected patterns are ported by hand (cell counts of ``microdata1`` from
  ``data-raw/microdata1.R``). sdcTable's default protection is ``LPL = UPL = 1`` with
  a priori bounds ``[0, 1.5 × max]`` (``R/methods_multiple_classes.r``,
  ``.default_bounds``), which is what fivesafes requires of counts by default.
* Handbook on Statistical Disclosure Control (Hundepool et al.; online edition
  github.com/sdcTools/HandbookSDC, chapter 4 "Magnitude tabular data", section
  "Disclosure Control Concepts for Magnitude Tabular Data", Examples 3 and 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fivesafes.outputs.audit_lp import attacker_intervals, audit
from fivesafes.outputs.linear import LinearTable
from fivesafes.outputs.secondary import (
    SuppressionInfeasible,
    link_tables,
    protect,
    published_values,
    required_for,
    table_from_array,
)


@dataclass
class Pol:
    protection_upper_percent: float = 0.0
    protection_lower_percent: float = 0.0
    threshold: int = 10


ZERO = Pol()


def with_margins(inner: np.ndarray) -> np.ndarray:
    """Append a Total entry to every axis of ``inner``."""
    out = np.asarray(inner, dtype=float)
    for axis in range(out.ndim):
        out = np.concatenate([out, out.sum(axis=axis, keepdims=True)], axis=axis)
    return out


def cell(full: np.ndarray, *idx: int | np.integer[Any]) -> int:
    return int(np.ravel_multi_index(idx, full.shape))


def names(table: LinearTable, cells: set[int]) -> set[str]:
    return {table.label(c) for c in cells}


def is_margin(full: np.ndarray, c: int) -> bool:
    idx = np.unravel_index(c, full.shape)
    return any(i == s - 1 for i, s in zip(idx, full.shape, strict=True))


# --------------------------------------------------------------------------------------
# Builders


def test_table_from_array_constraints_and_labels() -> None:
    full = with_margins(np.array([[1, 2], [3, 4]]))
    t = table_from_array(full, labels=[["a", "b", "T"], ["x", "y", "T"]])
    assert t.size == 9
    assert len(t.constraints) == 6  # 3 rows + 3 columns, margins included
    assert t.label(cell(full, 0, 1)) == "a × y"
    assert np.allclose(t.equality_matrix() @ t.values, 0)


def test_table_from_array_rejects_inconsistent_margins() -> None:
    full = with_margins(np.array([[1, 2], [3, 4]]))
    full[0, 2] += 1
    with pytest.raises(ValueError, match="not the sum"):
        table_from_array(full)


def test_link_tables_rejects_disagreeing_shared_cells() -> None:
    a = table_from_array(np.array([1.0, 2.0, 3.0]), labels=[["x", "y", "T"]])
    b = table_from_array(np.array([1.0, 3.0, 4.0]), labels=[["x", "z", "T"]])
    with pytest.raises(ValueError, match="in one table"):
        link_tables(a, b)


# --------------------------------------------------------------------------------------
# The attacker's linear programs


def test_handbook_example_3_feasibility_interval() -> None:
    """SDC handbook, chapter 4 (Disclosure Control Concepts for Magnitude Tabular Data),
    Example 3 (from Geurts 1992, Table 10): rows 1 and 2 totalling 7 and 3 suppressed,
    row 3 = (3, 3 | 6), column totals (9, 7 | 16); the handbook gives X11 in [3, 6].

    The handbook does not give the suppressed values; any consistent ones give the
    same intervals, here X = ((4, 3), (2, 1)). The other three intervals follow by hand
    from X12 = 7 - X11, X21 = 6 - X11, X22 = 3 - X21.
    """
    full = np.array([[4, 3, 7], [2, 1, 3], [3, 3, 6], [9, 7, 16]], dtype=float)
    t = table_from_array(full)
    supp = {cell(full, 0, 0), cell(full, 0, 1), cell(full, 1, 0), cell(full, 1, 1)}
    iv = attacker_intervals(t, supp)
    assert iv[cell(full, 0, 0)] == pytest.approx((3.0, 6.0))
    assert iv[cell(full, 0, 1)] == pytest.approx((1.0, 4.0))
    assert iv[cell(full, 1, 0)] == pytest.approx((0.0, 3.0))
    assert iv[cell(full, 1, 1)] == pytest.approx((0.0, 3.0))


def test_single_suppression_is_exactly_derivable_and_audit_says_so() -> None:
    full = with_margins(np.array([[5, 7], [9, 11]]))
    t = table_from_array(full)
    p = cell(full, 0, 0)
    assert attacker_intervals(t, {p}) == {p: (5.0, 5.0)}
    failures = audit(t, {p}, {p: (4.0, 6.0)})
    assert len(failures) == 1
    assert "[5, 5]" in failures[0] and "[4, 6]" in failures[0]


def test_a_priori_bounds_limit_the_interval() -> None:
    full = with_margins(np.array([[5, 7], [9, 11]]))
    t = table_from_array(full)
    supp = {cell(full, i, j) for i in range(2) for j in range(2)}
    assert attacker_intervals(t, supp)[cell(full, 0, 0)] == pytest.approx((0.0, 12.0))
    t.lower_bounds = np.full(t.size, 4.0)
    t.upper_bounds = np.full(t.size, 100.0)
    # x00 <= 12 - 4 (x01 >= 4); x00 >= 4, and x10 = 14 - x00 >= 4.
    assert attacker_intervals(t, supp)[cell(full, 0, 0)] == pytest.approx((4.0, 8.0))


def test_unbounded_margin() -> None:
    t = table_from_array(np.array([2.0, 3.0, 5.0]))
    assert attacker_intervals(t, {0, 2}) == {0: (0.0, np.inf), 2: (3.0, np.inf)}


# --------------------------------------------------------------------------------------
# Small tables checked by hand


@pytest.mark.parametrize("method", ["optimal", "heuristic"])
def test_2x2_one_primary_needs_three_more(method: str) -> None:
    """Each row and column through a withheld cell needs a second one: in a 2×2 table
    that is all four interior cells, and no margin (every margin costs more)."""
    full = with_margins(np.array([[5, 7], [9, 11]]))
    t = table_from_array(full)
    p = cell(full, 0, 0)
    r = protect(t, {p}, ZERO, method=method)
    assert r.secondary == {cell(full, 0, 1), cell(full, 1, 0), cell(full, 1, 1)}
    assert r.audited and r.method == method
    # By hand: x01 = 12 - x00 >= 0, x10 = 14 - x00 >= 0, x11 = 6 + x00 >= 0.
    assert r.intervals[p] == pytest.approx((0.0, 12.0))


@pytest.mark.parametrize("method", ["optimal", "heuristic"])
def test_3x3_cheapest_rectangle(method: str) -> None:
    """Primary (0,1) = 1. Its row partner must be (0,0) or (0,2), its column partner
    (1,1) or (2,1), and the fourth corner closes the rectangle. The four rectangles
    cost 20+40+25 = 85, 20+45+50 = 115, 30+40+35 = 105 and 30+45+60 = 135."""
    full = with_margins(np.array([[20, 1, 30], [25, 40, 35], [50, 45, 60]]))
    t = table_from_array(full)
    r = protect(t, {cell(full, 0, 1)}, ZERO, method=method)
    assert r.secondary == {cell(full, 0, 0), cell(full, 1, 0), cell(full, 1, 1)}


def test_hierarchy_prefers_the_grand_total_to_a_second_branch() -> None:
    """Regions A, B under North; C, D under South; Total = North + South.

    North (12) is primary. North = A + B needs A or B withheld (A = 2 is cheaper);
    Total = North + South needs South (50, and then C or D as well, >= 70) or Total
    (62, which sits in no other equation). Optimal: {A, Total}, cost 64. By hand,
    North = A + 10 >= 10 and unbounded above."""
    vals = np.array([2.0, 10.0, 20.0, 30.0, 12.0, 50.0, 62.0])
    labels = [["A", "B", "C", "D", "North", "South", "Total"]]
    t = table_from_array(vals, labels, hierarchies=[{4: [0, 1], 5: [2, 3], 6: [4, 5]}])
    r = protect(t, {4}, ZERO, method="optimal")
    assert names(t, r.secondary) == {"A", "Total"}
    assert r.intervals[4] == (10.0, np.inf)
    # The heuristic need not find the optimum, but must protect.
    h = protect(t, {4}, ZERO, method="heuristic")
    assert audit(t, h.suppressed, required_for(t, {4}, ZERO)) == []


def test_hierarchical_two_dimensional_table() -> None:
    """Rows A, B under N; C under S; Total. Columns x, y, Total."""
    inner = np.array([[1, 9], [8, 7], [6, 5]], dtype=float)
    rows = np.vstack([inner[:2], inner[:2].sum(0), inner[2:], inner[2:].sum(0)])
    rows = np.vstack([rows, inner.sum(0)])  # A, B, N, C, S, Total
    full = np.column_stack([rows, rows.sum(1)])
    labels = [["A", "B", "N", "C", "S", "Total"], ["x", "y", "Total"]]
    t = table_from_array(full, labels, hierarchies=[{2: [0, 1], 4: [3], 5: [2, 4]}, None])
    for method in ("optimal", "heuristic"):
        r = protect(t, {cell(full, 0, 0)}, Pol(20, 20), method=method)
        assert r.audited
        assert audit(t, r.suppressed, required_for(t, {cell(full, 0, 0)}, Pol(20, 20))) == []


def test_three_dimensional_needs_the_whole_cube() -> None:
    """In a 2×2×2 table with all margins every line through a withheld cell needs a
    second withheld cell; with equal interior values the cheapest pattern is the 8
    interior cells (any margin costs at least twice an interior cell)."""
    full = with_margins(np.ones((2, 2, 2)))
    t = table_from_array(full)
    r = protect(t, {cell(full, 0, 0, 0)}, ZERO, method="optimal")
    interior = {cell(full, i, j, k) for i in range(2) for j in range(2) for k in range(2)}
    assert r.suppressed == interior


def test_handbook_example_4_upper_protection_level() -> None:
    """SDC handbook, chapter 4, Example 4: a cell X = 330 with contributions 300, 20,
    10 is unsafe by the (1,85)-dominance rule; its feasible upper bound must reach
    100/85 × 300 = 352.94. Expressed as an upper protection percentage of 330."""
    full = with_margins(np.array([[330, 400], [500, 600]]))
    t = table_from_array(full)
    p = cell(full, 0, 0)
    upper = (100 / 85 * 300 - 330) / 330 * 100
    r = protect(t, {p}, Pol(upper, upper), method="optimal")
    assert r.intervals[p][1] >= 352.94
    assert r.intervals[p][0] <= 330 - (352.94 - 330) + 1e-6


def test_no_primary_means_nothing_withheld() -> None:
    """sdcTable test-protectTable.r, "protectTable works": a problem without
    suppressions stays without suppressions (all 15 cells 's')."""
    full = with_margins(np.array([[18, 2], [14, 19], [12, 10], [11, 14]]))
    r = protect(table_from_array(full), set(), ZERO)
    assert r.suppressed == set() and r.audited


def test_impossible_protection_raises() -> None:
    t = table_from_array(np.array([2.0, 3.0, 5.0]))
    t.lower_bounds = np.array([2.0, 3.0, 5.0])
    t.upper_bounds = np.array([2.0, 3.0, 5.0])
    t.upper_bounds[0] = 2.5  # the cell can move by 0.5 at most, it needs 1
    with pytest.raises(SuppressionInfeasible):
        protect(t, {0}, ZERO, method="heuristic")


# --------------------------------------------------------------------------------------
# sdcTable's own test cases


MICRODATA1_FREQ = np.array([[18, 2], [14, 19], [12, 10], [11, 14]], dtype=float)


@pytest.mark.parametrize("method", ["optimal", "heuristic"])
def test_sdctable_protecttable_microdata1(method: str) -> None:
    """sdcTable tests/testthat/test-protectTable.r, "protectTable works" (and
    test-cell_info.R, "cellInfo works"): counts of microdata1 by region (A-D) and
    gender, cell A × female (count 2) primary. OPT, HYPERCUBE, HITAS and
    SIMPLEHEURISTIC all withhold cells 5, 6, 11, 12 (sdcTable ids: A × male,
    A × female, C × male, C × female): 3 secondary suppressions, 11 published."""
    full = with_margins(MICRODATA1_FREQ)
    labels = [["A", "B", "C", "D", "total"], ["male", "female", "total"]]
    t = table_from_array(full, labels)
    t.upper_bounds = np.full(t.size, 1.5 * full.max())
    r = protect(t, {cell(full, 0, 1)}, ZERO, method=method)
    assert names(t, r.suppressed) == {"A × male", "A × female", "C × male", "C × female"}
    assert len(r.secondary) == 3
    assert t.size - len(r.suppressed) == 11


def _simpleheuristic_problem() -> tuple[np.ndarray, LinearTable, set[int]]:
    rows, cols = ["w", "x", "y", "z"], ["a", "b", "c", "d"]
    inner = np.array(
        [[30, 47, 64, 89], [90, 124, 5, 31], [92, 100, 59, 85], [800, 991, 651, 685]],
        dtype=float,
    )
    full = with_margins(inner)
    t = table_from_array(full, [[*rows, "tot"], [*cols, "tot"]])
    t.upper_bounds = np.full(t.size, 1.5 * full.max())
    prim = [("w", "a"), ("w", "b"), ("w", "c"), ("x", "a"), ("x", "c")]
    prim += [("y", "b"), ("y", "d"), ("z", "b"), ("z", "d")]
    primary = {cell(full, rows.index(r), cols.index(c)) for r, c in prim}
    return full, t, primary


def test_sdctable_simpleheuristic_pattern_is_attacked() -> None:
    """sdcTable tests/testthat/test-simpleheuristic.R: with the 9 primary cells every
    row and column holds at least two suppressions, yet w × b (47) is exactly
    derivable."""
    full, t, primary = _simpleheuristic_problem()
    wb = cell(full, 0, 1)
    assert attacker_intervals(t, primary)[wb] == pytest.approx((47.0, 47.0))
    assert audit(t, primary, required_for(t, primary, ZERO))


@pytest.mark.parametrize("method", ["optimal", "heuristic"])
def test_sdctable_simpleheuristic_adds_one(method: str) -> None:
    """sdcTable tests/testthat/test-simpleheuristic.R, "simpleheuristic and
    simpleheuristic-old work": SIMPLEHEURISTIC adds exactly one suppression, and
    attacking cell 8 (w × b, 47) then gives low = 0, up = 78."""
    full, t, primary = _simpleheuristic_problem()
    r = protect(t, primary, ZERO, method=method)
    assert len(r.secondary) == 1
    assert r.intervals[cell(full, 0, 1)] == pytest.approx((0.0, 78.0))


def _linked_problem() -> tuple[LinearTable, LinearTable]:
    regions = ["A", "B", "I", "J", "K", "L", "M", "N"]
    n = [2, 2, 8, 8, 3, 3, 3, 7]
    t1 = table_from_array(
        np.array([*n, 20, 16, 36], dtype=float),
        [[*regions, "county-1", "county-2", "Total"]],
        hierarchies=[{8: [0, 1, 2, 3], 9: [4, 5, 6, 7], 10: [8, 9]}],
    )
    t2 = table_from_array(
        np.array([*n, 6, 30, 36], dtype=float),
        [[*regions, "big", "small", "Total"]],
        hierarchies=[{8: [5, 6], 9: [0, 1, 2, 3, 4, 7], 10: [8, 9]}],
    )
    return t1, t2


def test_sdctable_linked_tables() -> None:
    """sdcTable tests/testthat/test-linked-tables.r, "linked-tables work": two
    hierarchies over the same regions (by county; big/small). Frequency rule maxN = 3
    makes A, B, K, L, M primary (5 in each table). Each table alone needs no secondary
    suppression; linked, the common cells give a suppressed cell away (here K:
    small - county-1 = K + N = 10 with N = 7 published), and protect_linked_tables
    withholds N (7) in both tables: one secondary suppression."""
    t1, t2 = _linked_problem()
    for t in (t1, t2):
        primary = {i for i, v in enumerate(t.values) if v <= 3}
        assert len(primary) == 5
        r = protect(t, primary, ZERO)
        assert r.secondary == set()
    linked = link_tables(t1, t2)
    assert linked.size == 13  # 8 regions, 2 counties, big, small, one shared Total
    primary = {i for i, v in enumerate(linked.values) if v <= 3}
    assert attacker_intervals(linked, primary)[linked.labels.index(("K",))] == (3.0, 3.0)
    for method in ("optimal", "heuristic"):
        r = protect(linked, primary, ZERO, method=method)
        assert names(linked, r.secondary) == {"N"}
        assert linked.values[linked.labels.index(("N",))] == 7


# --------------------------------------------------------------------------------------
# Property test


@st.composite
def tables(draw: st.DrawFn) -> tuple[np.ndarray, set[int], Pol, str]:
    ndim = draw(st.sampled_from([2, 2, 3]))
    shape = tuple(draw(st.integers(2, 5 if ndim == 2 else 3)) for _ in range(ndim))
    size = int(np.prod(shape))
    inner = np.array(draw(st.lists(st.integers(0, 60), min_size=size, max_size=size)))
    full = with_margins(inner.reshape(shape).astype(float))
    n_prim = draw(st.integers(1, max(1, size // 3)))
    flat = draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=n_prim, unique=True))
    primary = {cell(full, *np.unravel_index(i, shape)) for i in flat}
    if draw(st.booleans()):  # sometimes a margin is primary too
        primary.add(draw(st.integers(0, full.size - 1)))
    pol = Pol(draw(st.floats(0, 60)), draw(st.floats(0, 60)))
    method = draw(st.sampled_from(["optimal", "heuristic"]))
    return full, primary, pol, method


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(tables())
def test_property_every_primary_keeps_its_protection_interval(
    case: tuple[np.ndarray, set[int], Pol, str],
) -> None:
    full, primary, pol, method = case
    t = table_from_array(full)
    before = t.values.copy()
    r = protect(t, primary, pol, method=method)
    assert r.audited and primary <= r.suppressed
    assert r.secondary == r.suppressed - primary
    required = required_for(t, primary, pol)
    # An independent, exact attack on the final pattern.
    found = attacker_intervals(t, r.suppressed)
    for p in primary:
        lo, hi = found[p]
        req_lo, req_hi = required[p]
        tol = 1e-6 * max(1.0, abs(t.values[p]))
        assert lo <= req_lo + tol and hi >= req_hi - tol, (p, found[p], required[p])
        # Counts are never exactly derivable (at least ±1, within the bounds).
        assert hi - lo >= 1 - tol
    # Margins and published cells keep their true values.
    assert np.array_equal(t.values, before)
    pub = published_values(t, r.suppressed)
    shown = ~np.isnan(pub)
    assert np.array_equal(pub[shown], full.ravel()[shown])
    assert np.isnan(pub[sorted(r.suppressed)]).all()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(2, 5),
    cols1=st.integers(2, 4),
    cols2=st.integers(2, 4),
    percent=st.floats(0, 50),
    method=st.sampled_from(["optimal", "heuristic"]),
)
def test_property_linked_tables_share_a_margin(
    seed: int, rows: int, cols1: int, cols2: int, percent: float, method: str
) -> None:
    """Two tables (region × sex, region × age) share the region totals; primaries in
    both; the linked problem must protect every primary against both tables at once."""
    rng = np.random.default_rng(seed)
    inner1 = rng.integers(0, 30, (rows, cols1)).astype(float)
    inner2 = np.array(
        [rng.multinomial(int(t), np.ones(cols2) / cols2) for t in inner1.sum(1)], dtype=float
    )
    regions = [*(f"r{i}" for i in range(rows)), "Total"]
    t1 = table_from_array(
        with_margins(inner1), [regions, [*(f"s{j}" for j in range(cols1)), "Total"]]
    )
    t2 = table_from_array(
        with_margins(inner2), [regions, [*(f"a{j}" for j in range(cols2)), "Total"]]
    )
    linked = link_tables(t1, t2)
    assert linked.size == t1.size + t2.size - (rows + 1)
    linked.check()
    primary = {
        i for i, lab in enumerate(linked.labels) if "Total" not in lab and rng.random() < 0.2
    } or {0}
    pol = Pol(percent, percent)
    r = protect(linked, primary, pol, method=method)
    required = required_for(linked, primary, pol)
    found = attacker_intervals(linked, r.suppressed)
    for p in primary:
        tol = 1e-6 * max(1.0, abs(linked.values[p]))
        assert found[p][0] <= required[p][0] + tol and found[p][1] >= required[p][1] - tol


# --------------------------------------------------------------------------------------
# Scale


@pytest.mark.slow
def test_heuristic_protects_a_10000_cell_table() -> None:
    """200 × 50 interior with margins (10,251 cells), 3 % of the cells primary."""
    rng = np.random.default_rng(20)
    full = with_margins(rng.poisson(20, (200, 50)).astype(float))
    t = table_from_array(full)
    interior = rng.choice(200 * 50, size=int(0.03 * t.size), replace=False)
    primary = {cell(full, *np.unravel_index(int(i), (200, 50))) for i in interior}
    pol = Pol(15, 15)
    r = protect(t, primary, pol, method="auto", intervals="primary")
    assert r.method == "heuristic" and r.audited
    assert audit(t, r.suppressed, required_for(t, primary, pol)) == []
    assert set(r.intervals) == primary


def test_accepts_the_fivesafes_policy() -> None:
    """fivesafes.outputs.policy.Policy satisfies ProtectionPolicy (20 % either way)."""
    from fivesafes.outputs.policy import Policy

    pol = Policy(name="test", version="1", protection_upper=20, protection_lower=20)
    full = with_margins(np.array([[5, 7], [9, 11]]))
    t = table_from_array(full)
    r = protect(t, {cell(full, 0, 0)}, pol)
    assert required_for(t, {0}, pol) == {0: (4.0, 6.0)}
    assert r.intervals[0] == pytest.approx((0.0, 12.0))


@pytest.mark.parametrize("cost", ["value", "count"])
def test_magnitudes_and_costs(cost: str) -> None:
    """A magnitude table (not whole numbers): 10 % either way, never exactly derivable."""
    full = with_margins(np.array([[120.5, 40.25, 300.0], [80.75, 55.5, 10.0], [5.5, 99.0, 7.25]]))
    t = table_from_array(full)
    primary = {cell(full, 0, 1), cell(full, 2, 2)}
    pol = Pol(10, 10)
    required = required_for(t, primary, pol)
    assert required[cell(full, 0, 1)] == pytest.approx((36.225, 44.275))
    for method in ("optimal", "heuristic"):
        r = protect(t, primary, pol, method=method, cost=cost)
        for p in primary:
            lo, hi = r.intervals[p]
            assert lo <= required[p][0] + 1e-6 and hi >= required[p][1] - 1e-6
