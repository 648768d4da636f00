"""The threshold rule's safety range in secondary suppression (issue 17).

A count withheld because it is under the threshold must not be narrowed down to
"someone, but fewer than the threshold": the attacker's feasible interval (the LP
relaxation: non-negative real tables consistent with the published cells and the
true margins) must reach 0 or reach the threshold.

Every interval here is computed by an independent linear program written in this
file (:func:`scipy.optimize.linprog` over the whole array, its equations built from
the array's shape), not by ``fivesafes.outputs.audit_lp``.
"""

from __future__ import annotations

from itertools import product

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from fivesafes.outputs import FrequencyTable, MagnitudeTable, check, load_policy
from fivesafes.outputs.audit_lp import attacker_intervals, audit, audit_intervals
from fivesafes.outputs.audit_lp import frequency_ok as engine_frequency_ok
from fivesafes.outputs.audit_lp import interval_ok as engine_interval_ok
from fivesafes.outputs.secondary import (
    frequency_for,
    protect,
    required_for,
    table_from_array,
)

THRESHOLD = 10
ACRO = load_policy("acro")  # threshold 10, zeros unsafe, no rounding


def with_margins(inner: np.ndarray) -> np.ndarray:
    out = np.asarray(inner, dtype=float)
    for axis in range(out.ndim):
        out = np.concatenate([out, out.sum(axis=axis, keepdims=True)], axis=axis)
    return out


def equations(shape: tuple[int, ...]) -> np.ndarray:
    """Every margin equation of an array whose last entry on each axis is the Total."""
    ids = np.arange(int(np.prod(shape))).reshape(shape)
    rows = []
    for k, n in enumerate(shape):
        lines = np.moveaxis(ids, k, -1).reshape(-1, n)
        for line in lines:
            row = np.zeros(ids.size)
            row[line[:-1]] = 1.0
            row[line[-1]] = -1.0
            rows.append(row)
    return np.array(rows)


def independent_interval(full: np.ndarray, withheld: set[int], cell: int) -> tuple[float, float]:
    """min and max of ``cell`` over non-negative tables with the published cells
    fixed and every margin equation holding (scipy's HiGHS, no engine code)."""
    flat = full.ravel()
    a_eq = equations(full.shape)
    bounds = [(0.0, None) if i in withheld else (flat[i], flat[i]) for i in range(flat.size)]
    ends = []
    for sense in (1.0, -1.0):
        c = np.zeros(flat.size)
        c[cell] = sense
        res = linprog(c, A_eq=a_eq, b_eq=np.zeros(len(a_eq)), bounds=bounds, method="highs")
        if res.status == 3:
            ends.append(-sense * np.inf)
            continue
        assert res.status == 0, res.message
        ends.append(float(res.x[cell]))
    return ends[0], ends[1]


def long_table(full: np.ndarray) -> pd.DataFrame:
    """The array as a long table, labels ``d{axis}_{i}`` and ``Total``."""
    dims = [f"d{k}" for k in range(full.ndim)]
    rows = []
    for idx in product(*(range(n) for n in full.shape)):
        lab = {
            d: "Total" if i == n - 1 else f"{d}_{i}"
            for d, i, n in zip(dims, idx, full.shape, strict=True)
        }
        rows.append({**lab, "n": full[idx]})
    return pd.DataFrame(rows)


def flat_index(full: np.ndarray, label: tuple[str, ...]) -> int:
    idx = tuple(
        n - 1 if lab == "Total" else int(lab.rsplit("_", 1)[1])
        for lab, n in zip(label, full.shape, strict=True)
    )
    return int(np.ravel_multi_index(idx, full.shape))


def reaches(interval: tuple[float, float], threshold: float = THRESHOLD) -> bool:
    lo, hi = interval
    return lo <= 1e-6 or hi >= threshold - 1e-6


def check_array(full: np.ndarray):
    df = long_table(full)
    dims = [c for c in df.columns if c != "n"]
    return check(FrequencyTable.from_long(df, dims, "n"), ACRO)


def assert_safe(full: np.ndarray) -> None:
    """After ``check``: every threshold cell reaches 0 or the threshold; every
    published value is the true one (margins included). A table no pattern can
    protect must go to review instead."""
    result = check_array(full)
    if result.secondary == "not needed":  # nothing withheld, so nothing to protect
        assert all(v.status != "suppress" for v in result.verdicts)
        return
    if result.secondary != "done":
        assert result.secondary == "infeasible" and result.status in ("review", "suppress")
        assert all(v.status in ("review", "suppress") for v in result.verdicts)
        return
    withheld = {flat_index(full, v.label) for v in result.verdicts if v.status == "suppress"}
    flat = full.ravel()
    for v in result.verdicts:
        i = flat_index(full, v.label)
        if v.status != "suppress":
            assert v.safe_value == flat[i], (v.label, v.safe_value, flat[i])
        if "threshold" in v.rules:
            assert v.status == "suppress"
            iv = independent_interval(full, withheld, i)
            assert reaches(iv), (v.label, v.value, iv)
            # Never pinned down, and never narrowed past its own value either way.
            assert iv[0] <= v.value - 1 + 1e-6 and iv[1] >= v.value + 1 - 1e-6


