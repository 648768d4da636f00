"""Group-based trajectory models (fivesafes.analysis.trajectories / gbtm).

Validated against simulations with known parameters (the data-generating model
is Nagin's: a finite mixture of polynomial trajectories with normal errors,
Nagin 2005, *Group-based modeling of development*, ch. 2-5): the fit recovers the
groups, their shares and coefficients, BIC picks the true number of groups, the
reported standard errors match the spread of estimates over replications, and
AvePP / OCC follow Nagin's definitions (ch. 5, eqs. 5.1-5.2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime

from fivesafes.analysis.gbtm import GBTMFit, Panel, fit_gbtm, log_likelihood_and_score, pack
from fivesafes.analysis.trajectories import bic, fit_trajectories, group_reports
from fivesafes.outputs import PRESETS, GroupSummary

# A simulation with known parameters: four groups, quadratic in t = 0..5, ordered
# by mean level (the order the fit reports groups in).
TIMES = np.arange(6.0)
SHARES = np.array([0.25, 0.15, 0.40, 0.20])
COEFS = np.array(
    [
        [30.0, 0.0, 0.0],  # low, flat
        [38.0, 3.0, -0.2],  # rising
        [50.0, 0.5, 0.0],  # middle
        [62.0, -2.0, 0.1],  # high, falling
    ]
)
SIGMA = 4.0


def simulate(
    n: int,
    seed: int,
    shares: np.ndarray = SHARES,
    coefs: np.ndarray = COEFS,
    sigma: float | np.ndarray = SIGMA,
    missing: float = 0.15,
) -> tuple[pd.DataFrame, np.ndarray]:
    """A long table (person, t, y) with ``missing`` of the waves blank, and each
    person's true group (0-based)."""
    rng = np.random.default_rng(seed)
    group = rng.choice(len(shares), n, p=shares)
    x = np.vander(TIMES, coefs.shape[1], increasing=True)
    mean = (x @ coefs.T).T[group]
    sd = np.broadcast_to(np.asarray(sigma, dtype=float), (len(shares),))[group]
    y = mean + rng.normal(0.0, 1.0, mean.shape) * sd[:, None]
    y[rng.random(y.shape) < missing] = np.nan
    long = pd.DataFrame(
        {
            "person": np.repeat(np.arange(n), len(TIMES)),
            "t": np.tile(TIMES, n),
            "y": y.ravel(),
        }
    )
    return long, group


@pytest.fixture(scope="module")
def four_groups() -> tuple[pd.DataFrame, np.ndarray]:
    return simulate(4000, seed=11)


@pytest.fixture(scope="module")
def fitted(four_groups: tuple[pd.DataFrame, np.ndarray]):  # type: ignore[no-untyped-def]
    long, _ = four_groups
    return fit_trajectories(long, "person", "t", "y", groups=range(1, 6), degree=2, seed=3)


def test_bic_chooses_the_true_number_of_groups(fitted) -> None:  # type: ignore[no-untyped-def]
    # True: 4 groups. BIC = -2 logL + p ln(N persons), smallest best.
    assert fitted.chosen == 4
    scores = fitted.bic
    assert min(scores, key=lambda k: scores[k]) == 4
    for k, f in fitted.fits.items():
        assert scores[k] == pytest.approx(-2 * f.log_likelihood + f.parameters * np.log(4000))
    assert fitted.fits[4].parameters == 4 * 3 + 1 + 3  # coefficients, one sigma, 3 shares


def test_recovers_shares_within_two_points(fitted, four_groups) -> None:  # type: ignore[no-untyped-def]
    _, truth = four_groups
    # True shares 0.25, 0.15, 0.40, 0.20 (and the realised ones in this sample).
    realised = np.bincount(truth, minlength=4) / len(truth)
    got = np.array([g.proportion for g in fitted.groups])
    assert np.abs(got - SHARES).max() < 0.02
    assert np.abs(got - realised).max() < 0.02


