"""Trajectory models of censored scores (cnorm) and of counts with structural
zeros (zip), Nagin's two other standard families.

- cnorm: given the group, a latent ``y* = x(t)' beta_k + e``, ``e ~ N(0, sigma^2)``,
  observed as ``clip(y*, lower, upper)`` — a Tobit model per group.
- zip: given the group, ``y = 0`` with probability ``omega_k`` (a structural zero),
  else ``Poisson(exp(x(t)' beta_k))`` (Roeder, Lynch & Nagin 1999).

Outside references at one group, where the trajectory model *is* the single-level
model on the observed person-waves:

- cnorm: statsmodels has no Tobit model, so the test writes the Tobit
  log-likelihood itself (``-log sigma + log phi(z)`` inside, ``log Phi`` at a
  bound), maximises it with ``scipy.optimize.minimize`` (BFGS, then Newton steps
  on numerical derivatives) and takes standard errors from the inverse of its
  numerical Hessian (``statsmodels.tools.numdiff.approx_hess``).
- zip: ``statsmodels.discrete.count_model.ZeroInflatedPoisson`` with a column of
  ones as ``exog_infl`` (its inflation parameter is logit omega). Its standard
  errors are compared with the inverse of the numerical Hessian of statsmodels'
  own ``loglike`` at its estimate: the ``bse`` that statsmodels 0.15 reports comes
  from its analytic ``hessian``, which here differs from the numerical Hessian of
  its own log-likelihood and of its own score (which agree with each other and
  with ours to 1e-6) by up to 11%.

With several groups the fits are checked against simulations with known groups.
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
from scipy.optimize import approx_fprime, minimize
from scipy.special import log_ndtr
from statsmodels.discrete.count_model import ZeroInflatedPoisson
from statsmodels.tools import numdiff

from fivesafes.analysis.gbtm import (
    Panel,
    censored_mean,
    fit_gbtm,
    log_likelihood_and_score,
    pack,
    theta_index,
)
from fivesafes.analysis.trajectories import TrajectoryResult, fit_trajectories, read_long_csv
from fivesafes.errors import FivesafesError, InputError
from fivesafes.outputs import FrequencyTable, GroupSummary

T6 = np.arange(6.0)
T8 = np.arange(8.0)

# Test scores on a 0-100 scale, sigma 10, linear in t = 0..5: a low group sinking
# to the floor, a middle group and a high group rising to the ceiling.
CN_SHARES = np.array([0.30, 0.45, 0.25])
CN_COEFS = np.array([[10.0, -2.5], [45.0, 3.0], [80.0, 4.0]])
CN_SIGMA = 10.0

# Offences per year, t = 0..7: low rate, adolescent-limited with 40% structural
# zeros (years with no chance of offending, e.g. in custody or abroad), chronic.
Z_SHARES = np.array([0.60, 0.25, 0.15])
Z_COEFS = np.array([[-1.5, 0.05, 0.0], [0.0, 0.6, -0.09], [1.2, 0.05, 0.0]])
Z_OMEGA = np.array([0.10, 0.40, 0.10])


def long_table(y: np.ndarray, times: np.ndarray) -> pd.DataFrame:
    n = len(y)
    return pd.DataFrame(
        {"person": np.repeat(np.arange(n), len(times)), "t": np.tile(times, n), "y": y.ravel()}
    )


def simulate_cnorm(
    n: int, seed: int, missing: float = 0.1
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Long table, true groups, and the latent (uncensored) scores."""
    rng = np.random.default_rng(seed)
    group = rng.choice(3, n, p=CN_SHARES)
    mu = (np.vander(T6, 2, increasing=True) @ CN_COEFS.T).T[group]
    latent = mu + rng.normal(0, CN_SIGMA, mu.shape)
    y = np.clip(latent, 0.0, 100.0)
    y[rng.random(y.shape) < missing] = np.nan
    return long_table(y, T6), group, latent


def simulate_zip(n: int, seed: int, missing: float = 0.1) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    group = rng.choice(3, n, p=Z_SHARES)
    lam = np.exp((np.vander(T8, 3, increasing=True) @ Z_COEFS.T).T[group])
    y = rng.poisson(lam).astype(float)
    y[rng.random(y.shape) < Z_OMEGA[group][:, None]] = 0.0
    y[rng.random(y.shape) < missing] = np.nan
    return long_table(y, T8), group


