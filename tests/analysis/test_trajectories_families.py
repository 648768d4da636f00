"""Trajectory models of counts (Poisson) and of 0/1 outcomes (logit).

The data-generating models are Nagin & Land's (1993) Poisson trajectories and
Nagin's (2005, ch. 2) logistic ones: person *i* in group *k* has, at each wave
independently, ``y_it ~ Poisson(exp(x(t)' beta_k))`` or
``y_it ~ Bernoulli(expit(x(t)' beta_k))``, x(t) = (1, t, t²).

Outside reference: statsmodels (``statsmodels.api.GLM``, Poisson family with the
log link, Binomial family with the logit link). With one group the trajectory
model *is* that GLM on the observed person-waves, so its coefficients, standard
errors and log-likelihood must agree with statsmodels'. With several groups the
fit is checked against simulations with known groups, shares and coefficients.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.optimize import approx_fprime
from scipy.special import expit

from fivesafes.analysis.gbtm import Panel, fit_gbtm, log_likelihood_and_score, pack
from fivesafes.analysis.trajectories import (
    TrajectoryResult,
    fit_trajectories,
    read_long_csv,
)
from fivesafes.errors import FivesafesError, InputError
from fivesafes.outputs import PRESETS, FrequencyTable, GroupSummary

T8 = np.arange(8.0)  # eight yearly waves, t = 0..7

# Offending counts per year (Poisson, log link): coefficients of 1, t, t² on the
# log of the expected count, groups from the lowest mean level to the highest.
POISSON_SHARES = np.array([0.60, 0.30, 0.10])
POISSON_COEFS = np.array(
    [
        [-2.0, 0.0, 0.0],  # low: about 0.14 offences a year throughout
        [-1.0, 0.9, -0.13],  # adolescent-limited: 0.4 → 1.7 at t = 3-4 → 0.3
        [0.8, 0.1, -0.005],  # chronic: 2.2 → 3.3
    ]
)
# Any conviction in the year (logit link): coefficients on the log-odds.
LOGIT_SHARES = np.array([0.70, 0.30])
LOGIT_COEFS = np.array(
    [
        [-2.5, 0.1, 0.0],  # rarely: probability 0.08 → 0.14
        [-0.5, 0.8, -0.1],  # often: 0.38 → 0.75 at t = 4 → 0.55
    ]
)


def simulate(
    family: str,
    n: int,
    seed: int,
    shares: np.ndarray,
    coefs: np.ndarray,
    times: np.ndarray = T8,
    missing: float = 0.1,
) -> tuple[pd.DataFrame, np.ndarray]:
    """A long table (person, t, y) with ``missing`` of the waves blank, and each
    person's true group (0-based)."""
    rng = np.random.default_rng(seed)
    group = rng.choice(len(shares), n, p=shares)
    eta = (np.vander(times, coefs.shape[1], increasing=True) @ coefs.T).T[group]
    if family == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        y = (rng.random(eta.shape) < expit(eta)).astype(float)
    y[rng.random(y.shape) < missing] = np.nan
    long = pd.DataFrame(
        {
            "person": np.repeat(np.arange(n), len(times)),
            "t": np.tile(times, n),
            "y": y.ravel(),
        }
    )
    return long, group


def correct_share(result: TrajectoryResult, truth: np.ndarray) -> float:
    a = result.assignments()
    return float((a["group"].to_numpy() - 1 == truth[a["id"].to_numpy()]).mean())


# --- one group: the GLM, against statsmodels ------------------------------------


