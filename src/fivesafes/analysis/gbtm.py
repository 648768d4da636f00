"""The numerical core of group-based trajectory modelling (Nagin's GBTM).

A finite mixture of polynomial trajectories in time: person *i* belongs to group
*k* with probability ``pi_k``; given the group, the observed values are
independent over waves with a polynomial ``eta_k(t) = x(t)' beta_k`` in time on
the scale of the family's link:

- ``"normal"``: ``y_it = eta_k(t) + e_it``, ``e_it ~ N(0, sigma^2)`` (one sigma
  shared by the groups, Nagin's default, or one per group);
- ``"poisson"``: ``y_it ~ Poisson(exp(eta_k(t)))``, counts (Nagin & Land 1993);
- ``"logit"``: ``y_it ~ Bernoulli(expit(eta_k(t)))``, 0/1 outcomes;
- ``"cnorm"``: censored normal (Nagin's CNORM), for scores piled up at a floor
  or ceiling: a latent ``y*_it = eta_k(t) + e_it``, ``e_it ~ N(0, sigma^2)``,
  observed as ``clip(y*_it, lower, upper)`` (a Tobit model given the group);
- ``"zip"``: zero-inflated Poisson (Nagin & Land 1993; Roeder, Lynch & Nagin
  1999): ``y_it = 0`` with probability ``omega_k`` (a structural zero, one
  ``omega_k`` per group, constant over time), else ``Poisson(exp(eta_k(t)))``.

Persons with missing waves contribute the waves they have (full-information
likelihood).

Data are held wide, persons × distinct times, so that the E and M steps are a
handful of matrix products (no loop over persons). Because ``x`` depends only on
time, the M step of each group needs only per-wave sums of the posterior weights
and of the weighted values: a weighted least-squares fit for the normal family,
a few Newton steps on the (concave) weighted log-likelihood
``sum_t [S_y(t) eta_t - S_w(t) b(eta_t)]`` (``b = exp`` or ``log(1 + exp)``) for
poisson and logit. The cnorm M step adds the weighted counts at each bound
per wave and maximises the groups' weighted Tobit log-likelihood by Newton steps
in Olsen's parametrisation (``beta / sigma``, ``1 / sigma``), where it is
concave; the zip M step adds the weighted count of zeros per wave and maximises
over ``(beta_k, logit omega_k)`` by damped Newton steps. Fitting runs EM from
several k-means starts (short runs), continues the best ones to convergence,
and takes standard errors from the observed information (numerical Hessian of
the analytic score). Time is centred and scaled inside; coefficients and their
covariance are reported on the time scale the user gave.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from math import comb
from typing import Literal

import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.special import expit, gammaln, log_ndtr
from threadpoolctl import threadpool_limits

from fivesafes.errors import FivesafesError

LOG_2PI = float(np.log(2 * np.pi))

Family = Literal["normal", "poisson", "logit", "cnorm", "zip"]
#: The outcome distributions given the group.
FAMILIES: tuple[Family, ...] = ("normal", "poisson", "logit", "cnorm", "zip")
#: A floor and a ceiling (cnorm); None: no bound on that side.
Bounds = tuple[float | None, float | None]


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
    # cnorm: m, my, my2 and nobs are over the cells inside the bounds; lo and hi
    # (n × T) are 1.0 at the lower and the upper bound. zip: m and nobs are over
    # the positive cells, lo is 1.0 at the zeros.
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    bounds: Bounds = (None, None)

    @classmethod
    def of(cls, panel: Panel, family: str = "normal", bounds: Bounds = (None, None)) -> _Stats:
        if family == "cnorm":
            obs = panel.mask
            lower, upper = bounds
            with np.errstate(invalid="ignore"):
                lo = obs & (panel.y <= lower) if lower is not None else np.zeros_like(obs)
                hi = obs & (panel.y >= upper) if upper is not None else np.zeros_like(obs)
            inside = obs & ~lo & ~hi
            m = inside.astype(float)
            my = np.where(inside, panel.y, 0.0)
            return cls(
                m, my, (my * my).sum(axis=1), m.sum(axis=1), np.zeros(len(m)),
                lo.astype(float), hi.astype(float), bounds,
            )  # fmt: skip
        if family == "zip":
            my = np.where(panel.mask, panel.y, 0.0)
            m = (my > 0).astype(float)
            zero = (panel.mask & (my == 0)).astype(float)
            const = -gammaln(my + 1.0).sum(axis=1)
            return cls(m, my, (my * my).sum(axis=1), m.sum(axis=1), const, zero)
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
    sigma: np.ndarray  # length 1 (common) or k (normal, cnorm); empty for the other families
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
    #: zip: the logit of each group's zero-inflation probability omega_k (else empty)
    omega_logit: np.ndarray = field(default_factory=lambda: np.empty(0))
    #: cnorm: the floor and the ceiling (None: no bound on that side)
    bounds: Bounds = (None, None)

    @property
    def parameters(self) -> int:
        """Free parameters: coefficients, sigma(s) (normal, cnorm), the k
        zero-inflation probabilities (zip) and k - 1 mixing proportions."""
        return (
            sum(d + 1 for d in self.degrees) + len(self.sigma) + len(self.omega_logit) + self.k - 1
        )

    @property
    def omega(self) -> np.ndarray:
        """zip: each group's probability of a structural zero (empty otherwise)."""
        return np.asarray(expit(self.omega_logit))

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
        the mean (normal), the log of the expected count (poisson; zip: of its
        Poisson part), the log-odds (logit) or the latent mean (cnorm)."""
        u = (np.asarray(times, dtype=float) - self.centre) / self.scale
        return np.column_stack(
            [_design(u, d) @ b for d, b in zip(self.degrees, self.betas, strict=True)]
        )

    def means(self, times: np.ndarray) -> np.ndarray:
        """Fitted trajectory of each group at ``times`` on the outcome's scale
        (len(times) × k): the mean, the expected count (poisson; zip: ``(1 -
        omega_k) exp(eta)``), the probability (logit) or the expected observed
        value ``E[clip(y*, lower, upper)]`` (cnorm)."""
        eta = self.linear_predictors(times)
        if self.family == "cnorm":
            return censored_mean(eta, np.broadcast_to(self.sigma, (self.k,)), self.bounds)
        if self.family == "zip":
            return np.asarray(np.exp(eta) * (1.0 - self.omega)[None, :])
        return _inverse_link(eta, self.family)

    def reorder(self, order: Sequence[int]) -> None:
        """Put the groups in ``order`` (before the covariance is computed)."""
        order = list(order)
        self.degrees = [self.degrees[j] for j in order]
        self.betas = [self.betas[j] for j in order]
        if len(self.sigma) > 1:
            self.sigma = self.sigma[order]
        if len(self.omega_logit):
            self.omega_logit = self.omega_logit[order]
        self.log_pi = self.log_pi[order]
        self.posteriors = self.posteriors[:, order]


def _design(u: np.ndarray, degree: int) -> np.ndarray:
    return np.vander(u, degree + 1, increasing=True)


def censored_mean(mu: np.ndarray, sigma: np.ndarray, bounds: Bounds) -> np.ndarray:
    """``E[clip(y*, lower, upper)]`` for ``y* ~ N(mu, sigma^2)`` (``sigma`` one per
    column of ``mu``): ``L Phi(a) + U (1 - Phi(b)) + mu (Phi(b) - Phi(a)) + sigma
    (phi(a) - phi(b))``, ``a = (L - mu) / sigma``, ``b = (U - mu) / sigma``."""
    lower, upper = bounds
    sd = np.broadcast_to(sigma, mu.shape)
    out = np.array(mu, dtype=float)
    if lower is not None:
        a = (lower - mu) / sd
        cdf, pdf = np.exp(log_ndtr(a)), np.exp(-0.5 * a * a - 0.5 * LOG_2PI)
        out += (lower - mu) * cdf + sd * pdf
    if upper is not None:
        b = (mu - upper) / sd  # 1 - Phi((U - mu) / sd) = Phi(b)
        cdf, pdf = np.exp(log_ndtr(b)), np.exp(-0.5 * b * b - 0.5 * LOG_2PI)
        out += (upper - mu) * cdf - sd * pdf
    return out


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
        raise FivesafesError(
            "the family must be one of cnorm (censored normal), zip (zero-inflated "
            f"poisson), normal, poisson, logit, not {family!r}"
        )


def bounds_text(bounds: Bounds) -> str:
    """``[0, 100]``, ``[0, +inf)`` or ``(-inf, 100]``."""
    lower, upper = bounds
    return (
        ("(-inf" if lower is None else f"[{lower:g}")
        + ", "
        + ("+inf)" if upper is None else f"{upper:g}]")
    )


def resolve_bounds(values: np.ndarray, family: str, bounds: Bounds | None) -> Bounds:
    """The cnorm family's floor and ceiling: as given (None on a side: no bound),
    or by default the minimum and maximum of the observed ``values`` (nan:
    missing). Refused for other families."""
    if family != "cnorm":
        if bounds is not None:
            raise FivesafesError(
                f"bounds (a floor and a ceiling) are for the cnorm family only, not {family}"
            )
        return (None, None)
    if bounds is None:
        obs = values[~np.isnan(values)]
        if obs.size == 0:
            return (None, None)
        return (float(obs.min()), float(obs.max()))
    lower, upper = (None if b is None else float(b) for b in bounds)
    for name, b in (("lower", lower), ("upper", upper)):
        if b is not None and not np.isfinite(b):
            raise FivesafesError(f"the {name} bound must be a finite number, not {b}")
    if lower is not None and upper is not None and not lower < upper:
        raise FivesafesError(
            f"the lower bound ({lower:g}) must be below the upper bound ({upper:g})"
        )
    return (lower, upper)


def check_values(panel: Panel, family: str, bounds: Bounds = (None, None)) -> None:
    """Refuse values the family cannot have: Poisson and zip need counts (whole
    numbers 0 or more), logit needs 0 or 1, cnorm values within its bounds. Names
    the first offending value, its row in the panel and its time."""
    check_family(family)
    if family == "normal":
        return
    y = panel.y
    obs = ~np.isnan(y)
    with np.errstate(invalid="ignore"):
        if family in ("poisson", "zip"):
            bad = obs & (~np.isfinite(y) | (y < 0) | (y != np.floor(y)))
            need = "counts (whole numbers 0 or more)"
        elif family == "cnorm":
            lower, upper = bounds
            bad = obs & ~np.isfinite(y)
            if lower is not None:
                bad |= obs & (y < lower)
            if upper is not None:
                bad |= obs & (y > upper)
            need = f"values within its bounds {bounds_text(bounds)}"
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
    st: _Stats,
    mu: np.ndarray,
    sigma: np.ndarray,
    log_pi: np.ndarray,
    family: str = "normal",
    omega_logit: np.ndarray | None = None,
) -> np.ndarray:
    """log(pi_k) + log f_k(y_i) for every person and group (n × k). ``mu`` is the
    linear predictor of each group at each wave (T × k); ``omega_logit`` the logit
    of each group's zero-inflation (zip)."""
    if family in ("poisson", "logit"):
        # sum_t [y_it eta_t - b(eta_t)] + const_i over the observed waves
        return log_pi[None, :] + st.my @ mu - st.m @ _cumulant(mu, family) + st.const[:, None]
    if family == "zip":
        # a zero: log(omega + (1 - omega) e^-lambda) = log(e^g + e^-lambda) - log(1 + e^g);
        # a positive count: log(1 - omega) + y eta - lambda - log y!
        assert omega_logit is not None and st.lo is not None
        lam = np.exp(mu)
        zero = np.logaddexp(omega_logit[None, :], -lam)  # T × k
        cells = st.nobs + st.lo.sum(axis=1)  # observed waves of each person
        return (
            log_pi[None, :]
            + st.lo @ zero
            - cells[:, None] * np.logaddexp(0.0, omega_logit)[None, :]
            + st.my @ mu
            - st.m @ lam
            + st.const[:, None]
        )
    s2 = np.broadcast_to(sigma**2, log_pi.shape)
    quad = st.my2[:, None] - 2.0 * (st.my @ mu) + st.m @ (mu * mu)
    ld = (
        log_pi[None, :]
        - 0.5 * st.nobs[:, None] * (LOG_2PI + np.log(s2))[None, :]
        - quad / (2.0 * s2)[None, :]
    )
    if family == "cnorm":
        # at a bound: log Phi((L - mu) / sigma) or log(1 - Phi((U - mu) / sigma))
        assert st.lo is not None and st.hi is not None
        sd = np.sqrt(s2)[None, :]
        lower, upper = st.bounds
        if lower is not None:
            ld = ld + st.lo @ log_ndtr((lower - mu) / sd)
        if upper is not None:
            ld = ld + st.hi @ log_ndtr((mu - upper) / sd)
    return ld


