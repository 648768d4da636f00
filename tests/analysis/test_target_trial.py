"""Target trial emulation validated on a simulation with a known effect and
time-varying confounding with treatment–confounder feedback (tte_simulation.py),
where the naive (unweighted) estimate is biased and the emulation recovers the
truth within its bootstrap interval.

The true risks are exact (dynamic programming over the confounder's states) and
checked against a large Monte Carlo run of the same process under each strategy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tte_simulation import risk, sequential_truth, simulate

from fivesafes.analysis.target_trial import Protocol, emulate
from fivesafes.errors import FivesafesError
from fivesafes.outputs import load_policy

FOLLOW_UP = 5
# The truth, by the end of 5 periods from time zero (L_0 ~ Bernoulli(0.3)):
TRUE_ALWAYS = 0.1354  # start treatment at time zero
TRUE_NEVER = 0.3861  # never start
TRUE_RD = -0.2506  # risk difference, start at time zero vs never
TRUE_RD_GRACE2 = -0.1850  # start within 2 periods (natural course before) vs never
TRUE_RD_SEQUENTIAL = -0.2487  # sequential trials at periods 0-5 of 10, pooled


def _protocol(**kw: object) -> Protocol:
    base: dict[str, object] = {
        "id": "id",
        "period": "period",
        "treatment": "treated",
        "outcome": "event",
        "confounders": ["L"],
        "follow_up": FOLLOW_UP,
    }
    return Protocol(**(base | kw))  # type: ignore[arg-type]


def test_the_stated_truth_is_exact() -> None:
    assert risk(FOLLOW_UP, "always") == pytest.approx(TRUE_ALWAYS, abs=5e-5)
    assert risk(FOLLOW_UP, "never") == pytest.approx(TRUE_NEVER, abs=5e-5)
    assert risk(FOLLOW_UP, "always") - risk(FOLLOW_UP, "never") == pytest.approx(TRUE_RD, abs=5e-5)
    assert risk(FOLLOW_UP, "grace", grace=2) - risk(FOLLOW_UP, "never") == pytest.approx(
        TRUE_RD_GRACE2, abs=5e-5
    )
    assert sequential_truth(10, FOLLOW_UP) == pytest.approx(TRUE_RD_SEQUENTIAL, abs=5e-5)


@pytest.mark.parametrize("regime", ["always", "never", "natural"])
def test_exact_risks_agree_with_monte_carlo(regime: str) -> None:
    n = 200_000
    df = simulate(n, FOLLOW_UP, seed=11, regime=regime)
    observed = df.groupby("id")["event"].max().mean()
    exact = (
        risk(FOLLOW_UP, "grace", grace=FOLLOW_UP)
        if regime == "natural"
        else risk(FOLLOW_UP, regime)
    )
    se = np.sqrt(exact * (1 - exact) / n)
    assert abs(observed - exact) < 4 * se


@pytest.mark.slow
def test_clone_censor_weight_recovers_the_effect() -> None:
    df = simulate(4000, FOLLOW_UP, seed=2)
    r = emulate(df, _protocol(), bootstrap=100, seed=1)
    lo, hi = r.ci["risk_difference"]
    assert lo < TRUE_RD < hi
    assert r.ci["risk_treated"][0] < TRUE_ALWAYS < r.ci["risk_treated"][1]
    assert r.ci["risk_untreated"][0] < TRUE_NEVER < r.ci["risk_untreated"][1]
    # the naive estimate (same design, no weights) is biased towards no effect:
    # sicker people are treated more; its interval misses the truth
    nlo, _nhi = r.naive_ci["risk_difference"]
    assert nlo > TRUE_RD
    assert r.naive.risk_difference > r.weighted.risk_difference + 0.05
    counts = r.arm_counts.set_index("arm")
    # everyone cloned into both arms; with no grace period, time zero's treatment
    # decides which clone goes on
    assert counts.loc["treated", "time_zeros"] == counts.loc["untreated", "time_zeros"] == 4000
    following = counts["following_at_time_zero"]
    assert following["treated"] + following["untreated"] == 4000
    assert counts.loc["untreated", "censored"] > 0  # clones censored on starting later


@pytest.mark.slow
def test_large_sample_is_close_to_the_truth() -> None:
    df = simulate(60_000, FOLLOW_UP, seed=5)
    r = emulate(df, _protocol(), bootstrap=0)
    assert r.weighted.risk_difference == pytest.approx(TRUE_RD, abs=0.015)
    assert abs(r.naive.risk_difference - TRUE_RD) > 0.08
    r2 = emulate(df, _protocol(grace=2), bootstrap=0)
    assert r2.weighted.risk_difference == pytest.approx(TRUE_RD_GRACE2, abs=0.015)
    assert r2.weighted.risk_untreated == pytest.approx(TRUE_NEVER, abs=0.015)


@pytest.mark.slow
def test_grace_period() -> None:
    df = simulate(5000, FOLLOW_UP, seed=3)
    r = emulate(df, _protocol(grace=2), bootstrap=60, seed=2)
    lo, hi = r.ci["risk_difference"]
    assert lo < TRUE_RD_GRACE2 < hi
    assert not r.naive_ci["risk_difference"][0] < TRUE_RD_GRACE2 < r.naive_ci["risk_difference"][1]


@pytest.mark.slow
def test_sequential_trials() -> None:
    df = simulate(3000, 10, seed=3)
    r = emulate(df, _protocol(time_zero="every"), bootstrap=100, seed=1)
    assert r.trials == 6  # periods 0-5 can be followed for 5 periods within 10
    lo, hi = r.ci["risk_difference"]
    assert lo < TRUE_RD_SEQUENTIAL < hi
    nlo, _nhi = r.naive_ci["risk_difference"]
    assert nlo > TRUE_RD_SEQUENTIAL
    assert r.time_zeros > r.persons  # persons are in several trials


@pytest.mark.slow
def test_pooled_logistic_outcome_model_agrees() -> None:
    df = simulate(4000, FOLLOW_UP, seed=2)
    nonparametric = emulate(df, _protocol(), bootstrap=0)
    pooled = emulate(df, _protocol(), bootstrap=0, outcome_model="pooled_logistic")
    assert pooled.weighted.risk_difference == pytest.approx(
        nonparametric.weighted.risk_difference, abs=0.01
    )
    # with a baseline covariate (L at time zero) in the outcome model, standardised
    adjusted = emulate(df, _protocol(baseline=["L"]), bootstrap=0, outcome_model="pooled_logistic")
    assert adjusted.weighted.risk_difference == pytest.approx(TRUE_RD, abs=0.04)


def test_result_for_disclosure_control_and_protocol() -> None:
    df = simulate(3000, FOLLOW_UP, seed=4)
    r = emulate(df, _protocol(), bootstrap=10, seed=1, truncate=0.99)
    elements = [e["element"] for e in r.protocol.describe()]
    assert elements == [
        "eligibility",
        "treatment strategies",
        "assignment",
        "time zero",
        "follow-up",
        "outcome",
        "causal contrast",
        "analysis",
    ]
    res = r.result()
    assert set(res.outputs()) == {
        "target_trial_estimates",
        "target_trial_risk_curves",
        "target_trial_arms",
        "target_trial_risk_curves_figure",
    }
    checked = res.check(load_policy("acro"))
    assert set(checked) == set(res.outputs())
    curves = res.table("target_trial_risk_curves")
    assert (curves.groupby("arm")["risk"].diff().dropna() >= 0).all()  # cumulative
    assert res.summary["design"] == "clone-censor-weight"
    assert r.weights["max"] <= np.inf and r.weights["mean"] > 0


def test_bad_data_named() -> None:
    df = simulate(200, FOLLOW_UP, seed=1)
    gap = df.drop(index=df.index[(df["id"] == df["id"].iloc[0]) & (df["period"] == 1)])
    if (gap["id"] == df["id"].iloc[0]).sum() > 1:
        with pytest.raises(FivesafesError, match="not consecutive"):
            emulate(gap, _protocol(), bootstrap=0)
    bad = df.assign(treated=df["treated"].replace(1, 2))
    with pytest.raises(FivesafesError, match="treated must be 0 or 1"):
        emulate(bad, _protocol(), bootstrap=0)
    with pytest.raises(FivesafesError, match="no column"):
        emulate(df, _protocol(confounders=["nope"]), bootstrap=0)
    with pytest.raises(FivesafesError, match="grace"):
        emulate(df, _protocol(grace=5), bootstrap=0)
    missing = df.assign(L=df["L"].astype(float).where(df.index != 3))
    with pytest.raises(FivesafesError, match="L is missing in row"):
        emulate(missing, _protocol(), bootstrap=0)


def test_rows_after_the_event_are_ignored() -> None:
    df = simulate(500, FOLLOW_UP, seed=6)
    extra = df[df["event"] == 1].assign(period=lambda d: d["period"] + 1, event=0)
    extra = extra[extra["period"] < FOLLOW_UP]
    both = pd.concat([df, extra], ignore_index=True)
    a = emulate(df, _protocol(), bootstrap=0).weighted.risk_difference
    b = emulate(both, _protocol(), bootstrap=0).weighted.risk_difference
    assert a == pytest.approx(b)