@pytest.mark.parametrize("family", ["poisson", "logit"])
def test_one_group_is_the_glm_of_statsmodels(family: str) -> None:
    """Outside reference: statsmodels GLM (Poisson/log, Binomial/logit) on the
    observed person-waves with 1, t, t² — the one-group model with missing waves
    skipped. Coefficients to 1e-4, standard errors (observed information) to 1e-3,
    log-likelihood (Poisson with its -log y! term) to 1e-8, all relative."""
    times = np.arange(7.0)
    coefs = np.array([[0.2, 0.3, -0.05]]) if family == "poisson" else np.array([[-0.8, 0.6, -0.1]])
    long, _ = simulate(family, 1500, seed=31, shares=np.array([1.0]), coefs=coefs, times=times,
                       missing=0.2)  # fmt: skip
    result = fit_trajectories(long, "person", "t", "y", groups=[1], degree=2, family=family)
    (g,) = result.groups

    obs = long.dropna(subset=["y"])
    x = np.vander(obs["t"].to_numpy(), 3, increasing=True)
    link = sm.families.Poisson() if family == "poisson" else sm.families.Binomial()
    ref = sm.GLM(obs["y"].to_numpy(), x, family=link).fit(tol=1e-12, maxiter=100)
    assert ref.converged
    ours = np.array(g.coefficients)
    assert g.standard_errors is not None
    se = np.array(g.standard_errors)
    coef_diff = np.abs(ours / ref.params - 1).max()
    se_diff = np.abs(se / ref.bse - 1).max()
    assert coef_diff < 1e-4, (ours, ref.params)
    assert se_diff < 1e-3, (se, ref.bse)
    assert result.model.log_likelihood == pytest.approx(ref.llf, rel=1e-8)
    # BIC on the exact log-likelihood: 3 coefficients, no sigma, no share
    assert result.model.parameters == 3
    assert result.bic[1] == pytest.approx(-2 * ref.llf + 3 * np.log(1500), rel=1e-8)
    assert g.sigma is None
    # the reported trajectory is on the outcome's scale: expected count / probability
    fitted = np.array(g.fitted)
    mean = ref.predict(np.vander(times, 3, increasing=True))
    assert fitted == pytest.approx(mean, rel=1e-6)


# --- Poisson: three offending trajectories --------------------------------------


@pytest.fixture(scope="module")
def offending() -> tuple[pd.DataFrame, np.ndarray]:
    return simulate("poisson", 4000, seed=2024, shares=POISSON_SHARES, coefs=POISSON_COEFS)


@pytest.fixture(scope="module")
def poisson_fit(offending: tuple[pd.DataFrame, np.ndarray]) -> TrajectoryResult:
    long, _ = offending
    return fit_trajectories(
        long, "person", "t", "y", groups=[1, 2, 3, 4], degree=2, family="poisson", seed=1
    )


@pytest.mark.slow
def test_poisson_bic_chooses_three_groups(poisson_fit: TrajectoryResult) -> None:
    # True: 3 groups (low, adolescent-limited, chronic).
    scores = poisson_fit.bic
    assert poisson_fit.chosen == 3
    assert scores[3] < scores[2] < scores[1] and scores[3] < scores[4]
    assert poisson_fit.fits[3].parameters == 3 * 3 + 2  # coefficients and 2 shares, no sigma
    for k, f in poisson_fit.fits.items():
        assert f.family == "poisson"
        assert scores[k] == pytest.approx(-2 * f.log_likelihood + f.parameters * np.log(4000))


@pytest.mark.slow
def test_poisson_recovers_shares_assignment_and_coefficients(
    poisson_fit: TrajectoryResult, offending: tuple[pd.DataFrame, np.ndarray]
) -> None:
    _, truth = offending
    realised = np.bincount(truth, minlength=3) / len(truth)
    got = np.array([g.proportion for g in poisson_fit.groups])
    # true shares 0.60, 0.30, 0.10 (and the realised ones in this sample)
    assert np.abs(got - POISSON_SHARES).max() < 0.02, got
    assert np.abs(got - realised).max() < 0.02, (got, realised)
    assert correct_share(poisson_fit, truth) >= 0.90
    for g, true in zip(poisson_fit.groups, POISSON_COEFS, strict=True):
        est = np.array(g.coefficients)
        assert g.standard_errors is not None
        se = np.array(g.standard_errors)
        assert np.all(se > 0)
        assert np.all(np.abs(est - true) < 1.96 * se), (g.group, est, true, se)
        assert g.avg_posterior is not None and g.avg_posterior > 0.7
        assert g.occ is not None and g.occ > 5
        # the trajectory is the expected count per year, within 10% of the truth
        expected = np.exp(np.vander(T8, 3, increasing=True) @ true)
        assert np.array(g.fitted) == pytest.approx(expected, rel=0.1)
        assert g.sigma is None


@pytest.mark.slow
def test_poisson_fitted_counts_match_the_observed_means(poisson_fit: TrajectoryResult) -> None:
    # The posterior-weighted mean count of each group at each wave equals the fitted
    # expected count (the Poisson M step's score equations), and the modal groups'
    # observed means are close to it.
    fit = poisson_fit.model
    y = poisson_fit._wide
    obs = ~np.isnan(y)
    r = fit.posteriors
    weighted = (np.where(obs, y, 0).T @ r) / (obs.T.astype(float) @ r)
    curves = fit.means(poisson_fit.times)
    x = np.vander(poisson_fit.times, 3, increasing=True)
    for j in range(3):
        # X' (S_y - S_w mu) = 0 at the maximum: the weighted residuals are orthogonal to 1, t, t²
        resid = (np.where(obs, y, 0).T @ r[:, j]) - (obs.T.astype(float) @ r[:, j]) * curves[:, j]
        assert np.abs(x.T @ resid).max() < 1e-3 * np.abs(np.where(obs, y, 0).T @ r[:, j]).sum()
        assert weighted[:, j] == pytest.approx(curves[:, j], rel=0.15, abs=0.05)
    frame = poisson_fit.fitted_frame()
    assert list(frame.columns) == ["group", "time", "expected_count"]
    assert len(frame) == 3 * len(T8)