def test_recovers_coefficients_within_their_confidence_intervals(fitted) -> None:  # type: ignore[no-untyped-def]
    # True coefficients COEFS (rows: groups; columns: 1, t, t²); sigma 4.0.
    # Twelve intervals at once: each at z = 3 (99.7%), so that all twelve hold
    # with about 97% probability.
    for g, true in zip(fitted.groups, COEFS, strict=True):
        est = np.array(g.coefficients)
        se = np.array(g.standard_errors)
        assert np.all(se > 0)
        assert np.all(np.abs(est - true) < 3 * se), (g.group, est, true, se)
    assert fitted.model.sigma[0] == pytest.approx(SIGMA, abs=0.1)


def test_assigns_at_least_90_percent_to_their_true_group(fitted, four_groups) -> None:  # type: ignore[no-untyped-def]
    _, truth = four_groups
    a = fitted.assignments()
    assert list(a.columns) == ["id", "group", *[f"posterior_{j}" for j in range(1, 5)]]
    assert np.allclose(a.filter(like="posterior_").sum(axis=1), 1.0)
    correct = (a["group"].to_numpy() - 1 == truth[a["id"].to_numpy()]).mean()
    assert correct >= 0.90
    for g in fitted.groups:  # well separated: Nagin's rules of thumb hold
        assert g.avg_posterior is not None and g.avg_posterior > 0.7
        assert g.occ is not None and g.occ > 5


def test_avepp_and_occ_follow_nagins_definitions() -> None:
    # Nagin (2005) ch. 5: AvePP_j = mean posterior of group j among those assigned
    # to j; OCC_j = [AvePP_j / (1 - AvePP_j)] / [pi_j / (1 - pi_j)].
    post = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    fit = GBTMFit(
        k=2,
        degrees=[0, 0],
        betas=[np.array([1.0]), np.array([2.0])],
        sigma=np.array([1.0]),
        log_pi=np.log([0.6, 0.4]),
        log_likelihood=-10.0,
        posteriors=post,
        iterations=1,
        converged=True,
        centre=0.0,
        scale=1.0,
    )
    g1, g2 = group_reports(fit)
    assert (g1.assigned, g2.assigned) == (2, 1)
    assert g1.avg_posterior == pytest.approx(0.85)
    assert g2.avg_posterior == pytest.approx(0.7)
    assert g1.occ == pytest.approx((0.85 / 0.15) / (0.6 / 0.4))
    assert g2.occ == pytest.approx((0.7 / 0.3) / (0.4 / 0.6))
    assert bic(fit, 3) == pytest.approx(20.0 + 4 * np.log(3))  # 2 means, 1 sigma, 1 share


def test_score_is_the_gradient_of_the_log_likelihood() -> None:
    long, _ = simulate(600, seed=5)
    ids = long["person"].unique()
    y = long["y"].to_numpy().reshape(len(ids), len(TIMES))
    panel = Panel(y, TIMES)
    for group_sigma in (False, True):
        fit = fit_gbtm(panel, 3, [1, 2, 2], group_sigma=group_sigma, seed=1)
        theta = pack(fit) + np.random.default_rng(2).normal(0, 0.02, len(pack(fit)))
        ll, score = log_likelihood_and_score(panel, fit, theta)
        numeric = approx_fprime(
            theta, lambda th, fit=fit: log_likelihood_and_score(panel, fit, th)[0], 1e-6
        )
        assert np.allclose(score, numeric, rtol=1e-3, atol=0.05 * np.abs(numeric).max() * 1e-3)
        assert ll < fit.log_likelihood + 1e-6  # the fit is a maximum


def test_standard_errors_match_the_spread_over_replications() -> None:
    # 60 replications of a 2-group model (n = 600): the mean reported standard error
    # of each coefficient is within 20% of the standard deviation of its estimates,
    # and the 95% intervals cover the true value in 88-100% of replications.
    coefs = np.array([[40.0, 1.0, 0.0], [55.0, -1.5, 0.1]])
    shares = np.array([0.4, 0.6])
    est, ses = [], []
    for rep in range(60):
        long, _ = simulate(600, seed=100 + rep, shares=shares, coefs=coefs, sigma=5.0)
        ids = long["person"].unique()
        y = long["y"].to_numpy().reshape(len(ids), len(TIMES))
        fit = fit_gbtm(Panel(y, TIMES), 2, 2, starts=4, seed=rep)
        est.append(np.concatenate([fit.raw_coefficients(j) for j in range(2)]))
        se = [fit.raw_standard_errors(j) for j in range(2)]
        assert all(s is not None for s in se)
        ses.append(np.concatenate(se))  # type: ignore[arg-type]
    e, s = np.array(est), np.array(ses)
    ratio = s.mean(axis=0) / e.std(axis=0, ddof=1)
    assert np.all((ratio > 0.8) & (ratio < 1.2)), ratio
    cover = (np.abs(e - coefs.ravel()) < 1.96 * s).mean(axis=0)
    assert np.all(cover >= 0.88), cover


