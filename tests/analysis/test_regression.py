"""Binary and ordinal logistic regression recover the synthetic world's planted effects.

Planted (docs/synthetic-world.md, "Convictions"): a first proven offence by age 21
has log-odds = the trajectory group's base (stable_high -4.2, stable_middle -3.4,
rising -3.2, declining -1.1, stable_low -2.4) + 1.1 if male + 0.2 per quintile
more deprived than the least + 1.2 if ever looked after. The true trajectory
group is taken from the truth (fitting the groups is the trajectory model's job).

Exclusions and justice involvement (docs/synthetic-world.md, "Schools" and
"Convictions"): exclusions rise on the declining trajectory (x 5, permanent x 13)
and with care (x 2), and convictions depend on the trajectory group and care; no
direct effect of exclusion on offending is planted. So exclusion is strongly
associated with the level of justice involvement, and its true effect given
trajectory group, sex, deprivation and care is 0 (odds ratio 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from fivesafes.analysis.regression import logistic, ordinal
from fivesafes.errors import FivesafesError, InputError
from fivesafes.outputs import RegressionResult, load_policy

GROUP_BASE = {
    "stable_high": -4.2,
    "stable_middle": -3.4,
    "rising": -3.2,
    "declining": -1.1,
    "stable_low": -2.4,
}
PLANTED = {
    **{f"C(group)[{g}]": v for g, v in GROUP_BASE.items()},
    "male": 1.1,
    "more_deprived": 0.2,
    "looked_after": 1.2,
}
#: One coefficient per group (no intercept): each is the group's base log-odds.
FORMULA = "convicted_by_21 ~ 0 + C(group) + male + more_deprived + looked_after"


def test_conviction_by_21_recovers_the_planted_log_odds(conviction_data: pd.DataFrame) -> None:
    """All 8 planted values inside their intervals, family-wise 95% (Bonferroni:
    each at 1 - 0.05/8). In this world (seed 7) the stable_high group's realised
    conviction rate sits 2.2 binomial SDs above its expectation, so its single 95%
    interval misses -4.2; the coverage test below checks the intervals' level."""
    result = logistic(conviction_data, FORMULA, confidence=1 - 0.05 / len(PLANTED))
    t = result.table("coefficients").set_index("term")
    assert set(t.index) == set(PLANTED)
    for term, true in PLANTED.items():
        lo, hi = np.log(t.loc[term, ["or_lower", "or_upper"]].astype(float))
        assert lo <= true <= hi, (term, true, lo, hi)
    assert result.summary["n"] == len(conviction_data) > 5000


def test_trajectory_odds_ratios_against_the_largest_group(conviction_data: pd.DataFrame) -> None:
    """Odds ratios of conviction by 21 against stable_middle (35% of pupils):
    declining exp(-1.1 + 3.4) = 9.97, stable_low exp(1.0) = 2.72, rising
    exp(0.2) = 1.22, stable_high exp(-0.8) = 0.45 (Bonferroni over the four)."""
    f = (
        "convicted_by_21 ~ C(group, Treatment('stable_middle')) + male + more_deprived"
        " + looked_after"
    )
    t = logistic(conviction_data, f, confidence=1 - 0.05 / 4).table("coefficients")
    t = t.set_index("term")
    for g in ("declining", "stable_low", "rising", "stable_high"):
        true_or = np.exp(GROUP_BASE[g] - GROUP_BASE["stable_middle"])
        row = t.loc[f"C(group, Treatment('stable_middle'))[T.{g}]"]
        assert row["or_lower"] <= true_or <= row["or_upper"], (g, true_or, row)
    # the declining trajectory is by far the riskiest
    declining = t.loc["C(group, Treatment('stable_middle'))[T.declining]", "or_lower"]
    assert declining > 5


@pytest.mark.slow
def test_confidence_intervals_cover_at_their_level(conviction_data: pd.DataFrame) -> None:
    """Outcomes redrawn 40 times from the planted model on the world's own
    covariates: the 95% intervals of the 8 planted values cover them about 95% of
    the time (320 intervals; binomial SD 1.2 points)."""
    rng = np.random.default_rng(20)
    logit = (
        conviction_data["group"].map(GROUP_BASE)
        + 1.1 * conviction_data["male"]
        + 0.2 * conviction_data["more_deprived"]
        + 1.2 * conviction_data["looked_after"]
    ).to_numpy()
    hits = []
    for _ in range(40):
        redrawn = conviction_data.assign(
            convicted_by_21=(rng.random(len(logit)) < expit(logit)).astype(int)
        )
        t = logistic(redrawn, FORMULA).table("coefficients").set_index("term")
        for term, true in PLANTED.items():
            hits.append(t.loc[term, "or_lower"] <= np.exp(true) <= t.loc[term, "or_upper"])
    assert 0.91 <= np.mean(hits) <= 0.985


def test_result_goes_to_the_disclosure_engine(conviction_data: pd.DataFrame) -> None:
    result = logistic(conviction_data, FORMULA)
    reg = result.outputs()["coefficients"]
    assert isinstance(reg, RegressionResult)
    assert reg.dof == len(conviction_data) - 8
    assert reg.level_counts["looked_after"] == conviction_data["looked_after"].sum()
    assert (
        reg.level_counts["C(group)[declining]"] == (conviction_data["group"] == "declining").sum()
    )
    checked = result.check(load_policy("acro"))
    assert checked["coefficients"].status == "pass"
    assert result.figures["odds_ratios"].png.startswith(b"\x89PNG")