@pytest.mark.parametrize("family", ["poisson", "logit"])
def test_score_is_the_gradient_of_the_log_likelihood(family: str) -> None:
    shares, coefs = (
        (POISSON_SHARES, POISSON_COEFS) if family == "poisson" else (LOGIT_SHARES, LOGIT_COEFS)
    )
    long, _ = simulate(family, 500, seed=5, shares=shares, coefs=coefs)
    y = long["y"].to_numpy().reshape(500, len(T8))
    panel = Panel(y, T8)
    k = len(shares)
    fit = fit_gbtm(panel, k, [1, 2, 2][-k:], seed=1, family=family)  # type: ignore[arg-type]
    assert len(fit.sigma) == 0
    theta = pack(fit) + np.random.default_rng(2).normal(0, 0.02, len(pack(fit)))
    ll, score = log_likelihood_and_score(panel, fit, theta)
    numeric = approx_fprime(theta, lambda th: log_likelihood_and_score(panel, fit, th)[0], 1e-6)
    assert np.allclose(score, numeric, rtol=1e-3, atol=1e-3 * np.abs(numeric).max())
    assert ll < fit.log_likelihood + 1e-6  # the fit is a maximum
    # the fit is at the maximum: the Newton step from it, g' I^-1 g, is a tiny
    # fraction of a standard error (EM stops at a relative change of 1e-8 in logL)
    _, at_fit = log_likelihood_and_score(panel, fit, pack(fit))
    assert fit.covariance is not None
    assert np.sqrt(at_fit @ fit.covariance @ at_fit) < 0.01


@pytest.mark.slow
def test_poisson_standard_errors_match_the_spread_over_replications() -> None:
    # 60 replications of a 2-group Poisson model (n = 500): the mean reported
    # standard error of each coefficient is within 20% of the standard deviation
    # of its estimates, and the 95% intervals cover the truth in >= 88% of them.
    coefs = np.array([[-1.5, 0.1, 0.0], [0.5, 0.4, -0.05]])
    shares = np.array([0.6, 0.4])
    est, ses = [], []
    for rep in range(60):
        long, _ = simulate("poisson", 500, seed=300 + rep, shares=shares, coefs=coefs)
        y = long["y"].to_numpy().reshape(500, len(T8))
        fit = fit_gbtm(Panel(y, T8), 2, 2, starts=4, seed=rep, family="poisson")
        est.append(np.concatenate([fit.raw_coefficients(j) for j in range(2)]))
        se = [fit.raw_standard_errors(j) for j in range(2)]
        assert all(s is not None for s in se)
        ses.append(np.concatenate(se))  # type: ignore[arg-type]
    e, s = np.array(est), np.array(ses)
    ratio = s.mean(axis=0) / e.std(axis=0, ddof=1)
    assert np.all((ratio > 0.8) & (ratio < 1.2)), ratio
    cover = (np.abs(e - coefs.ravel()) < 1.96 * s).mean(axis=0)
    assert np.all(cover >= 0.88), cover


# --- logit: any conviction in the year ------------------------------------------


@pytest.mark.slow
def test_logit_recovers_two_groups() -> None:
    long, truth = simulate("logit", 2000, seed=7, shares=LOGIT_SHARES, coefs=LOGIT_COEFS)
    result = fit_trajectories(
        long, "person", "t", "y", groups=[1, 2, 3], degree=2, family="logit", seed=1
    )
    scores = result.bic
    assert result.chosen == 2 and scores[2] < scores[1] and scores[2] < scores[3]
    realised = np.bincount(truth, minlength=2) / len(truth)
    got = np.array([g.proportion for g in result.groups])
    assert np.abs(got - LOGIT_SHARES).max() < 0.02, got
    assert np.abs(got - realised).max() < 0.02, (got, realised)
    assert correct_share(result, truth) >= 0.90
    # Six coefficients at once, each at z = 3 (99.7%), so that all hold together
    # with about 98% probability; and the probabilities within 0.03 at every wave.
    for g, true in zip(result.groups, LOGIT_COEFS, strict=True):
        est = np.array(g.coefficients)
        assert g.standard_errors is not None
        assert np.all(np.abs(est - true) < 3 * np.array(g.standard_errors)), (est, true)
        prob = expit(np.vander(T8, 3, increasing=True) @ true)
        assert np.abs(np.array(g.fitted) - prob).max() < 0.03
        assert all(0 < p < 1 for p in g.fitted or [])
    doc = result.to_dict()
    assert doc["family"] == "logit" and doc["fitted_scale"] == "probability"
    assert doc["coefficients_scale"] == "log-odds"


