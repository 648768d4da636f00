"""The numerical core of group-based trajectory modelling (Nagin's GBTM).

A finite mixture of polynomial trajectories in time: person *i* belongs to group
*k* with probability ``pi_k``; given the group, each observed value is
``y_it = x(t)' beta_k + e_it`` with ``e_it ~ N(0, sigma^2)`` (one sigma shared by
the groups, Nagin's default, or one per group), independent over waves. Persons
with missing waves contribute the waves they have (full-information likelihood).

Data are held wide, persons × distinct times, so that the E and M steps are a
handful of matrix products (no loop over persons): the M step of each group is a
weighted least-squares fit on per-wave sufficient statistics. Fitting runs EM from
several k-means starts (short runs), continues the best ones to convergence, and
takes standard errors from the observed information (numerical Hessian of the
analytic score). Time is centred and scaled inside; coefficients and their
covariance are reported on the time scale the user gave.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from math import comb

import numpy as np
from scipy.cluster.vq import kmeans2
from threadpoolctl import threadpool_limits

LOG_2PI = float(np.log(2 * np.pi))


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

    @classmethod
    def of(cls, panel: Panel) -> _Stats:
        m = panel.mask.astype(float)
        my = np.where(panel.mask, panel.y, 0.0)
        return cls(m, my, (my * my).sum(axis=1), m.sum(axis=1))


@dataclass
class GBTMFit:
    """One fitted model with ``k`` groups (in the order the fit found them)."""

    k: int
    degrees: list[int]
    betas: list[np.ndarray]  # coefficients on the scaled time u = (t - centre) / scale
    sigma: np.ndarray  # length 1 (common) or k
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

    @property
    def parameters(self) -> int:
        """Free parameters: coefficients, sigma(s) and k - 1 mixing proportions."""
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

    def means(self, times: np.ndarray) -> np.ndarray:
        """Fitted trajectory of each group at ``times``: len(times) × k."""
        u = (np.asarray(times, dtype=float) - self.centre) / self.scale
        return np.column_stack(
            [_design(u, d) @ b for d, b in zip(self.degrees, self.betas, strict=True)]
        )

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


def _log_densities(st: _Stats, mu: np.ndarray, sigma: np.ndarray, log_pi: np.ndarray) -> np.ndarray:
    """log(pi_k) + log f_k(y_i) for every person and group (n × k)."""
    s2 = np.broadcast_to(sigma**2, log_pi.shape)
    quad = st.my2[:, None] - 2.0 * (st.my @ mu) + st.m @ (mu * mu)
    return (
        log_pi[None, :]
        - 0.5 * st.nobs[:, None] * (LOG_2PI + np.log(s2))[None, :]
        - quad / (2.0 * s2)[None, :]
    )


def _m_step(
    st: _Stats,
    r: np.ndarray,
    xs: list[np.ndarray],
    group_sigma: bool,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray] | None:
    """Weighted least squares per group; None if a group has emptied."""
    w = st.m.T @ r  # T × k: weighted number of observations per wave
    s = st.my.T @ r  # T × k: weighted sum of values per wave
    q = st.my2 @ r  # k: weighted sum of squares
    nk = r.sum(axis=0)
    if (nk < 1e-6 * max(len(r), 1)).any():
        return None
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
) -> _Run | None:
    """EM from posteriors ``r``: (logL, posteriors, (betas, sigma, log_pi), iterations,
    converged), or None if the run degenerated."""
    old = -np.inf
    params = None
    for it in range(1, max_iter + 1):
        m = _m_step(st, r, xs, group_sigma)
        if m is None:
            return None
        betas, sigma, log_pi, mu = m
        params = (betas, sigma, log_pi)
        ld = _log_densities(st, mu, sigma, log_pi)
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


def _starts(panel: Panel, k: int, n: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Hard assignments from k-means on the waves (missing waves at the wave mean),
    alternating k-means++ and random-person seeds; one at a time, to save memory."""
    y = panel.y
    col = np.nanmean(y, axis=0)
    filled = np.where(np.isnan(y), col[None, :], y)
    # k-means on a subsample is enough for a start; the EM then uses everyone.
    sub = filled
    if len(filled) > 20_000:
        sub = filled[rng.choice(len(filled), 20_000, replace=False)]
    for s in range(n):
        seed = int(rng.integers(2**31))
        minit = "++" if s % 2 == 0 else "points"
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
) -> GBTMFit:
    """Fit a ``k``-group trajectory model by EM from several starts.

    ``degree`` is the polynomial degree of every group, or one per group from the
    lowest level to the highest (the starts are ordered so; groups are reported
    in that order). ``starts`` k-means starts run ``short_iter`` EM iterations
    each; the ``keep`` best continue to convergence (relative change of logL
    below ``tol``). BLAS runs on one thread: the products are tall and thin
    (persons × waves by waves × groups), where threads only cost (17 ms instead of
    1.3 ms for 100,000 × 5 by 5 × 5 on a busy two-core machine).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_gbtm(
            panel, k, degree, group_sigma, starts, short_iter, keep, max_iter, tol, seed,
            standard_errors,
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
) -> GBTMFit:
    degrees = [int(degree)] * k if isinstance(degree, int) else [int(d) for d in degree]
    if len(degrees) != k:
        raise ValueError(f"{len(degrees)} degrees given for {k} groups")
    times = np.asarray(panel.times, dtype=float)
    centre = float(times.mean())
    scale = float(times.std()) or 1.0
    u = (times - centre) / scale
    xs = [_design(u, d) for d in degrees]
    st = _Stats.of(panel)
    rng = np.random.default_rng(seed)
    n_starts = 1 if k == 1 else max(1, starts)
    first = iter([np.ones((panel.persons, 1))]) if k == 1 else _starts(panel, k, n_starts, rng)
    short: list[_Run] = []  # the best ``keep`` short runs so far
    for r0 in first:
        run = _em(st, r0, xs, group_sigma, short_iter, tol)
        if run is not None:
            short = sorted([*short, run], key=lambda run: -run[0])[: max(1, keep)]
    if not short:
        raise ValueError(f"the {k}-group model lost a group from every start: left out")
    best = None
    for ll0, r, params, it0, conv in short:
        run = (ll0, r, params, it0, conv) if conv else _em(st, r, xs, group_sigma, max_iter, tol)
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
    """theta = (scaled betas, log sigma, logits of groups 2..k against group 1)."""
    return np.concatenate([*fit.betas, np.log(fit.sigma), fit.log_pi[1:] - fit.log_pi[0]])


def log_likelihood_and_score(
    panel: Panel, fit: GBTMFit, theta: np.ndarray, st: _Stats | None = None
) -> tuple[float, np.ndarray]:
    """The observed-data log-likelihood at ``theta`` and its gradient (analytic)."""
    st = st or _Stats.of(panel)
    u = (np.asarray(panel.times, dtype=float) - fit.centre) / fit.scale
    xs = [_design(u, d) for d in fit.degrees]
    ns = len(fit.sigma)
    betas, sigma, log_pi = _unpack(theta, fit.degrees, ns)
    mu = np.column_stack([x @ b for x, b in zip(xs, betas, strict=True)])
    ld = _log_densities(st, mu, sigma, log_pi)
    total = _logsumexp_rows(ld)
    r = np.exp(ld - total[:, None])
    w = st.m.T @ r
    s = st.my.T @ r
    q = st.my2 @ r
    s2 = np.broadcast_to(sigma**2, log_pi.shape)
    grads = []
    for j, x in enumerate(xs):
        grads.append(x.T @ (s[:, j] - mu[:, j] * w[:, j]) / s2[j])
    rss = q - 2.0 * (mu * s).sum(axis=0) + (mu * mu * w).sum(axis=0)
    g_sigma = -w.sum(axis=0) + rss / s2
    grads.append(np.array([g_sigma.sum()]) if ns == 1 else g_sigma)
    pi = np.exp(log_pi)
    grads.append((r.sum(axis=0) - len(r) * pi)[1:])
    return float(total.sum()), np.concatenate(grads)


def covariance(panel: Panel, fit: GBTMFit) -> np.ndarray | None:
    """Inverse of the observed information (central differences of the score)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _covariance(panel, fit)


def _covariance(panel: Panel, fit: GBTMFit) -> np.ndarray | None:
    st = _Stats.of(panel)
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