# --------------------------------------------------------------------------------------
# The 4 × 4 case


# A 4 × 4 table (with its true margins, 5 × 5 in all) on which the engine before
# issue 17 (main at c3e3e70, ``check`` under the acro preset) withheld these cells
# and left the 3 in row a1, column b3 within [1, 7], the case: an attacker
# learns that someone is in that cell and that there are fewer than 10 of them.
# (Found by running that engine on seeded random tables.)
INNER_4X4 = np.array([[31, 21, 8, 34], [3, 3, 16, 3], [3, 1, 21, 25], [12, 2, 8, 28]])
OLD_PATTERN = {2, 3, 4, 5, 7, 8, 9, 13, 14}  # flat ids in the 4 × 4 interior
OLD_CELL = (1, 3)
OLD_INTERVAL = (1.0, 7.0)


def test_4x4_the_old_pattern_confined_the_3() -> None:
    """The independent LP sees what the issue describes on the old pattern."""
    full = with_margins(INNER_4X4)
    withheld = {int(np.ravel_multi_index(divmod(c, 4), full.shape)) for c in OLD_PATTERN}
    cell = int(np.ravel_multi_index(OLD_CELL, full.shape))
    assert full.ravel()[cell] == 3
    assert independent_interval(full, withheld, cell) == pytest.approx(OLD_INTERVAL)
    assert not reaches(OLD_INTERVAL)
    # and the engine's audit now refuses that pattern, naming the cell
    t = table_from_array(full)
    prim = {c for c in withheld if 0 < t.values[c] < THRESHOLD}
    failures = audit(t, withheld, required_for(t, prim, ACRO), frequency_for(t, prim, THRESHOLD))
    assert any("value 3" in f and "under the threshold of 10" in f for f in failures)


def test_4x4_check_keeps_the_3_within_reach_of_0_or_10() -> None:
    full = with_margins(INNER_4X4)
    result = check_array(full)
    assert result.secondary == "done"
    withheld = {flat_index(full, v.label) for v in result.verdicts if v.status == "suppress"}
    cell = int(np.ravel_multi_index(OLD_CELL, full.shape))
    assert cell in withheld
    lo, hi = independent_interval(full, withheld, cell)
    assert lo <= 1e-9 or hi >= 10 - 1e-9, (lo, hi)
    assert not (lo >= 1 and hi <= 7)
    assert_safe(full)


# --------------------------------------------------------------------------------------
# Property tests


@st.composite
def small_count_tables(draw: st.DrawFn) -> np.ndarray:
    ndim = draw(st.sampled_from([2, 2, 2, 3]))
    shape = tuple(draw(st.integers(2, 4 if ndim == 2 else 3)) for _ in range(ndim))
    size = int(np.prod(shape))
    small = st.integers(0, 12)
    large = st.integers(10, 60)
    values = draw(st.lists(st.one_of(small, large), min_size=size, max_size=size))
    return with_margins(np.array(values, dtype=float).reshape(shape))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(small_count_tables())
def test_property_check_keeps_every_threshold_cell_within_reach(full: np.ndarray) -> None:
    assert_safe(full)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_count_tables(), st.sampled_from(["heuristic", "optimal"]))