# --- the disclosure contract ----------------------------------------------------


def test_outputs_for_the_disclosure_engine_are_as_for_the_normal_family() -> None:
    # Two large groups and one of a few persons: the small group is flagged.
    coefs = np.array([[-2.5, 0.0, 0.0], [0.0, 0.0, 0.0], [2.5, 0.0, 0.0]])
    long, truth = simulate(
        "poisson", 400, seed=4, shares=np.array([0.5, 0.485, 0.015]), coefs=coefs, missing=0
    )
    result = fit_trajectories(long, "person", "t", "y", groups=[3], family="poisson")
    assert sorted(g.assigned for g in result.groups)[0] == np.bincount(truth)[2] < 10
    analysis = result.analysis_result()
    outputs = analysis.outputs()
    assert set(analysis.tables) == {"trajectory_groups", "trajectory_bic"}
    assert isinstance(outputs["trajectory_groups"], GroupSummary)
    assert isinstance(outputs["trajectory_bic"], FrequencyTable)
    assert isinstance(outputs["trajectory_plot"], GroupSummary)
    assert "sigma" not in analysis.table("trajectory_groups").columns
    verdicts = analysis.check(PRESETS["ons-srs"])["trajectory_groups"].verdicts
    small = [v for v in verdicts if v.value < 10]
    assert small and all(v.status != "pass" for v in small)
    assert analysis.figures["trajectory_plot"].png.startswith(b"\x89PNG")


# --- bad input ------------------------------------------------------------------


def small_long(values: list[float]) -> pd.DataFrame:
    n = len(values) // 4
    return pd.DataFrame(
        {"person": np.repeat(np.arange(n), 4), "year": np.tile([1.0, 2, 3, 4], n), "y": values}
    )


@pytest.mark.parametrize(
    ("family", "bad", "says"),
    [
        ("poisson", -1.0, ["poisson family", "'y'", "a count", "person 2 at year 3 has -1"]),
        ("poisson", 2.5, ["poisson family", "a count", "person 2 at year 3 has 2.5"]),
        ("logit", 2.0, ["logit family", "0 or 1", "person 2 at year 3 has 2"]),
        ("logit", 0.5, ["logit family", "0 or 1", "has 0.5"]),
    ],
)
def test_values_the_family_cannot_have_are_refused(
    family: str, bad: float, says: list[str]
) -> None:
    values = [0.0, 1.0, 0.0, 1.0] * 5
    values[10] = bad  # person 2, year 3
    values[13] = bad  # and one more
    with pytest.raises(FivesafesError) as err:
        fit_trajectories(small_long(values), "person", "year", "y", groups=[1], family=family)  # type: ignore[arg-type]
    for phrase in [*says, "and 1 more such row"]:
        assert phrase in str(err.value), (phrase, str(err.value))
    # the same check on a panel, for fit_gbtm called directly
    y = np.array(values).reshape(5, 4)
    with pytest.raises(FivesafesError, match=f"{family} family needs .*got {bad:g}"):
        fit_gbtm(Panel(y, np.arange(4.0)), 1, 1, family=family)  # type: ignore[arg-type]


def test_missing_waves_are_not_bad_values() -> None:
    values = [0.0, 1.0, np.nan, 3.0] * 10
    result = fit_trajectories(small_long(values), "person", "year", "y", groups=[1], degree=1,
                              family="poisson")  # fmt: skip
    assert result.observations == 30


