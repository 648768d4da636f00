"""The numerical core of group-based trajectory modelling (Nagin's GBTM).

A finite mixture of polynomial trajectories in time: person *i* belongs to group
*k* with probability ``pi_k``; given the group, the observed values are
independent over waves with a polynomial ``eta_k(t) = x(t)' beta_k`` in time on
the scale of the family's link:

- ``"normal"``: ``y_it = eta_k(t) + e_it``, ``e_it ~ N(0, sigma^2)`` (one sigma
  shared by the groups, Nagin's default, or one per group);
- ``"poisson"``: ``y_it ~ Poisson(exp(eta_k(t)))``, counts (Nagin & Land 1993);
- ``"logit"``: ``y_it ~ Bernoulli(expit(eta_k(t)))``, 0/1 outcomes.

Persons with missing waves contribute the waves they have (full-information
likelihood).

Data are held wide, persons × distinct times, so that the E and M steps are a
handful of matrix products (no loop over persons). Because ``x`` depends only on
time, the M step of each group needs only per-wave sums of the posterior weights
and of the weighted values: a weighted least-squares fit for the normal family,
a few Newton steps on the (concave) weighted log-likelihood
``sum_t [S_y(t) eta_t - S_w(t) b(eta_t)]`` (``b = exp`` or ``log(1 + exp)``) for
the others. Fitting runs EM from several k-means starts (short runs), continues
the best ones to convergence, and takes standard errors from the observed
information (numerical Hessian of the analytic score). Time is centred and
scaled inside; coefficients and their covariance are reported on the time scale
the user gave.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from math import comb
from typing import Literal

import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.special import expit, gammaln
from threadpoolctl import threadpool_limits

from fivesafes.errors import FivesafesError

LOG_2PI = float(np.log(2 * np.pi))

Family = Literal["normal", "poisson", "logit"]
#: The outcome distributions given the group.
FAMILIES: tuple[Family, ...] = ("normal", "poisson", "logit")


@dataclass(frozen=True)
class Panel:
    """Wide data: ``y[i, t]`` the value of person ``i`` at ``times[t]`` (nan if missing)."""

    y: np.ndarray
    times: np.ndarray

    @property
    def persons(self) -> int:
        return int(self.y.shape[0])

    @property
    def mask(self) -> np.ndarray:
        return ~np.isnan(self.y)


@dataclass
class _Stats:
    """Per-person sufficient statistics over the observed waves."""

    m: np.ndarray  # n × T, 1.0 where observed
    my: np.ndarray  # n × T, y where observed else 0
    my2: np.ndarray  # n, sum of y^2 over observed waves
    nobs: np.ndarray  # n, number of observed waves
    const: np.ndarray  # n, the part of log f(y_i) free of parameters (Poisson: -sum log y!)

    @classmethod
    def of(cls, panel: Panel, family: str = "normal") -> _Stats:
        m = panel.mask.astype(float)
        my = np.where(panel.mask, panel.y, 0.0)
        const = -gammaln(my + 1.0).sum(axis=1) if family == "poisson" else np.zeros(len(m))
        return cls(m, my, (my * my).sum(axis=1), m.sum(axis=1), const)


@dataclass
class GBTMFit:
    """One fitted model with ``k`` groups (in the order the fit found them)."""

    k: int
    degrees: list[int]
    betas: list[np.ndarray]  # coefficients on the scaled time u = (t - centre) / scale
    sigma: np.ndarray  # length 1 (common) or k; empty for the poisson and logit families
    log_pi: np.ndarray
    log_likelihood: float
    posteriors: np.ndarray  # n × k
    iterations: int
    converged: bool
    centre: float
    scale: float
    starts: int = 0
    covariance: np.ndarray | None = None  # of theta (scaled betas, log sigma, logits)
    notes: list[str] = field(default_factory=list)
    family: Family = "normal"

    @property
    def parameters(self) -> int:
        """Free parameters: coefficients, sigma(s) (normal only) and k - 1 mixing
        proportions."""
        return sum(d + 1 for d in self.degrees) + len(self.sigma) + self.k - 1

    def raw_coefficients(self, group: int) -> np.ndarray:
        """Coefficients of 1, t, t², ... on the time scale of the data."""
        return _to_raw(self.degrees[group], self.centre, self.scale) @ self.betas[group]

    def raw_standard_errors(self, group: int) -> np.ndarray | None:
        if self.covariance is None:
            return None
        start = sum(d + 1 for d in self.degrees[:group])
        size = self.degrees[group] + 1
        cov = self.covariance[start : start + size, start : start + size]
        a = _to_raw(self.degrees[group], self.centre, self.scale)
        var = np.diag(a @ cov @ a.T)
        return np.sqrt(np.where(var >= 0, var, np.nan))

    def linear_predictors(self, times: np.ndarray) -> np.ndarray:
        """The polynomial ``x(t)' beta_k`` of each group at ``times`` (len(times) × k):
        the mean (normal), the log of the expected count (poisson) or the log-odds
        (logit)."""
        u = (np.asarray(times, dtype=float) - self.centre) / self.scale
        return np.column_stack(
            [_design(u, d) @ b for d, b in zip(self.degrees, self.betas, strict=True)]
        )

    def means(self, times: np.ndarray) -> np.ndarray:
        """Fitted trajectory of each group at ``times`` on the outcome's scale
        (len(times) × k): the mean, the expected count or the probability."""
        return _inverse_link(self.linear_predictors(times), self.family)

    def reorder(self, order: Sequence[int]) -> None:
        """Put the groups in ``order`` (before the covariance is computed)."""
        order = list(order)
        self.degrees = [self.degrees[j] for j in order]
        self.betas = [self.betas[j] for j in order]
        if len(self.sigma) > 1:
            self.sigma = self.sigma[order]
        self.log_pi = self.log_pi[order]
        self.posteriors = self.posteriors[:, order]


def _design(u: np.ndarray, degree: int) -> np.ndarray:
    return np.vander(u, degree + 1, increasing=True)


def _inverse_link(eta: np.ndarray, family: str) -> np.ndarray:
    """The expected value from the linear predictor: identity, exp or expit."""
    if family == "poisson":
        return np.asarray(np.exp(eta))
    if family == "logit":
        return np.asarray(expit(eta))
    return eta


def _cumulant(eta: np.ndarray, family: str) -> np.ndarray:
    """b(eta) of the exponential family: exp (poisson), log(1 + exp) (logit)."""
    if family == "poisson":
        return np.asarray(np.exp(eta))
    return np.asarray(np.logaddexp(0.0, eta))


def check_family(family: str) -> None:
    if family not in FAMILIES:
        raise FivesafesError(f"the family must be one of {', '.join(FAMILIES)}, not {family!r}")


def check_values(panel: Panel, family: str) -> None:
    """Refuse values the family cannot have: Poisson needs counts (whole numbers
    0 or more), logit needs 0 or 1. Names the first offending value, its row in the
    panel and its time."""
    check_family(family)
    if family == "normal":
        return
    y = panel.y
    obs = ~np.isnan(y)
    with np.errstate(invalid="ignore"):
        if family == "poisson":
            bad = obs & (~np.isfinite(y) | (y < 0) | (y != np.floor(y)))
            need = "counts (whole numbers 0 or more)"
        else:
            bad = obs & (y != 0) & (y != 1)
            need = "0/1 values (1 = the event happened in that wave)"
    if bad.any():
        rows, cols = np.nonzero(bad)
        more = len(rows) - 1
        raise FivesafesError(
            f"the {family} family needs {need}: got {y[rows[0], cols[0]]:g} "
            f"(person {rows[0] + 1}, time {panel.times[cols[0]]:g})"
            + (f" and {more} more such value{'s' if more > 1 else ''}" if more else "")
        )


def _to_raw(degree: int, centre: float, scale: float) -> np.ndarray:
    """A with raw = A @ beta, from sum_j beta_j ((t - c) / s)^j = sum_m raw_m t^m."""
    a = np.zeros((degree + 1, degree + 1))
    for j in range(degree + 1):
        for m in range(j + 1):
            a[m, j] = comb(j, m) * (-centre) ** (j - m) / scale**j
    return a


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """log(sum(exp(a), axis=1)), stable (scipy's is slow on small arrays)."""
    top = a.max(axis=1)
    return top + np.log(np.exp(a - top[:, None]).sum(axis=1))


def _log_densities(
    st: _Stats, mu: np.ndarray, sigma: np.ndarray, log_pi: np.ndarray, family: str = "normal"
) -> np.ndarray:
    """log(pi_k) + log f_k(y_i) for every person and group (n × k). ``mu`` is the
    linear predictor of each group at each wave (T × k)."""
    if family != "normal":
        # sum_t [y_it eta_t - b(eta_t)] + const_i over the observed waves
        return log_pi[None, :] + st.my @ mu - st.m @ _cumulant(mu, family) + st.const[:, None]
    s2 = np.broadcast_to(sigma**2, log_pi.shape)
    quad = st.my2[:, None] - 2.0 * (st.my @ mu) + st.m @ (mu * mu)
    return (
        log_pi[None, :]
        - 0.5 * st.nobs[:, None] * (LOG_2PI + np.log(s2))[None, :]
        - quad / (2.0 * s2)[None, :]
    )


def _glm_group(
    x: np.ndarray, sy: np.ndarray, sw: np.ndarray, beta: np.ndarray | None, family: str
) -> np.ndarray | None:
    """Maximise sum_t [sy_t eta_t - sw_t b(eta_t)], eta = x beta (concave), by
    Newton steps with step halving, from ``beta`` (or from the link of the
    per-wave weighted means; None if that least-squares start is singular). A
    group with (almost) no events drifts towards eta = -inf (a rate of 0): its
    Newton steps stop when the information underflows."""
    if beta is None:
        p = (sy + 0.5) / (sw + 1.0)
        z = np.log(p) if family == "poisson" else np.log(p / (1.0 - p))
        xtw = x.T * (sw + 1e-9)
        try:
            beta = np.linalg.solve(xtw @ x, xtw @ z)
        except np.linalg.LinAlgError:
            return None

    def q(b: np.ndarray) -> float:
        eta = x @ b
        return float(sy @ eta - sw @ _cumulant(eta, family))

    value = q(beta)
    for _ in range(100):
        eta = x @ beta
        mu = _inverse_link(eta, family)
        var = mu if family == "poisson" else mu * (1.0 - mu)
        grad = x.T @ (sy - sw * mu)
        info = x.T @ (x * (sw * var)[:, None])
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            break  # a group's expected values have underflowed: keep the last beta
        if not np.isfinite(step).all():
            break
        t = 1.0  # halve the step until the objective does not fall
        while not (new := q(beta + t * step)) >= value - 1e-13 * abs(value):
            t /= 2.0
            if t < 1e-8:
                return beta  # no ascent along the Newton direction: at the maximum
        beta, value = beta + t * step, new
        if np.abs(t * step).max() <= 1e-11 * (1.0 + np.abs(beta).max()):
            break
    return beta


def _m_step(
    st: _Stats,
    r: np.ndarray,
    xs: list[np.ndarray],
    group_sigma: bool,
    family: str = "normal",
    previous: list[np.ndarray] | None = None,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray] | None:
    """Weighted least squares (normal) or Newton steps (poisson, logit) per group;
    None if a group has emptied. Returns betas, sigma, log_pi and the linear
    predictor of each group at each wave (T × k)."""
    w = st.m.T @ r  # T × k: weighted number of observations per wave
    s = st.my.T @ r  # T × k: weighted sum of values per wave
    nk = r.sum(axis=0)
    if (nk < 1e-6 * max(len(r), 1)).any():
        return None
    if family != "normal":
        glm = []
        for j, x in enumerate(xs):
            b = _glm_group(x, s[:, j], w[:, j], None if previous is None else previous[j], family)
            if b is None:
                return None
            glm.append(b)
        eta = np.column_stack([x @ b for x, b in zip(xs, glm, strict=True)])
        if not np.isfinite(eta).all():
            return None
        return glm, np.empty(0), np.log(nk / nk.sum()), eta
    q = st.my2 @ r  # k: weighted sum of squares
    betas = []
    for j, x in enumerate(xs):
        xtwx = x.T @ (x * w[:, j : j + 1])
        try:
            betas.append(np.linalg.solve(xtwx, x.T @ s[:, j]))
        except np.linalg.LinAlgError:
            return None
    mu = np.column_stack([x @ b for x, b in zip(xs, betas, strict=True)])
    rss = q - 2.0 * (mu * s).sum(axis=0) + (mu * mu * w).sum(axis=0)
    rss = np.maximum(rss, 1e-12)
    if group_sigma:
        sigma = np.sqrt(rss / w.sum(axis=0))
    else:
        sigma = np.array([np.sqrt(rss.sum() / w.sum())])
    if not np.isfinite(sigma).all() or (sigma < 1e-8).any():
        return None
    log_pi = np.log(nk / nk.sum())
    return betas, sigma, log_pi, mu


#: An EM run: logL, posteriors, (betas, sigma, log_pi), iterations, converged.
_Run = tuple[float, np.ndarray, tuple[list[np.ndarray], np.ndarray, np.ndarray], int, bool]


def _em(
    st: _Stats,
    r: np.ndarray,
    xs: list[np.ndarray],
    group_sigma: bool,
    max_iter: int,
    tol: float,
    family: str = "normal",
    betas: list[np.ndarray] | None = None,
) -> _Run | None:
    """EM from posteriors ``r``: (logL, posteriors, (betas, sigma, log_pi), iterations,
    converged), or None if the run degenerated. ``betas``: where the Newton steps of
    the first M step start (poisson, logit)."""
    old = -np.inf
    params = None
    for it in range(1, max_iter + 1):
        m = _m_step(st, r, xs, group_sigma, family, betas)
        if m is None:
            return None
        betas, sigma, log_pi, mu = m
        params = (betas, sigma, log_pi)
        ld = _log_densities(st, mu, sigma, log_pi, family)
        total = _logsumexp_rows(ld)
        ll = float(total.sum())
        r = np.exp(ld - total[:, None])
        if not np.isfinite(ll):
            return None
        if abs(ll - old) <= tol * abs(ll):
            return ll, r, params, it, True
        old = ll
    assert params is not None
    return old, r, params, max_iter, False


def _starts(
    panel: Panel, k: int, n: int, rng: np.random.Generator, family: str = "normal"
) -> Iterator[np.ndarray]:
    """Hard assignments from k-means on the waves (missing waves at the wave mean;
    counts as log(1 + y)), alternating k-means++ and random-person seeds; one at a
    time, to save memory."""
    y = np.log1p(panel.y) if family == "poisson" else panel.y
    col = np.nanmean(y, axis=0)
    filled = np.where(np.isnan(y), col[None, :], y)
    # k-means on a subsample is enough for a start; the EM then uses everyone.
    sub = filled
    if len(filled) > 20_000:
        sub = filled[rng.choice(len(filled), 20_000, replace=False)]
    for s in range(n):
        seed = int(rng.integers(2**31))
        minit = "++" if s % 2 == 0 else "points"
        with warnings.catch_warnings():
            # 0/1 waves repeat: a random start may leave a cluster empty (EM copes)
            warnings.simplefilter("ignore", UserWarning)
            centroids, _ = kmeans2(sub, k, minit=minit, seed=seed, iter=20)
        # Lowest level first, so that per-group degrees go from the lowest group up.
        centroids = centroids[np.argsort(centroids.mean(axis=1), kind="stable")]
        # squared distances without a persons × groups × waves array
        d = (centroids * centroids).sum(axis=1)[None, :] - 2.0 * (filled @ centroids.T)
        label = d.argmin(axis=1)
        r = np.full((len(y), k), 1e-3)
        r[np.arange(len(y)), label] = 1.0
        yield r / r.sum(axis=1, keepdims=True)


def fit_gbtm(
    panel: Panel,
    k: int,
    degree: int | Sequence[int] = 2,
    group_sigma: bool = False,
    starts: int = 10,
    short_iter: int = 30,
    keep: int = 2,
    max_iter: int = 2000,
    tol: float = 1e-8,
    seed: int = 0,
    standard_errors: bool = True,
    family: Family = "normal",
) -> GBTMFit:
    """Fit a ``k``-group trajectory model by EM from several starts.

    ``family``: ``"normal"`` (the default), ``"poisson"`` (counts) or ``"logit"``
    (0/1 outcomes); values the family cannot have, and ``group_sigma`` outside the
    normal family, are refused with a :class:`FivesafesError`. ``degree`` is the
    polynomial degree of every group, or one per group from the
    lowest level to the highest (the starts are ordered so; groups are reported
    in that order). ``starts`` k-means starts run ``short_iter`` EM iterations
    each; the ``keep`` best continue to convergence (relative change of logL
    below ``tol``). BLAS runs on one thread: the products are tall and thin
    (persons × waves by waves × groups), where threads only cost (17 ms instead of
    1.3 ms for 100,000 × 5 by 5 × 5 on a busy two-core machine).
    """
    check_family(family)
    if group_sigma and family != "normal":
        raise FivesafesError(
            f"group_sigma (one sigma per group) is for the normal family only: the {family} "
            "family has no sigma (its variance follows from its mean)"
        )
    check_values(panel, family)
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_gbtm(
            panel, k, degree, group_sigma, starts, short_iter, keep, max_iter, tol, seed,
            standard_errors, family,
        )  # fmt: skip


def _fit_gbtm(
    panel: Panel,
    k: int,
    degree: int | Sequence[int] = 2,
    group_sigma: bool = False,
    starts: int = 10,
    short_iter: int = 30,
    keep: int = 2,
    max_iter: int = 2000,
    tol: float = 1e-8,
    seed: int = 0,
    standard_errors: bool = True,
    family: Family = "normal",
) -> GBTMFit:
    degrees = [int(degree)] * k if isinstance(degree, int) else [int(d) for d in degree]
    if len(degrees) != k:
        raise ValueError(f"{len(degrees)} degrees given for {k} groups")
    times = np.asarray(panel.times, dtype=float)
    centre = float(times.mean())
    scale = float(times.std()) or 1.0
    u = (times - centre) / scale
    xs = [_design(u, d) for d in degrees]
    st = _Stats.of(panel, family)
    rng = np.random.default_rng(seed)
    n_starts = 1 if k == 1 else max(1, starts)
    first = (
        iter([np.ones((panel.persons, 1))]) if k == 1 else _starts(panel, k, n_starts, rng, family)
    )
    short: list[_Run] = []  # the best ``keep`` short runs so far
    for r0 in first:
        run = _em(st, r0, xs, group_sigma, short_iter, tol, family)
        if run is not None:
            short = sorted([*short, run], key=lambda run: -run[0])[: max(1, keep)]
    if not short:
        raise ValueError(f"the {k}-group model lost a group from every start: left out")
    best = None
    for ll0, r, params, it0, conv in short:
        run = (
            (ll0, r, params, it0, conv)
            if conv
            else _em(st, r, xs, group_sigma, max_iter, tol, family, params[0])
        )
        if run is None:
            continue
        if best is None or run[0] > best[0]:
            best = (run[0], run[1], run[2], run[3] + (0 if conv else it0), run[4])
    if best is None:
        raise ValueError(f"the {k}-group model lost a group in every run: left out")
    ll, r, (betas, sigma, log_pi), iterations, converged = best
    fit = GBTMFit(
        k=k,
        degrees=degrees,
        betas=betas,
        sigma=sigma,
        log_pi=log_pi,
        log_likelihood=ll,
        posteriors=r,
        iterations=iterations,
        converged=converged,
        centre=centre,
        scale=scale,
        starts=n_starts,
        family=family,
    )
    # Groups from the lowest to the highest mean level over the observed times.
    fit.reorder([int(j) for j in np.argsort(fit.means(times).mean(axis=0), kind="stable")])
    if not converged:
        fit.notes.append(f"{k} groups: EM stopped after {max_iter} iterations before converging")
    if standard_errors:
        fit.covariance = covariance(panel, fit)
    return fit


# --- the observed log-likelihood and its score, for standard errors --------------


def _unpack(
    theta: np.ndarray, degrees: list[int], ns: int
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    betas, pos = [], 0
    for d in degrees:
        betas.append(theta[pos : pos + d + 1])
        pos += d + 1
    sigma = np.exp(theta[pos : pos + ns])
    pos += ns
    alpha = np.concatenate([[0.0], theta[pos:]])
    return betas, sigma, alpha - _logsumexp_rows(alpha[None, :])[0]


def pack(fit: GBTMFit) -> np.ndarray:
    """theta = (scaled betas, log sigma (normal only), logits of groups 2..k
    against group 1)."""
    return np.concatenate([*fit.betas, np.log(fit.sigma), fit.log_pi[1:] - fit.log_pi[0]])


def log_likelihood_and_score(
    panel: Panel, fit: GBTMFit, theta: np.ndarray, st: _Stats | None = None
) -> tuple[float, np.ndarray]:
    """The observed-data log-likelihood at ``theta`` and its gradient (analytic)."""
    st = st or _Stats.of(panel, fit.family)
    u = (np.asarray(panel.times, dtype=float) - fit.centre) / fit.scale
    xs = [_design(u, d) for d in fit.degrees]
    ns = len(fit.sigma)
    betas, sigma, log_pi = _unpack(theta, fit.degrees, ns)
    mu = np.column_stack([x @ b for x, b in zip(xs, betas, strict=True)])
    ld = _log_densities(st, mu, sigma, log_pi, fit.family)
    total = _logsumexp_rows(ld)
    r = np.exp(ld - total[:, None])
    w = st.m.T @ r
    s = st.my.T @ r
    pi = np.exp(log_pi)
    if fit.family != "normal":
        mean = _inverse_link(mu, fit.family)
        grads = [x.T @ (s[:, j] - mean[:, j] * w[:, j]) for j, x in enumerate(xs)]
        grads.append((r.sum(axis=0) - len(r) * pi)[1:])
        return float(total.sum()), np.concatenate(grads)
    q = st.my2 @ r
    s2 = np.broadcast_to(sigma**2, log_pi.shape)
    grads = []
    for j, x in enumerate(xs):
        grads.append(x.T @ (s[:, j] - mu[:, j] * w[:, j]) / s2[j])
    rss = q - 2.0 * (mu * s).sum(axis=0) + (mu * mu * w).sum(axis=0)
    g_sigma = -w.sum(axis=0) + rss / s2
    grads.append(np.array([g_sigma.sum()]) if ns == 1 else g_sigma)
    grads.append((r.sum(axis=0) - len(r) * pi)[1:])
    return float(total.sum()), np.concatenate(grads)


def covariance(panel: Panel, fit: GBTMFit) -> np.ndarray | None:
    """Inverse of the observed information (central differences of the score)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _covariance(panel, fit)


def _covariance(panel: Panel, fit: GBTMFit) -> np.ndarray | None:
    st = _Stats.of(panel, fit.family)
    theta = pack(fit)
    p = len(theta)
    h = 1e-5 * np.maximum(1.0, np.abs(theta))
    hess = np.empty((p, p))
    for j in range(p):
        e = np.zeros(p)
        e[j] = h[j]
        _, gp = log_likelihood_and_score(panel, fit, theta + e, st)
        _, gm = log_likelihood_and_score(panel, fit, theta - e, st)
        hess[:, j] = (gp - gm) / (2 * h[j])
    hess = (hess + hess.T) / 2
    try:
        cov = np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        return None
    if not np.isfinite(cov).all() or (np.diag(cov) <= 0).any():
        return None
    return cov