def test_property_protect_either_method(full: np.ndarray, method: str) -> None:
    """``protect`` directly, both methods: the safety range and the ±1 protection."""
    t = table_from_array(full)
    prim = {i for i in range(t.size) if 0 < t.values[i] < THRESHOLD}
    assume(prim)
    r = protect(t, prim, ACRO, method=method, threshold_cells=prim)
    for p in prim:
        iv = independent_interval(full, r.suppressed, p)
        assert reaches(iv), (p, t.values[p], iv)
        assert iv[0] <= t.values[p] - 1 + 1e-6 and iv[1] >= t.values[p] + 1 - 1e-6


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_count_tables(), st.integers(0, 2**32 - 1))
def test_property_audit_judges_as_the_exact_intervals_do(full: np.ndarray, seed: int) -> None:
    """The certificate-based audit passes exactly the cells the exact LPs pass, on
    arbitrary (often unsafe) patterns; where it fails a side, its end is exact."""
    rng = np.random.default_rng(seed)
    t = table_from_array(full)
    prim = {i for i in range(t.size) if 0 < t.values[i] < THRESHOLD}
    assume(prim)
    withheld = prim | {int(i) for i in np.flatnonzero(rng.random(t.size) < 0.4)}
    required = required_for(t, prim, ACRO)
    freq = frequency_for(t, prim, THRESHOLD)
    found = audit_intervals(t, withheld, required, freq, seed=seed)
    exact = attacker_intervals(t, withheld, cells=prim)
    for p in prim:
        ref = independent_interval(full, withheld, p)
        assert exact[p] == pytest.approx(ref, abs=1e-6)
        assert engine_interval_ok(found[p], required[p]) == engine_interval_ok(ref, required[p])
        assert engine_frequency_ok(found[p], freq[p]) == reaches(ref)
        # inner bounds: never wider than the truth
        assert found[p][0] >= ref[0] - 1e-6 and found[p][1] <= ref[1] + 1e-6


# --------------------------------------------------------------------------------------
# The pieces


def test_frequency_for_only_small_positive_counts_and_names_bad_cells() -> None:
    full = with_margins(np.array([[0, 3], [12, 9]]))
    t = table_from_array(full)
    cells = {int(np.ravel_multi_index(ix, full.shape)) for ix in [(0, 0), (0, 1), (1, 0), (1, 1)]}
    got = frequency_for(t, cells, THRESHOLD)
    assert got == {
        int(np.ravel_multi_index((0, 1), full.shape)): (0.0, 10.0),
        int(np.ravel_multi_index((1, 1), full.shape)): (0.0, 10.0),
    }
    with pytest.raises(ValueError, match="threshold cell 99"):
        frequency_for(t, {99}, THRESHOLD)


def test_threshold_cells_must_be_primary() -> None:
    full = with_margins(np.array([[5, 30], [40, 50]]))
    t = table_from_array(full)
    with pytest.raises(ValueError, match="threshold_cells"):
        protect(t, {0}, ACRO, threshold_cells={1})


def test_magnitude_tables_keep_their_percentages() -> None:
    """A magnitude cell withheld for having few contributors is not a count: it keeps
    the p% / percentage protection, and no safety range is asked of its value."""
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "a": rng.choice(["x", "y", "z"], 300, p=[0.47, 0.47, 0.06]),
            "b": rng.choice(["u", "v"], 300),
            "amount": rng.lognormal(5, 1, 300).round(2),
        }
    )
    t = MagnitudeTable.from_microdata(df, ["a", "b"], "amount", "sum")
    result = check(t, ACRO)
    small = [v for v in result.verdicts if "threshold" in v.rules]
    assert small and all(v.value > THRESHOLD for v in small)  # sums, not counts
    assert result.secondary == "done"
    assert result.protection is not None
    assert "within reach of 0" not in " ".join(result.protection.messages)


class _FlakyHighs:
    """A HiGHS instance whose first solve ends without a status, as a warm-started
    HiGHS once did in CI on the 5 × 4 table below ("attacker linear program
    failed: Unknown")."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self._runs = 0

    def run(self) -> object:
        self._runs += 1
        return self._inner.run()  # type: ignore[attr-defined]

    def getModelStatus(self) -> object:  # HiGHS's name
        import highspy

        if self._runs == 1:
            return highspy.HighsModelStatus.kUnknown
        return self._inner.getModelStatus()  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def test_a_solve_without_a_status_is_solved_again_from_scratch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fivesafes.outputs import audit_lp

    real = audit_lp.silent_highs
    monkeypatch.setattr(audit_lp, "silent_highs", lambda: _FlakyHighs(real()))
    full = np.array(
        [[1, 10, 10, 21], [0, 1, 1, 2], [9, 10, 0, 19], [0, 0, 10, 10], [10, 21, 21, 52]],
        dtype=float,
    )
    t = table_from_array(full)
    prim = {i for i in range(t.size) if 0 < t.values[i] < THRESHOLD}
    withheld = prim | {0, 3, 12, 13, 19}
    required = required_for(t, prim, ACRO)
    freq = frequency_for(t, prim, THRESHOLD)
    found = audit_intervals(t, withheld, required, freq, seed=42693)
    for p in prim:
        ref = independent_interval(full, withheld, p)
        assert engine_frequency_ok(found[p], freq[p]) == reaches(ref)
        assert found[p][0] >= ref[0] - 1e-6 and found[p][1] <= ref[1] + 1e-6