def correct_share(result: TrajectoryResult, truth: np.ndarray) -> float:
    a = result.assignments()
    return float((a["group"].to_numpy() - 1 == truth[a["id"].to_numpy()]).mean())


def newton_polish(f: object, x: np.ndarray, steps: int = 3) -> np.ndarray:
    """A few Newton steps on numerical derivatives (to reach the maximum closely)."""
    for _ in range(steps):
        g = numdiff.approx_fprime(x, f, centered=True)
        h = numdiff.approx_hess(x, f)
        x = x - np.linalg.solve(h, g)
    return x


# --- one group: Tobit and statsmodels' ZIP ----------------------------------------


def tobit_data(bounds: tuple[float | None, float | None]) -> np.ndarray:
    rng = np.random.default_rng(41)
    latent = 40 + 8 * T6 - 0.5 * T6**2 + rng.normal(0, 10, (1500, 6))
    lo, hi = bounds
    y = np.clip(latent, -np.inf if lo is None else lo, np.inf if hi is None else hi)
    y[rng.random(y.shape) < 0.15] = np.nan
    return y


@pytest.mark.parametrize("bounds", [(35.0, 75.0), (35.0, None), (None, 75.0)])
def test_one_group_cnorm_is_a_tobit_model(bounds: tuple[float | None, float | None]) -> None:
    """Against an independent Tobit likelihood maximised by scipy (see the module
    docstring): coefficients, sigma to 1e-4, log-likelihood to 1e-8, standard
    errors (coefficients and log sigma) to 1e-3, all relative."""
    y = tobit_data(bounds)
    lo, hi = bounds
    obs = ~np.isnan(y)
    yy = y[obs]
    x = np.vander(np.broadcast_to(T6, y.shape)[obs], 3, increasing=True)
    at_lo = np.zeros(len(yy), bool) if lo is None else yy <= lo
    at_hi = np.zeros(len(yy), bool) if hi is None else yy >= hi
    assert 0.04 < (at_lo | at_hi).mean() < 0.2  # a real share is censored

    def tobit(p: np.ndarray) -> float:
        b, log_s = p[:3], p[3]
        s = np.exp(log_s)
        mu = x @ b
        inside = -0.5 * np.log(2 * np.pi) - log_s - 0.5 * ((yy - mu) / s) ** 2
        ll = np.where(at_lo, log_ndtr(((lo or 0.0) - mu) / s), inside)
        ll = np.where(at_hi, log_ndtr((mu - (hi or 0.0)) / s), ll)
        return float(ll.sum())

    ref = minimize(lambda p: -tobit(p), np.array([40.0, 5.0, 0.0, 2.0]), method="BFGS")
    p = newton_polish(tobit, ref.x)
    se_ref = np.sqrt(np.diag(np.linalg.inv(-numdiff.approx_hess(p, tobit))))

    fit = fit_gbtm(Panel(y, T6), 1, 2, family="cnorm", bounds=bounds)
    assert fit.bounds == bounds and fit.family == "cnorm"
    assert np.abs(fit.raw_coefficients(0) / p[:3] - 1).max() < 1e-4, (fit.raw_coefficients(0), p)
    assert fit.sigma[0] == pytest.approx(np.exp(p[3]), rel=1e-4)
    assert fit.log_likelihood == pytest.approx(tobit(p), rel=1e-8)
    se = fit.raw_standard_errors(0)
    assert se is not None and fit.covariance is not None
    assert np.abs(se / se_ref[:3] - 1).max() < 1e-3, (se, se_ref)
    se_log_sigma = np.sqrt(fit.covariance[theta_index(fit, "sigma"), theta_index(fit, "sigma")])
    assert se_log_sigma[0, 0] == pytest.approx(se_ref[3], rel=1e-3)
    assert fit.parameters == 4  # three coefficients and sigma