def test_group_specific_sigma_and_degrees() -> None:
    # True sigmas 2, 4, 6; the flat groups fitted with degree 0 and 1.
    coefs = np.array([[30.0, 0.0, 0.0], [45.0, 0.0, 0.0], [60.0, -3.0, 0.2]])
    long, truth = simulate(
        3000, seed=9, shares=np.array([0.3, 0.4, 0.3]), coefs=coefs, sigma=np.array([2, 4, 6])
    )
    result = fit_trajectories(
        long, "person", "t", "y", groups=[3], degree=[0, 1, 2], group_sigma=True
    )
    g = result.groups
    assert [len(x.coefficients) for x in g] == [1, 2, 3]
    assert [x.sigma for x in g] == pytest.approx([2, 4, 6], rel=0.05)
    assert g[0].coefficients[0] == pytest.approx(30, abs=0.2)
    assert result.model.parameters == 6 + 3 + 2
    a = result.assignments()
    assert (a["group"].to_numpy() - 1 == truth[a["id"].to_numpy()]).mean() >= 0.9


def test_missing_waves_use_the_observed_ones() -> None:
    # Half of the waves missing at random: the same truth is recovered (full
    # information likelihood), and a person with one observed wave still gets
    # posteriors; a person with none is left out, with a note.
    long, truth = simulate(3000, seed=21, missing=0.5)
    long = pd.concat([long, pd.DataFrame({"person": [9999] * 6, "t": TIMES, "y": [np.nan] * 6})])
    result = fit_trajectories(long, "person", "t", "y", groups=[4])
    assert 9999 not in set(result.ids)
    assert any("no observed value" in n for n in result.notes)
    got = np.array([g.proportion for g in result.groups])
    assert np.abs(got - SHARES).max() < 0.03
    for g, true in zip(result.groups, COEFS, strict=True):
        assert np.all(np.abs(np.array(g.coefficients) - true) < 3 * np.array(g.standard_errors))
    observed = long.dropna(subset=["y"]).groupby("person").size()
    single = observed[observed == 1].index.to_numpy()
    assert len(single) > 10
    a = result.assignments().set_index("id")
    assert np.allclose(a.loc[single].filter(like="posterior_").sum(axis=1), 1.0)
    correct = a["group"].to_numpy() - 1 == truth[a.index.to_numpy()]
    assert correct.mean() >= 0.85  # fewer waves, less certain assignment


def test_result_for_the_disclosure_engine_flags_a_small_group() -> None:
    # Two large groups and one of 6 persons: its size is below the minimum group
    # size (10) of the ONS SRS preset, so the group summary is not passed as is.
    coefs = np.array([[20.0, 0.0, 0.0], [50.0, 0.0, 0.0], [90.0, 0.0, 0.0]])
    long, truth = simulate(
        400, seed=4, shares=np.array([0.5, 0.485, 0.015]), coefs=coefs, sigma=2.0, missing=0
    )
    result = fit_trajectories(long, "person", "t", "y", groups=[3])
    sizes = sorted(g.assigned for g in result.groups)
    assert sizes[0] == np.bincount(truth)[2] < 10
    analysis = result.analysis_result()
    summary = analysis.outputs()["trajectory_groups"]
    assert isinstance(summary, GroupSummary)
    checks = analysis.check(PRESETS["ons-srs"])
    verdicts = checks["trajectory_groups"].verdicts
    small = [v for v in verdicts if v.value < 10]
    assert small and all(v.status != "pass" for v in small)
    assert analysis.figures["trajectory_plot"].png.startswith(b"\x89PNG")
    size_table = result.size_table()
    assert size_table.values[-1] == 400