def _mills(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``phi(v) / Phi(v)`` (the first derivative of log Phi) and the second
    derivative of log Phi, ``-lambda (v + lambda)``; stable in the far tails."""
    lam = np.exp(-0.5 * v * v - 0.5 * LOG_2PI - log_ndtr(v))
    return lam, -lam * (v + lam)


def _newton(
    evaluate: Callable[[np.ndarray, bool], tuple[float, np.ndarray, np.ndarray]],
    theta: np.ndarray,
    concave: bool,
    stop: Callable[[np.ndarray], bool] | None = None,
) -> np.ndarray | None:
    """Maximise by Newton steps with step halving, from ``theta``. ``evaluate(theta,
    derivatives)`` gives the value and (if asked) the gradient and Hessian. Where
    the function is not known to be ``concave`` the Hessian is damped (a multiple
    of the identity subtracted) until it is negative definite. ``stop(theta)``:
    stop early (e.g. a parameter has gone to its limit). None if the first
    Newton step cannot be computed."""
    value, grad, hess = evaluate(theta, True)
    if not np.isfinite(value):
        return None
    for it in range(100):
        neg = -hess
        damp = 0.0 if concave else 1e-10 * max(1.0, float(np.abs(np.diag(neg)).max()))
        for _ in range(30):
            try:
                chol = np.linalg.cholesky(neg + damp * np.eye(len(theta)))
                break
            except np.linalg.LinAlgError:
                damp = 10.0 * damp if damp > 0 else 1e-10 * max(1.0, float(np.abs(neg).max()))
        else:
            return None if it == 0 else theta
        step = np.linalg.solve(chol.T, np.linalg.solve(chol, grad))
        if not np.isfinite(step).all():
            return None if it == 0 else theta
        t = 1.0  # halve the step until the objective does not fall
        while not evaluate(theta + t * step, False)[0] >= value - 1e-13 * abs(value):
            t /= 2.0
            if t < 1e-8:
                return theta  # no ascent along the Newton direction: at the maximum
        theta = theta + t * step
        if np.abs(t * step).max() <= 1e-11 * (1.0 + np.abs(theta).max()):
            break
        if stop is not None and stop(theta):
            break
        value, grad, hess = evaluate(theta, True)
    return theta


def _cnorm_m_step(
    xs: list[np.ndarray],
    w: np.ndarray,
    s: np.ndarray,
    q: np.ndarray,
    clo: np.ndarray,
    chi: np.ndarray,
    bounds: Bounds,
    group_sigma: bool,
    previous: tuple[list[np.ndarray], np.ndarray] | None,
) -> tuple[list[np.ndarray], np.ndarray] | None:
    """The censored-normal M step: maximise the groups' weighted Tobit
    log-likelihood from per-wave sums (inside the bounds: weighted count ``w``,
    sum ``s`` (T × k) and sum of squares ``q`` (k); weighted counts at the lower
    and upper bound ``clo``, ``chi`` (T × k)) over all groups' coefficients and
    the shared sigma (or one per group) at once. Newton steps in Olsen's (1978)
    parametrisation ``gamma = beta / sigma``, ``tau = 1 / sigma``, where the Tobit
    log-likelihood is concave; from the previous M step or, the first time, from
    least squares with the cells at a bound taken at the bound."""
    lower, upper = bounds
    k = len(xs)
    edges = np.cumsum([0, *(x.shape[1] for x in xs)])
    nb = int(edges[-1])
    if previous is None:
        lo_v = 0.0 if lower is None else lower
        hi_v = 0.0 if upper is None else upper
        wf, sf = w + clo + chi, s + lo_v * clo + hi_v * chi
        qf = q + lo_v**2 * clo.sum(axis=0) + hi_v**2 * chi.sum(axis=0)
        betas = []
        for j, x in enumerate(xs):
            try:
                betas.append(np.linalg.solve(x.T @ (x * wf[:, j : j + 1]), x.T @ sf[:, j]))
            except np.linalg.LinAlgError:
                return None
        mu = np.column_stack([x @ b for x, b in zip(xs, betas, strict=True)])
        rss = np.maximum(qf - 2.0 * (mu * sf).sum(axis=0) + (mu * mu * wf).sum(axis=0), 1e-12)
        sigma = np.sqrt(rss / wf.sum(axis=0)) if group_sigma else np.sqrt([rss.sum() / wf.sum()])
    else:
        betas, sigma = previous
    if not np.isfinite(sigma).all() or (sigma <= 0).any():
        return None
    sig = np.broadcast_to(sigma, (k,))
    theta = np.concatenate([*(b / sig[j] for j, b in enumerate(betas)), 1.0 / sigma])

    def evaluate(theta: np.ndarray, derivatives: bool) -> tuple[float, np.ndarray, np.ndarray]:
        p = len(theta)
        grad, hess = np.zeros(p), np.zeros((p, p))
        tau = theta[nb:]
        if (tau <= 0).any():
            return -np.inf, grad, hess
        value = 0.0
        for j, x in enumerate(xs):
            it = nb + (j if group_sigma else 0)
            t = theta[it]
            a = x @ theta[edges[j] : edges[j + 1]]
            wj, sj = w[:, j], s[:, j]
            total = float(wj.sum())
            value += total * np.log(t) - 0.5 * (t * t * q[j] - 2.0 * t * (sj @ a) + wj @ (a * a))
            ga, gt = t * sj - wj * a, total / t - t * q[j] + sj @ a
            haa, hat, htt = -wj, sj.copy(), -total / (t * t) - q[j]
            for c, v, bound, sign in (
                (clo[:, j], None if lower is None else t * lower - a, lower, -1.0),
                (chi[:, j], None if upper is None else a - t * upper, upper, 1.0),
            ):
                if v is None or bound is None:
                    continue
                value += float(c @ log_ndtr(v))
                if derivatives:
                    lam, d2 = _mills(v)
                    # dv/da = sign, dv/dtau = -sign * bound
                    ga = ga + sign * c * lam
                    gt -= sign * bound * (c @ lam)
                    haa = haa + c * d2
                    hat = hat - bound * c * d2
                    htt += bound * bound * (c @ d2)
            if derivatives:
                sl = slice(edges[j], edges[j + 1])
                grad[sl] = x.T @ ga
                grad[it] += gt
                hess[sl, sl] = x.T @ (x * haa[:, None])
                hess[sl, it] = hess[it, sl] = x.T @ hat
                hess[it, it] += htt
        return value, grad, hess

    theta_new = _newton(evaluate, theta, concave=True)
    if theta_new is None:
        return None
    tau = theta_new[nb:]
    taus = np.broadcast_to(tau, (k,))
    return [theta_new[edges[j] : edges[j + 1]] / taus[j] for j in range(k)], 1.0 / tau


def _zip_group(
    x: np.ndarray,
    sy: np.ndarray,
    sp: np.ndarray,
    sz: np.ndarray,
    previous: tuple[np.ndarray, float] | None,
) -> tuple[np.ndarray, float] | None:
    """The zero-inflated Poisson M step of one group: maximise
    ``sum_t [sz_t log(omega + (1 - omega) e^-lambda_t) + sp_t log(1 - omega)
    + sy_t eta_t - sp_t lambda_t]`` over ``(beta, g = logit omega)``, from per-wave
    sums (weighted zeros ``sz``, weighted positive counts ``sp``, weighted sum of
    the values ``sy``), by damped Newton steps with the analytic Hessian; from the
    previous M step or, the first time, from the excess of zeros over a Poisson
    and a Poisson fit to the rest. A group without structural zeros takes omega
    towards 0: its steps stop when logit omega is below -25."""
    cells = sp + sz
    total = float(cells.sum())
    if previous is None:
        zbar, ybar = sz.sum() / total, sy.sum() / total
        omega0 = float(np.clip(zbar - np.exp(-ybar), 0.05, 0.9))
        beta0 = _glm_group(x, sy, cells * (1.0 - omega0), None, "poisson")
        if beta0 is None:
            return None
        theta = np.concatenate([beta0, [np.log(omega0 / (1.0 - omega0))]])
    else:
        theta = np.concatenate([previous[0], [previous[1]]])

    def evaluate(theta: np.ndarray, derivatives: bool) -> tuple[float, np.ndarray, np.ndarray]:
        b, g = theta[:-1], theta[-1]
        eta = x @ b
        lam = np.exp(eta)
        value = float(
            sz @ np.logaddexp(g, -lam) - total * np.logaddexp(0.0, g) + sy @ eta - sp @ lam
        )
        p = len(theta)
        grad, hess = np.zeros(p), np.zeros((p, p))
        if derivatives:
            rho = expit(g + lam)  # the posterior probability that a zero is structural
            om = float(expit(g))
            rr = rho * (1.0 - rho)
            grad[:-1] = x.T @ (sy - sp * lam - sz * (1.0 - rho) * lam)
            grad[-1] = sz @ rho - total * om
            hess[:-1, :-1] = x.T @ (
                x * (sz * (rr * lam * lam - (1.0 - rho) * lam) - sp * lam)[:, None]
            )
            hess[:-1, -1] = hess[-1, :-1] = x.T @ (sz * rr * lam)
            hess[-1, -1] = sz @ rr - total * om * (1.0 - om)
        return value, grad, hess

    theta_new = _newton(evaluate, theta, concave=False, stop=lambda th: bool(th[-1] < -25.0))
    if theta_new is None or not np.isfinite(theta_new).all():
        return None
    return theta_new[:-1], float(theta_new[-1])


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


#: The parameters of an EM iterate: betas, sigma, log_pi, logit omega (zip).
_Params = tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]


def _m_step(
    st: _Stats,
    r: np.ndarray,
    xs: list[np.ndarray],
    group_sigma: bool,
    family: str = "normal",
    previous: _Params | None = None,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Weighted least squares (normal) or Newton steps (the others) per group (cnorm:
    all groups at once); None if a group has emptied. Returns betas, sigma, log_pi,
    the linear predictor of each group at each wave (T × k) and logit omega (zip;
    else empty)."""
    w = st.m.T @ r  # T × k: weighted number of observations per wave
    s = st.my.T @ r  # T × k: weighted sum of values per wave
    nk = r.sum(axis=0)
    if (nk < 1e-6 * max(len(r), 1)).any():
        return None
    log_pi = np.log(nk / nk.sum())
    if family in ("poisson", "logit"):
        glm = []
        for j, x in enumerate(xs):
            start = None if previous is None else previous[0][j]
            b = _glm_group(x, s[:, j], w[:, j], start, family)
            if b is None:
                return None
            glm.append(b)
        eta = np.column_stack([x @ b for x, b in zip(xs, glm, strict=True)])
        if not np.isfinite(eta).all():
            return None
        return glm, np.empty(0), log_pi, eta, np.empty(0)
    if family == "zip":
        assert st.lo is not None
        z = st.lo.T @ r  # T × k: weighted number of zeros per wave
        betas, logits = [], []
        for j, x in enumerate(xs):
            prev = None if previous is None else (previous[0][j], float(previous[3][j]))
            res = _zip_group(x, s[:, j], w[:, j], z[:, j], prev)
            if res is None:
                return None
            betas.append(res[0])
            logits.append(res[1])
        eta = np.column_stack([x @ b for x, b in zip(xs, betas, strict=True)])
        if not np.isfinite(eta).all():
            return None
        return betas, np.empty(0), log_pi, eta, np.array(logits)
    q = st.my2 @ r  # k: weighted sum of squares
    if family == "cnorm":
        assert st.lo is not None and st.hi is not None
        res_c = _cnorm_m_step(
            xs, w, s, q, st.lo.T @ r, st.hi.T @ r, st.bounds, group_sigma,
            None if previous is None else (previous[0], previous[1]),
        )  # fmt: skip
        if res_c is None:
            return None
        betas, sigma = res_c
        mu = np.column_stack([x @ b for x, b in zip(xs, betas, strict=True)])
        if not np.isfinite(mu).all() or not np.isfinite(sigma).all() or (sigma < 1e-8).any():
            return None
        return betas, sigma, log_pi, mu, np.empty(0)
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
    return betas, sigma, log_pi, mu, np.empty(0)


#: An EM run: logL, posteriors, (betas, sigma, log_pi, logit omega), iterations, converged.
_Run = tuple[float, np.ndarray, _Params, int, bool]


def _em(
    st: _Stats,
    r: np.ndarray,
    xs: list[np.ndarray],
    group_sigma: bool,
    max_iter: int,
    tol: float,
    family: str = "normal",
    previous: _Params | None = None,
) -> _Run | None:
    """EM from posteriors ``r``: (logL, posteriors, (betas, sigma, log_pi, logit
    omega), iterations, converged), or None if the run degenerated. ``previous``:
    where the Newton steps of the first M step start (all but normal)."""
    old = -np.inf
    params = None
    for it in range(1, max_iter + 1):
        m = _m_step(st, r, xs, group_sigma, family, previous if params is None else params)
        if m is None:
            return None
        betas, sigma, log_pi, mu, omega_logit = m
        params = (betas, sigma, log_pi, omega_logit)
        ld = _log_densities(st, mu, sigma, log_pi, family, omega_logit)
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
    y = np.log1p(panel.y) if family in ("poisson", "zip") else panel.y
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
    bounds: Bounds | None = None,
) -> GBTMFit:
    """Fit a ``k``-group trajectory model by EM from several starts.

    ``family``: ``"normal"`` (the default), ``"poisson"`` (counts), ``"logit"``
    (0/1 outcomes), ``"cnorm"`` (a score censored at a floor and/or a ceiling) or
    ``"zip"`` (counts with structural zeros); values the family cannot have, and
    ``group_sigma`` outside the normal and cnorm families, are refused with a
    :class:`FivesafesError`. ``bounds`` (cnorm only): ``(lower, upper)``, either
    None for no bound on that side; by default the observed minimum and maximum
    (the fit's ``bounds`` says which were used). ``degree`` is the
    polynomial degree of every group, or one per group from the
    lowest level to the highest (the starts are ordered so; groups are reported
    in that order). ``starts`` k-means starts run ``short_iter`` EM iterations
    each; the ``keep`` best continue to convergence (relative change of logL
    below ``tol``). BLAS runs on one thread: the products are tall and thin
    (persons × waves by waves × groups), where threads only cost (17 ms instead of
    1.3 ms for 100,000 × 5 by 5 × 5 on a busy two-core machine).
    """
    check_family(family)
    check_group_sigma(group_sigma, family)
    resolved = resolve_bounds(panel.y, family, bounds)
    check_values(panel, family, resolved)
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_gbtm(
            panel, k, degree, group_sigma, starts, short_iter, keep, max_iter, tol, seed,
            standard_errors, family, resolved,
        )  # fmt: skip