def test_default_bounds_are_the_observed_minimum_and_maximum() -> None:
    y = tobit_data((35.0, 75.0))
    fit = fit_gbtm(Panel(y, T6), 1, 2, family="cnorm", standard_errors=False)
    assert fit.bounds == (35.0, 75.0)
    given = fit_gbtm(Panel(y, T6), 1, 2, family="cnorm", bounds=(35, 75), standard_errors=False)
    assert fit.log_likelihood == given.log_likelihood
    result = fit_trajectories(long_table(y, T6), "person", "t", "y", groups=[1], family="cnorm")
    assert result.to_dict()["bounds"] == {"lower": 35.0, "upper": 75.0}
    assert "bounds [35, 75] (by default the observed minimum and maximum)" in result.notes[0]


def test_one_group_zip_is_statsmodels_zero_inflated_poisson() -> None:
    """statsmodels ZeroInflatedPoisson with a constant inflation model: count
    coefficients and logit omega to 1e-4, log-likelihood to 1e-8, standard errors
    to 1e-3 against the inverse numerical Hessian of statsmodels' loglike."""
    rng = np.random.default_rng(43)
    lam = np.exp(0.3 + 0.2 * T6 - 0.03 * T6**2)
    y = rng.poisson(lam, (1500, 6)).astype(float)
    y[rng.random(y.shape) < 0.3] = 0.0
    y[rng.random(y.shape) < 0.1] = np.nan
    obs = ~np.isnan(y)
    x = np.vander(np.broadcast_to(T6, y.shape)[obs], 3, increasing=True)
    model = ZeroInflatedPoisson(y[obs], x, exog_infl=np.ones((obs.sum(), 1)))
    ref = model.fit(method="bfgs", maxiter=2000, gtol=1e-8, disp=0)
    assert ref.mle_retvals["converged"]
    assert np.abs(model.score(ref.params)).max() < 1e-3
    se_ref = np.sqrt(np.diag(np.linalg.inv(-numdiff.approx_hess(ref.params, model.loglike))))

    fit = fit_gbtm(Panel(y, T6), 1, 2, family="zip")
    g = theta_index(fit, "omega")
    assert np.abs(fit.raw_coefficients(0) / ref.params[1:] - 1).max() < 1e-4
    assert fit.omega_logit[0] == pytest.approx(ref.params[0], rel=1e-4)
    assert fit.log_likelihood == pytest.approx(ref.llf, rel=1e-8)
    se = fit.raw_standard_errors(0)
    assert se is not None and fit.covariance is not None
    assert np.abs(se / se_ref[1:] - 1).max() < 1e-3, (se, se_ref)
    assert np.sqrt(fit.covariance[g, g][0, 0]) == pytest.approx(se_ref[0], rel=1e-3)
    assert fit.parameters == 4  # three coefficients and omega
    # the fitted trajectory is the expected count (1 - omega) lambda
    expected = ref.predict(np.vander(T6, 3, increasing=True), exog_infl=np.ones((6, 1)))
    assert fit.means(T6)[:, 0] == pytest.approx(expected, rel=1e-5)


def test_censored_mean_is_the_mean_of_clipped_draws() -> None:
    rng = np.random.default_rng(3)
    draws = rng.normal(0, 1, 400_000)
    for mu, bounds in [(5.0, (0.0, 10.0)), (1.0, (0.0, None)), (9.0, (None, 10.0))]:
        lo, hi = bounds
        clipped = np.clip(
            mu + 3 * draws, -np.inf if lo is None else lo, np.inf if hi is None else hi
        )
        got = censored_mean(np.array([[mu]]), np.array([3.0]), bounds)[0, 0]
        assert got == pytest.approx(clipped.mean(), abs=0.02)


# --- cnorm without censored values is the normal model ---------------------------


@pytest.mark.parametrize("group_sigma", [False, True])
def test_cnorm_with_nothing_at_a_bound_is_the_normal_fit(group_sigma: bool) -> None:
    rng = np.random.default_rng(9)
    high = rng.random(800) < 0.4
    y = 40 + 3 * T6[None, :] + 20 * high[:, None] + rng.normal(0, 6, (800, 6))
    y[rng.random(y.shape) < 0.1] = np.nan
    panel = Panel(y, T6)
    normal = fit_gbtm(panel, 2, 1, group_sigma=group_sigma)
    for bounds in [(np.nanmin(y) - 1, np.nanmax(y) + 1), (None, None)]:
        cnorm = fit_gbtm(panel, 2, 1, group_sigma=group_sigma, family="cnorm", bounds=bounds)
        assert cnorm.log_likelihood == pytest.approx(normal.log_likelihood, rel=1e-9)
        assert cnorm.sigma == pytest.approx(normal.sigma, rel=1e-6)
        for j in range(2):
            assert cnorm.raw_coefficients(j) == pytest.approx(normal.raw_coefficients(j), rel=1e-6)
            assert cnorm.raw_standard_errors(j) == pytest.approx(
                normal.raw_standard_errors(j), rel=1e-5
            )
        assert np.abs(cnorm.posteriors - normal.posteriors).max() < 1e-6


