"""Residual degrees of freedom, categorical level counts, group sizes, and
minima, maxima and modes: input -> expected verdicts (numbers checked by hand)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fivesafes.outputs import GroupSummary, MagnitudeTable, RegressionResult, check
from fivesafes.outputs.policy import ACRO, UK_LLC


def test_too_few_residual_dof_suppresses_every_coefficient() -> None:
    """ACRO's default safe_dof_threshold is 10 (default.yaml): 9 is too few."""
    r = RegressionResult(["const", "x"], np.array([1.0, 2.0]), dof=9)
    result = check(r, ACRO)
    assert [v.status for v in result.verdicts] == ["suppress", "suppress"]
    assert result.verdicts[0].reasons == [
        "the model has 9 residual degrees of freedom: fewer than the minimum of 10"
    ]
    assert [
        v.status for v in check(RegressionResult(["x"], np.array([1.0]), dof=10), ACRO).verdicts
    ] == ["pass"]


def test_small_categorical_level_suppresses_its_coefficient() -> None:
    r = RegressionResult(
        ["const", "region[T.north]", "region[T.islands]"],
        np.array([0.5, 0.1, 2.0]),
        dof=500,
        level_counts={"region[T.north]": 240, "region[T.islands]": 4},
    )
    got = [v.status for v in check(r, ACRO).verdicts]
    assert got == ["pass", "pass", "suppress"]


def test_from_statsmodels_counts_dummy_levels() -> None:
    sm = __import__("pytest").importorskip("statsmodels.formula.api")
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"g": ["a"] * 50 + ["b"] * 45 + ["c"] * 5, "x": rng.normal(size=100)})
    df["y"] = df["x"] + rng.normal(size=100)
    fit = sm.ols("y ~ x + g", data=df).fit()
    r = RegressionResult.from_statsmodels(fit)
    assert r.dof == 96
    assert r.level_counts == {"g[T.b]": 45, "g[T.c]": 5}
    got = {v.label[0]: v.status for v in check(r, ACRO).verdicts}
    assert got["g[T.c]"] == "suppress" and got["g[T.b]"] == "pass"


def test_group_summary_minimum_group_size() -> None:
    g = GroupSummary(["low", "rising", "high"], np.array([812, 95, 7]))
    got = [v.status for v in check(g, UK_LLC).verdicts]
    assert got == ["pass", "pass", "suppress"]


def test_maximum_is_unsafe_unless_enough_people_share_it() -> None:
    """A maximum is one person's value; it is safe only if at least `threshold`
    records share it (here 12 records at the cap of 100 in group a)."""
    df = pd.DataFrame(
        {
            "g": ["a"] * 20 + ["b"] * 20,
            "x": [100] * 12 + list(range(8)) + list(range(20)),
        }
    )
    t = MagnitudeTable.from_microdata(df, ["g"], "x", statistic="max")
    got = {v.label[0]: v.status for v in check(t, ACRO).verdicts}
    assert got["a"] == "pass"
    assert got["b"] == "suppress"


def test_mode_shared_by_enough_people_passes() -> None:
    df = pd.DataFrame({"g": ["a"] * 15 + ["b"] * 15, "x": [1] * 11 + [2] * 4 + [1] * 5 + [2] * 10})
    t = MagnitudeTable.from_microdata(df, ["g"], "x", statistic="mode")
    got = {v.label[0]: (v.status, v.value) for v in check(t, ACRO).verdicts}
    assert got["a"] == ("pass", 1.0)
    assert got["b"] == ("pass", 2.0)
    assert got["Total"] == ("pass", 1.0)