def check_group_sigma(group_sigma: bool, family: str) -> None:
    """One sigma per group needs a family with a sigma (normal, cnorm)."""
    if group_sigma and family not in ("normal", "cnorm"):
        raise FivesafesError(
            f"group_sigma (one sigma per group) is for the normal family only (and its "
            f"censored form, cnorm): the {family} family has no sigma (its variance "
            "follows from its mean)"
        )


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
    bounds: Bounds = (None, None),
) -> GBTMFit:
    degrees = [int(degree)] * k if isinstance(degree, int) else [int(d) for d in degree]
    if len(degrees) != k:
        raise ValueError(f"{len(degrees)} degrees given for {k} groups")
    times = np.asarray(panel.times, dtype=float)
    centre = float(times.mean())
    scale = float(times.std()) or 1.0
    u = (times - centre) / scale
    xs = [_design(u, d) for d in degrees]
    st = _Stats.of(panel, family, bounds)
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
            else _em(st, r, xs, group_sigma, max_iter, tol, family, params)
        )
        if run is None:
            continue
        if best is None or run[0] > best[0]:
            best = (run[0], run[1], run[2], run[3] + (0 if conv else it0), run[4])
    if best is None:
        raise ValueError(f"the {k}-group model lost a group in every run: left out")
    ll, r, (betas, sigma, log_pi, omega_logit), iterations, converged = best
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
        omega_logit=omega_logit,
        bounds=bounds,
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
    theta: np.ndarray, degrees: list[int], ns: int, nz: int = 0
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """betas, sigma, log_pi and logit omega from theta (see :func:`pack`)."""
    betas, pos = [], 0
    for d in degrees:
        betas.append(theta[pos : pos + d + 1])
        pos += d + 1
    sigma = np.exp(theta[pos : pos + ns])
    pos += ns
    omega_logit = theta[pos : pos + nz]
    pos += nz
    alpha = np.concatenate([[0.0], theta[pos:]])
    return betas, sigma, alpha - _logsumexp_rows(alpha[None, :])[0], omega_logit