@pytest.mark.parametrize("family", ["cnorm", "zip"])
def test_score_is_the_gradient_of_the_log_likelihood(family: str) -> None:
    if family == "cnorm":
        long, _, _ = simulate_cnorm(400, seed=5)
        y, times, degree = long["y"].to_numpy().reshape(400, 6), T6, 1
    else:
        long, _ = simulate_zip(400, seed=5)
        y, times, degree = long["y"].to_numpy().reshape(400, 8), T8, 2
    panel = Panel(y, times)
    fit = fit_gbtm(panel, 3, degree, family=family, bounds=(0, 100) if family == "cnorm" else None)  # type: ignore[arg-type]
    theta = pack(fit) + np.random.default_rng(2).normal(0, 0.02, len(pack(fit)))
    ll, score = log_likelihood_and_score(panel, fit, theta)
    numeric = approx_fprime(theta, lambda th: log_likelihood_and_score(panel, fit, th)[0], 1e-6)
    assert np.allclose(score, numeric, rtol=1e-3, atol=1e-3 * np.abs(numeric).max())
    assert ll < fit.log_likelihood + 1e-6
    _, at_fit = log_likelihood_and_score(panel, fit, pack(fit))
    assert fit.covariance is not None
    assert np.sqrt(at_fit @ fit.covariance @ at_fit) < 0.01


# --- cnorm: three attainment trajectories with a floor and a ceiling -------------


@pytest.fixture(scope="module")
def scores() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    return simulate_cnorm(3000, seed=11)


@pytest.mark.slow
def test_cnorm_recovers_the_truth_and_the_normal_family_is_biased(
    scores: tuple[pd.DataFrame, np.ndarray, np.ndarray],
) -> None:
    long, truth, _ = scores
    y = long["y"].dropna().to_numpy()
    at_bound = np.mean((y == 0) | (y == 100))
    assert at_bound >= 0.10  # 15.8% of the observed scores are at 0 or 100
    result = fit_trajectories(long, "person", "t", "y", groups=[2, 3, 4], degree=1,
                              family="cnorm", bounds=(0, 100), seed=1)  # fmt: skip
    assert result.chosen == 3 and result.family == "cnorm"
    realised = np.bincount(truth, minlength=3) / len(truth)
    got = np.array([g.proportion for g in result.groups])
    assert np.abs(got - CN_SHARES).max() < 0.02, got
    assert np.abs(got - realised).max() < 0.02, (got, realised)
    assert correct_share(result, truth) >= 0.90
    model = result.model
    assert model.parameters == 3 * 2 + 1 + 2
    # every true coefficient inside its 95% interval (fixed seed)
    for g, true in zip(result.groups, CN_COEFS, strict=True):
        assert g.standard_errors is not None
        est, se = np.array(g.coefficients), np.array(g.standard_errors)
        assert np.all(np.abs(est - true) < 1.96 * se), (g.group, est, true, se)
        assert g.sigma == model.sigma[0]
    assert model.covariance is not None
    i = theta_index(model, "sigma")
    se_sigma = model.sigma[0] * np.sqrt(model.covariance[i, i][0, 0])
    assert abs(model.sigma[0] - CN_SIGMA) < 1.96 * se_sigma

    # The plain normal family on the same data: the groups are found, but the
    # slopes of the groups at the floor and at the ceiling are pulled towards 0.
    normal = fit_trajectories(long, "person", "t", "y", groups=[3], degree=1, seed=1)
    for j in (0, 2):  # the low (floor) and the high (ceiling) group
        slope_n = normal.groups[j].coefficients[1]
        slope_c = result.groups[j].coefficients[1]
        se_n = (normal.groups[j].standard_errors or [0, 0])[1]
        true = CN_COEFS[j, 1]
        assert abs(slope_n) < 0.85 * abs(true)  # attenuated by 15% or more
        assert abs(slope_n - true) > 5 * se_n  # far outside its own interval
        assert abs(slope_c - true) < 0.3 * abs(slope_n - true)
    assert normal.model.sigma[0] < 0.9 * CN_SIGMA  # and sigma is too small

    # fitted: the expected observed score E[clip(y*)], close to the observed means
    # of the modal groups; the coefficients are of the latent mean
    fitted = result.fitted_frame()
    assert list(fitted.columns) == ["group", "time", "expected_observed_value"]
    wide = long["y"].to_numpy().reshape(3000, 6)
    modal = model.posteriors.argmax(axis=1)
    for g in result.groups:
        observed = np.nanmean(wide[modal == g.group - 1], axis=0)
        assert np.abs(np.array(g.fitted) - observed).max() < 1.5
        latent = np.polynomial.polynomial.polyval(T6, g.coefficients)
        curve = np.array(g.fitted)
        expected = censored_mean(latent[:, None], model.sigma, (0.0, 100.0))[:, 0]
        assert curve == pytest.approx(expected, rel=1e-12)
        assert np.all((curve > 0) & (curve < 100))
    # the floor lifts the observed mean of the low group above its latent mean,
    # the ceiling holds the high group's below
    low, high = result.groups[0], result.groups[2]
    assert np.all(np.array(low.fitted) > np.polynomial.polynomial.polyval(T6, low.coefficients))
    assert np.all(np.array(high.fitted) < np.polynomial.polynomial.polyval(T6, high.coefficients))
    doc = result.to_dict()
    assert doc["bounds"] == {"lower": 0.0, "upper": 100.0}
    assert doc["fitted_scale"] == "expected observed value"
    assert doc["coefficients_scale"].startswith("latent mean")
    shares = f"{100 * np.mean(y == 0):.1f}% of values at the lower bound, " + (
        f"{100 * np.mean(y == 100):.1f}% at the upper"
    )
    assert f"censored normal with bounds [0, 100]: {shares}" in doc["notes"]
    table = result.analysis_result().table("trajectory_groups")
    assert "sigma" in table.columns and "omega" not in table.columns