def test_exclusion_and_justice_involvement_ordinal(exclusion_data: pd.DataFrame) -> None:
    """Unadjusted, exclusion raises the odds of a higher level of justice
    involvement; given the trajectory group, sex, deprivation and care its odds
    ratio's 95% interval holds the true value 1 (no direct effect planted)."""
    crude = ordinal(exclusion_data, "justice ~ excluded").table("coefficients")
    assert crude.loc[0, "or_lower"] > 1.5
    adjusted = ordinal(
        exclusion_data,
        "justice ~ excluded + C(group, Treatment('stable_middle')) + male + more_deprived"
        " + looked_after",
    )
    t = adjusted.table("coefficients").set_index("term")
    assert t.loc["excluded", "or_lower"] <= 1 <= t.loc["excluded", "or_upper"]
    assert t.loc["excluded", "odds_ratio"] < crude.loc[0, "odds_ratio"]
    # the declining trajectory carries the association
    assert t.loc["C(group, Treatment('stable_middle'))[T.declining]", "or_lower"] > 3
    th = adjusted.table("thresholds")
    assert th["threshold"].tolist() == ["none|caution", "caution|conviction", "conviction|custody"]
    assert th["value"].is_monotonic_increasing
    assert adjusted.summary["level_counts"]["none"] == (exclusion_data["justice"] == "none").sum()
    reg = adjusted.outputs()["coefficients"]
    assert len(reg.names) == len(t) + 3  # the coefficients and the three cut-points


def test_missing_rows_are_dropped_and_counted(conviction_data: pd.DataFrame) -> None:
    data = conviction_data.astype({"more_deprived": float}).copy()
    data.loc[data.index[:25], "more_deprived"] = np.nan
    result = logistic(data, FORMULA)
    assert result.summary["rows_dropped"] == 25
    assert result.summary["n"] == len(data) - 25
    assert any("25 row(s)" in n for n in result.notes)


def test_bad_input_is_named() -> None:
    data = pd.DataFrame({"y": ["0", "1", "2", "1"], "x": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(InputError, match=r"t.csv, row 3 .*field 'y'.*'2'"):
        logistic(data, "y ~ x", source="t.csv")
    with pytest.raises(InputError, match="no outcome column 'z'"):
        logistic(data, "z ~ x", source="t.csv")
    with pytest.raises(FivesafesError, match="cannot be used"):
        logistic(data.assign(y=[0, 1, 0, 1]), "y ~ x + w", source="t.csv")
    with pytest.raises(FivesafesError, match="only the value"):
        logistic(data.assign(y=[1, 1, 1, 1]), "y ~ x", source="t.csv")
    levels = ["low", "mid", "high"]
    with pytest.raises(InputError, match="not one of the levels"):
        ordinal(pd.DataFrame({"y": ["low", "top"], "x": [1, 2]}), "y ~ x", levels=levels)
    with pytest.raises(FivesafesError, match="needs its order"):
        ordinal(pd.DataFrame({"y": ["low", "mid", "high"], "x": [1, 2, 3]}), "y ~ x")


def test_cluster_robust_standard_errors_are_statsmodels() -> None:
    """With ``cluster`` the standard errors are statsmodels' cluster-robust ones for
    the same fit (Spector's 32 students in 8 made-up clusters of 4)."""
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    data = sm.datasets.spector.load_pandas().data.assign(cl=np.arange(32) // 4)
    result = logistic(data, "GRADE ~ GPA + PSI", cluster="cl")
    direct = smf.logit("GRADE ~ GPA + PSI", data).fit(
        disp=False, cov_type="cluster", cov_kwds={"groups": data["cl"]}
    )
    np.testing.assert_allclose(result.table("coefficients")["se"], direct.bse, rtol=1e-8)
    assert result.summary["cluster"] == "cl" and result.summary["clusters"] == 8
    with pytest.raises(InputError, match="no cluster column 'school'"):
        logistic(data, "GRADE ~ GPA", cluster="school")
    blank = data.astype({"cl": float})
    blank.loc[5, "cl"] = np.nan
    with pytest.raises(InputError, match=r"row 6 .*field 'cl'"):
        logistic(blank, "GRADE ~ GPA", cluster="cl", source="t.csv")


@pytest.mark.slow
def test_ordinal_intervals_cover_at_their_level(exclusion_data: pd.DataFrame) -> None:
    """Levels redrawn 20 times from a proportional-odds model with known values on
    the world's own covariates (excluded 0, male 1.0, looked_after 1.0; cut-points
    2, 3, 4.5): the 95% intervals of the three coefficients and of the three
    cut-points (delta method) cover them about 95% of the time (120 intervals)."""
    rng = np.random.default_rng(8)
    beta = {"excluded": 0.0, "male": 1.0, "looked_after": 1.0}
    cuts = np.array([2.0, 3.0, 4.5])
    eta = sum(v * exclusion_data[k].to_numpy() for k, v in beta.items())
    levels = ["none", "caution", "conviction", "custody"]
    crit = 1.959964
    hits = []
    for _ in range(20):
        latent = eta + rng.logistic(size=len(eta))
        drawn = exclusion_data.assign(justice=np.take(levels, np.searchsorted(cuts, latent)))
        result = ordinal(drawn, "justice ~ excluded + male + looked_after", levels=levels)
        t = result.table("coefficients").set_index("term")
        for term, true in beta.items():
            hits.append(t.loc[term, "or_lower"] <= np.exp(true) <= t.loc[term, "or_upper"])
        th = result.table("thresholds")
        lo, hi = th["value"] - crit * th["se"], th["value"] + crit * th["se"]
        hits += list((lo <= cuts) & (cuts <= hi))
    assert 0.88 <= np.mean(hits) <= 0.995