def test_group_sigma_and_unknown_family_are_refused() -> None:
    long = small_long([0.0, 1.0, 0.0, 1.0] * 5)
    with pytest.raises(FivesafesError, match=r"group_sigma .* normal family only"):
        fit_trajectories(long, "person", "year", "y", groups=[1], group_sigma=True,
                         family="poisson")  # fmt: skip
    y = long["y"].to_numpy().reshape(5, 4)
    with pytest.raises(FivesafesError, match=r"group_sigma .* normal family only"):
        fit_gbtm(Panel(y, np.arange(4.0)), 1, 1, group_sigma=True, family="logit")
    with pytest.raises(FivesafesError, match="normal, poisson, logit, not 'gamma'"):
        fit_trajectories(long, "person", "year", "y", groups=[1], family="gamma")  # type: ignore[arg-type]


def test_csv_with_a_non_count_names_file_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "offences.csv"
    path.write_text("person,year,offences\nA,1,0\nA,2,1.5\nB,1,-2\nB,2,3\n")
    with pytest.raises(InputError) as err:
        read_long_csv(path, "person", "year", "offences", family="poisson")
    text = str(err.value)
    for phrase in ["offences.csv, row 2 (line 3), field 'offences'", "not a count",
                   "poisson family", "'1.5'", "1 more problem", "Nothing was fitted"]:  # fmt: skip
        assert phrase in text, (phrase, text)
    assert read_long_csv(path, "person", "year", "offences")["offences"].tolist() == [
        0,
        1.5,
        -2,
        3,
    ]  # the normal family takes any number


# --- the command line -----------------------------------------------------------

ENV = {k: v for k, v in os.environ.items() if not k.startswith("FIVESAFES_")} | {"COLUMNS": "120"}


@pytest.mark.slow
def test_cli_family_poisson_json(tmp_path: Path) -> None:
    """``--family poisson --json`` on a small CSV of offences per year: two groups
    (true: 70% at 0.2 a year, 30% rising from 1 to about 4.5), years 2015-2020."""
    rng = np.random.default_rng(8)
    n, years = 300, np.arange(2015, 2021)
    high = rng.random(n) < 0.3
    t = years - 2015
    rate = np.where(high[:, None], np.exp(0.0 + 0.3 * t), 0.2 + 0 * t)
    df = pd.DataFrame(
        {
            "person": np.repeat([f"J{i:04d}" for i in range(n)], len(years)),
            "year": np.tile(years, n),
            "offences": rng.poisson(rate).ravel().astype(object),
        }
    )
    df.loc[rng.random(len(df)) < 0.1, "offences"] = ""
    df.to_csv(tmp_path / "offences.csv", index=False)
    out = tmp_path / "groups.csv"
    args = ["offences.csv", "--id", "person", "--time", "year", "--value", "offences",
            "--groups", "1-3", "--degree", "1", "--family", "poisson",
            "--out", str(out), "--json"]  # fmt: skip
    r = subprocess.run(
        [sys.executable, "-m", "fivesafes.cli.main", "analyse", "trajectories", *args],
        capture_output=True, text=True, timeout=120, env=ENV, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["family"] == "poisson" and doc["fitted_scale"] == "expected count"
    assert doc["chosen_groups"] == 2 and set(doc["bic"]) == {"1", "2", "3"}
    low, rising = doc["groups"]
    assert [low["group"], rising["group"]] == [1, 2]
    assert rising["proportion"] == pytest.approx(0.3, abs=0.06)
    for g in doc["groups"]:
        assert {"proportion", "avg_posterior", "occ", "coefficients", "fitted"} <= set(g)
        assert len(g["coefficients"]) == 2 and g["sigma"] is None
        assert len(g["fitted"]) == len(years)
    # coefficients of the log expected count on calendar years; fitted = expected counts
    at = np.polynomial.polynomial.polyval
    assert np.exp(at(2015, rising["coefficients"])) == pytest.approx(1.0, rel=0.25)
    assert np.exp(at(2020, rising["coefficients"])) == pytest.approx(np.exp(1.5), rel=0.2)
    assert rising["fitted"][-1] == pytest.approx(np.exp(at(2020, rising["coefficients"])))
    assert low["fitted"] == pytest.approx([0.2] * len(years), abs=0.08)
    assign = pd.read_csv(out)
    assert list(assign.columns) == ["id", "group", "posterior_1", "posterior_2"]
    truth = pd.Series(np.where(high, 2, 1), index=[f"J{i:04d}" for i in range(n)])
    assert (assign["group"].to_numpy() == truth.loc[assign["id"]].to_numpy()).mean() > 0.9

    bad = subprocess.run(
        [sys.executable, "-m", "fivesafes.cli.main", "analyse", "trajectories", *args[:7],
         "--family", "gamma"],
        capture_output=True, text=True, timeout=120, env=ENV, cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--family must be normal, poisson or logit, not 'gamma'" in bad.stderr