# --- zip: offending with structural zeros ---------------------------------------


@pytest.fixture(scope="module")
def offences() -> tuple[pd.DataFrame, np.ndarray]:
    return simulate_zip(3000, seed=21)


@pytest.mark.slow
def test_zip_recovers_the_truth_and_bic_prefers_it_to_poisson(
    offences: tuple[pd.DataFrame, np.ndarray],
) -> None:
    long, truth = offences
    result = fit_trajectories(long, "person", "t", "y", groups=[3], degree=2, family="zip",
                              seed=1)  # fmt: skip
    realised = np.bincount(truth, minlength=3) / len(truth)
    got = np.array([g.proportion for g in result.groups])
    assert np.abs(got - Z_SHARES).max() < 0.02, got
    assert np.abs(got - realised).max() < 0.02, (got, realised)
    assert correct_share(result, truth) >= 0.90
    model = result.model
    assert model.parameters == 3 * 3 + 3 + 2  # coefficients, omegas, shares
    assert model.covariance is not None
    i = theta_index(model, "omega")
    se_logit = np.sqrt(np.diag(model.covariance)[i])
    for j, g in enumerate(result.groups):
        assert g.standard_errors is not None and g.omega is not None and g.sigma is None
        est, se = np.array(g.coefficients), np.array(g.standard_errors)
        assert np.all(np.abs(est - Z_COEFS[j]) < 1.96 * se), (g.group, est, se)
        assert (
            abs(model.omega_logit[j] - np.log(Z_OMEGA[j] / (1 - Z_OMEGA[j]))) < 1.96 * se_logit[j]
        )
        # the fitted trajectory is the expected count (1 - omega) lambda
        lam = np.exp(np.vander(T8, 3, increasing=True) @ est)
        assert np.array(g.fitted) == pytest.approx((1 - g.omega) * lam, rel=1e-9)
    assert result.groups[1].omega == pytest.approx(0.4, abs=0.05)

    poisson = fit_trajectories(long, "person", "t", "y", groups=[3], degree=2,
                               family="poisson", seed=1)  # fmt: skip
    assert result.bic[3] < poisson.bic[3] - 100  # BIC prefers zip at the same k
    doc = result.to_dict()
    assert doc["family"] == "zip" and doc["fitted_scale"] == "expected count"
    assert [set(g) >= {"omega", "fitted", "sigma"} for g in doc["groups"]] == [True] * 3
    analysis = result.analysis_result()
    table = analysis.table("trajectory_groups")
    assert "omega" in table.columns and "sigma" not in table.columns
    assert isinstance(analysis.outputs()["trajectory_groups"], GroupSummary)
    assert isinstance(analysis.outputs()["trajectory_bic"], FrequencyTable)