def pack(fit: GBTMFit) -> np.ndarray:
    """theta = (scaled betas, log sigma (normal, cnorm), logit omega of each group
    (zip), logits of groups 2..k against group 1)."""
    return np.concatenate(
        [*fit.betas, np.log(fit.sigma), fit.omega_logit, fit.log_pi[1:] - fit.log_pi[0]]
    )


def theta_index(fit: GBTMFit, what: Literal["sigma", "omega"]) -> slice:
    """Where log sigma or the logits of omega are in theta (and the covariance)."""
    start = sum(d + 1 for d in fit.degrees)
    if what == "sigma":
        return slice(start, start + len(fit.sigma))
    start += len(fit.sigma)
    return slice(start, start + len(fit.omega_logit))


def log_likelihood_and_score(
    panel: Panel, fit: GBTMFit, theta: np.ndarray, st: _Stats | None = None
) -> tuple[float, np.ndarray]:
    """The observed-data log-likelihood at ``theta`` and its gradient (analytic)."""
    st = st or _Stats.of(panel, fit.family, fit.bounds)
    u = (np.asarray(panel.times, dtype=float) - fit.centre) / fit.scale
    xs = [_design(u, d) for d in fit.degrees]
    ns = len(fit.sigma)
    betas, sigma, log_pi, omega_logit = _unpack(theta, fit.degrees, ns, len(fit.omega_logit))
    mu = np.column_stack([x @ b for x, b in zip(xs, betas, strict=True)])
    ld = _log_densities(st, mu, sigma, log_pi, fit.family, omega_logit)
    total = _logsumexp_rows(ld)
    r = np.exp(ld - total[:, None])
    w = st.m.T @ r
    s = st.my.T @ r
    pi = np.exp(log_pi)
    if fit.family in ("poisson", "logit"):
        mean = _inverse_link(mu, fit.family)
        grads = [x.T @ (s[:, j] - mean[:, j] * w[:, j]) for j, x in enumerate(xs)]
        grads.append((r.sum(axis=0) - len(r) * pi)[1:])
        return float(total.sum()), np.concatenate(grads)
    if fit.family == "zip":
        assert st.lo is not None
        z = st.lo.T @ r  # weighted zeros per wave
        lam = np.exp(mu)
        rho = expit(omega_logit[None, :] + lam)  # P(structural | zero)
        grads = [
            x.T @ (s[:, j] - w[:, j] * lam[:, j] - z[:, j] * (1.0 - rho[:, j]) * lam[:, j])
            for j, x in enumerate(xs)
        ]
        grads.append((z * rho).sum(axis=0) - (w + z).sum(axis=0) * expit(omega_logit))
        grads.append((r.sum(axis=0) - len(r) * pi)[1:])
        return float(total.sum()), np.concatenate(grads)
    q = st.my2 @ r
    s2 = np.broadcast_to(sigma**2, log_pi.shape)
    sd = np.sqrt(s2)
    # cnorm: d/d mu and d/d log sigma of the log-probabilities of the cells at a bound
    d_mu, d_ls = np.zeros_like(mu), np.zeros(len(log_pi))
    if fit.family == "cnorm":
        assert st.lo is not None and st.hi is not None
        lower, upper = st.bounds
        for mask, bound, sign in ((st.lo, lower, -1.0), (st.hi, upper, 1.0)):
            if bound is None:
                continue
            v = sign * (mu - bound) / sd[None, :]  # log Phi(v)
            lam, _ = _mills(v)
            c = mask.T @ r
            d_mu += sign * c * lam / sd[None, :]
            d_ls -= (c * lam * v).sum(axis=0)
    grads = []
    for j, x in enumerate(xs):
        grads.append(x.T @ ((s[:, j] - mu[:, j] * w[:, j]) / s2[j] + d_mu[:, j]))
    rss = q - 2.0 * (mu * s).sum(axis=0) + (mu * mu * w).sum(axis=0)
    g_sigma = -w.sum(axis=0) + rss / s2 + d_ls
    grads.append(np.array([g_sigma.sum()]) if ns == 1 else g_sigma)
    grads.append((r.sum(axis=0) - len(r) * pi)[1:])
    return float(total.sum()), np.concatenate(grads)


def covariance(panel: Panel, fit: GBTMFit) -> np.ndarray | None:
    """Inverse of the observed information (central differences of the score)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _covariance(panel, fit)


def _covariance(panel: Panel, fit: GBTMFit) -> np.ndarray | None:
    st = _Stats.of(panel, fit.family, fit.bounds)
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