# --- bad input ------------------------------------------------------------------


def small_long(values: list[float]) -> pd.DataFrame:
    n = len(values) // 4
    return pd.DataFrame(
        {"person": np.repeat(np.arange(n), 4), "year": np.tile([1.0, 2, 3, 4], n), "y": values}
    )


def test_values_outside_the_bounds_are_refused() -> None:
    values = [50.0, 60.0, 70.0, 80.0] * 5
    values[10] = 105.0  # person 2, year 3
    values[13] = -1.0
    long = small_long(values)
    with pytest.raises(FivesafesError) as err:
        fit_trajectories(long, "person", "year", "y", groups=[1], family="cnorm", bounds=(0, 100))
    for phrase in ["cnorm family", "within the bounds [0, 100]", "person 2 at year 3 has 105",
                   "and 1 more such row"]:  # fmt: skip
        assert phrase in str(err.value), (phrase, str(err.value))
    y = np.array(values).reshape(5, 4)
    with pytest.raises(
        FivesafesError, match=r"within its bounds \[0, 100\]: got 105 \(person 3, time 2"
    ):
        fit_gbtm(Panel(y, np.arange(4.0)), 1, 1, family="cnorm", bounds=(0, 100))
    with pytest.raises(FivesafesError, match=r"within its bounds \(-inf, 100\]"):
        fit_gbtm(Panel(y, np.arange(4.0)), 1, 1, family="cnorm", bounds=(None, 100))
    with pytest.raises(FivesafesError, match=r"lower bound \(100\) must be below the upper"):
        fit_gbtm(Panel(y, np.arange(4.0)), 1, 1, family="cnorm", bounds=(100, 0))


def test_negative_counts_and_misplaced_options_are_refused(tmp_path: Path) -> None:
    values = [0.0, 1.0, 0.0, 2.0] * 5
    values[10] = -1.0
    with pytest.raises(FivesafesError, match=r"zip family needs 'y' to be a count .* has -1"):
        fit_trajectories(small_long(values), "person", "year", "y", groups=[1], family="zip")
    with pytest.raises(FivesafesError, match=r"zip family needs counts .*got -1"):
        fit_gbtm(Panel(np.array(values).reshape(5, 4), np.arange(4.0)), 1, 1, family="zip")
    good = small_long([0.0, 1.0, 0.0, 2.0] * 5)
    with pytest.raises(FivesafesError, match=r"bounds .* cnorm family only, not normal"):
        fit_trajectories(good, "person", "year", "y", groups=[1], bounds=(0, 10))
    with pytest.raises(FivesafesError, match=r"group_sigma .* zip family has no sigma"):
        fit_trajectories(good, "person", "year", "y", groups=[1], group_sigma=True, family="zip")
    path = tmp_path / "scores.csv"
    path.write_text("pupil,year,score\nA,1,30\nA,2,101\nB,1,-3\n")
    with pytest.raises(InputError) as err:
        read_long_csv(path, "pupil", "year", "score", family="cnorm", bounds=(0.0, 100.0))
    for phrase in ["row 2 (line 3), field 'score'", "within the bounds [0, 100]", "'101'",
                   "1 more problem"]:  # fmt: skip
        assert phrase in str(err.value), (phrase, str(err.value))


# --- the command line -----------------------------------------------------------

ENV = {k: v for k, v in os.environ.items() if not k.startswith("FIVESAFES_")} | {"COLUMNS": "120"}


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fivesafes.cli.main", "analyse", "trajectories", *map(str, args)],
        capture_output=True, text=True, timeout=120, env=ENV, cwd=cwd,
    )  # fmt: skip


@pytest.mark.slow
def test_cli_family_cnorm_json(tmp_path: Path) -> None:
    """Two groups of scores on 0-100 (true: 35% starting at 15 and falling 4 a
    year, many at 0; 65% at 70 rising 5 a year, many at 100), years 2015-2020."""
    rng = np.random.default_rng(12)
    n, years = 400, np.arange(2015, 2021)
    low = rng.random(n) < 0.35
    t = years - 2015
    latent = np.where(low[:, None], 15 - 4.0 * t, 70 + 5.0 * t) + rng.normal(0, 8, (n, 6))
    score = np.clip(latent, 0, 100).round(1)
    df = pd.DataFrame({"pupil": np.repeat([f"P{i:04d}" for i in range(n)], 6),
                       "year": np.tile(years, n), "score": score.ravel()})  # fmt: skip
    df.to_csv(tmp_path / "scores.csv", index=False)
    base = ["scores.csv", "--id", "pupil", "--time", "year", "--value", "score"]
    r = run(*base, "--groups", "1-3", "--degree", "1", "--family", "cnorm", "--lower", "0",
            "--upper", "100", "--json", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["family"] == "cnorm" and doc["bounds"] == {"lower": 0.0, "upper": 100.0}
    assert doc["chosen_groups"] == 2
    falling, rising = doc["groups"]
    assert falling["proportion"] == pytest.approx(0.35, abs=0.06)
    at = np.polynomial.polynomial.polyval
    # the latent slope, not pulled towards 0 by the floor and the ceiling
    assert at(2020, falling["coefficients"]) - at(2015, falling["coefficients"]) == pytest.approx(
        -20, abs=2.5
    )
    assert at(2020, rising["coefficients"]) - at(2015, rising["coefficients"]) == pytest.approx(
        25, abs=2.5
    )
    assert rising["sigma"] == pytest.approx(8, abs=0.8) and "omega" not in rising
    assert min(falling["fitted"]) > 0 and max(rising["fitted"]) < 100  # expected observed

    # --upper none: one-sided; the scores at 100 are then ordinary values
    one = run(*base, "--groups", "2", "--degree", "1", "--family", "cnorm", "--upper", "none",
              "--json", cwd=tmp_path)  # fmt: skip
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["bounds"] == {"lower": 0.0, "upper": None}

    for bad, says in [
        (["--family", "normal", "--lower", "0"], "--lower and --upper are for --family cnorm"),
        (["--family", "cnorm", "--upper", "90"], "within the bounds (-inf, 90]"),
        (["--family", "cnorm", "--lower", "zero"], "--lower must be a number or none"),
    ]:
        r = run(*base, *bad, cwd=tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], r.stderr


@pytest.mark.slow
def test_cli_family_zip_json(tmp_path: Path) -> None:
    """Two groups of offences per year: 60% at 0.1 a year; 40% at 2 a year with
    half of their years structural zeros."""
    rng = np.random.default_rng(13)
    n, years = 400, np.arange(2015, 2021)
    high = rng.random(n) < 0.4
    counts = rng.poisson(np.where(high[:, None], 2.0, 0.1), (n, 6))
    counts[high[:, None] & (rng.random((n, 6)) < 0.5)] = 0
    df = pd.DataFrame({"person": np.repeat(np.arange(n), 6), "year": np.tile(years, n),
                       "offences": counts.ravel()})  # fmt: skip
    df.to_csv(tmp_path / "offences.csv", index=False)
    args = ["offences.csv", "--id", "person", "--time", "year", "--value", "offences",
            "--groups", "2", "--degree", "0", "--family", "zip"]  # fmt: skip
    r = run(*args, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["family"] == "zip" and "bounds" not in doc
    low, active = doc["groups"]
    assert active["proportion"] == pytest.approx(0.4, abs=0.06)
    assert active["omega"] == pytest.approx(0.5, abs=0.1)
    assert np.exp(active["coefficients"][0]) == pytest.approx(2.0, rel=0.15)
    assert active["fitted"][0] == pytest.approx(
        (1 - active["omega"]) * np.exp(active["coefficients"][0])
    )
    assert low["sigma"] is None and doc["parameters"]["2"] == 2 + 2 + 1
    text = run(*args, cwd=tmp_path)
    assert text.returncode == 0 and "zero-inflation" in text.stdout
