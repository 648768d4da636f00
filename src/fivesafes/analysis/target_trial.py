"""Target trial emulation for a point treatment on longitudinal records.

Follows the protocol of Hernán & Robins (2016), "Using big data to emulate a
target trial when a randomized trial is not available" (Am J Epidemiol 183:758):
write down the trial one would like to run — eligibility, treatment strategies,
assignment, time zero, follow-up, outcome, causal contrast, analysis plan — and
emulate each element with the observational data. Two designs:

- **Sequential trials** (``time_zero="every"``; Hernán et al. 2008, Danaei et
  al. 2013): a new trial starts at every period in which a person is eligible
  (not yet treated, no outcome yet, the eligibility column true, and the
  records go on for the whole follow-up); those who start treatment then are
  the treated arm, the others the control arm. Pooled over trials, the
  estimand is the average effect over the trials' eligible persons.
- **Clone–censor–weight** (``time_zero="first"``; Hernán 2018, Maringe et al.
  2020): one time zero per person, the first period they are eligible; each
  person is *cloned* into both arms, so assignment at time zero needs no
  choice, and each clone is *censored* when its data stop following its
  arm's strategy. The strategies are "start treatment within ``grace``
  periods of time zero" and "do not start during follow-up".

Both are one engine: the control arm's clone is censored when the person starts
treatment; the treated arm's clone is censored at the end of the grace period
(period ``grace`` of follow-up) if the person has not started by then (with
``grace=0``: at time zero, which is the arm assignment of a sequential trial).
Censoring depends on the time-varying confounders, so uncensored clones are
weighted by the inverse probability of remaining uncensored, from a pooled
logistic model of starting treatment (person-periods at risk of starting:
confounders and period, linear and squared). Weights are *stabilised* by the
overall probability of starting (a numerator that depends on neither the
confounders nor calendar time, so that trials pooled at the same follow-up
period keep the same mix in both arms), and may be truncated at percentiles.
Within a period the order is: confounders measured, treatment decided (a clone
censored now does not contribute this period's outcome), then the outcome.

The outcome is the risk of the event by the end of ``follow_up`` periods under
each strategy: weighted discrete-time hazards per arm and follow-up period
(nonparametric; the weighted Kaplan–Meier), or a weighted pooled logistic
model of the hazard (arm, follow-up period and its square and their
interactions, plus baseline covariates measured at time zero), standardised
over everyone at time zero. The causal contrasts are the risk difference and
the risk ratio. Confidence intervals are percentile bootstraps over persons
(the models are refitted in every replicate; a person's clones and trials are
resampled together). The unweighted estimate of the same design is reported
beside it, as the naive estimate that ignores time-varying confounding.

Persons whose records end before the end of follow-up without the outcome are
censored then (assumed not informative). Treatment is a point treatment: the
period it starts matters; stopping it later is not modelled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from fivesafes.analysis.result import AnalysisResult
from fivesafes.errors import FivesafesError
from fivesafes.outputs.objects import FrequencyTable, RegressionResult

TimeZero = Literal["first", "every"]
OutcomeModel = Literal["nonparametric", "pooled_logistic"]


@dataclass
class Protocol:
    """The target trial, and the columns of the person-period data that emulate it.

    The data have one row per person and period (consecutive integers, from the
    person's first period to the last observed: the outcome period or the end of
    records). ``treatment`` is 1 from the period treatment starts (a 1 followed by
    0s counts as started); ``outcome`` is 1 in the period of the event.
    """

    id: str
    period: str
    treatment: str
    outcome: str
    confounders: Sequence[str]
    follow_up: int
    time_zero: TimeZero = "first"
    grace: int = 0
    eligible: str | None = None  # a 0/1 column: may this period be time zero?
    baseline: Sequence[str] = ()  # covariates at time zero for the outcome model
    treatment_name: str = "start treatment"
    outcome_name: str = "the outcome"

    def describe(self) -> list[dict[str, str]]:
        """The protocol's elements and how each is emulated (Hernán & Robins 2016, table 1)."""
        start = (
            f"start {self.treatment_name} at time zero"
            if self.grace == 0
            else f"start {self.treatment_name} within {self.grace} period(s) of time zero"
        )
        eligibility = "not yet started treatment and no outcome yet"
        if self.eligible:
            eligibility += f", and {self.eligible} true in that period"
        zero = (
            "the first period each person is eligible"
            if self.time_zero == "first"
            else "every period each person is eligible (a sequence of nested trials)"
        )
        assignment = (
            "each person is cloned into both arms at time zero; a clone is censored when its "
            "data stop following its arm's strategy, and weighted by the inverse probability "
            "of remaining uncensored"
            if self.time_zero == "first"
            else "by the treatment started at each trial's time zero, weighted by the inverse "
            "probability of that treatment given the confounders (and, in the control arm, "
            "of not starting later)"
        )
        return [
            {"element": "eligibility", "emulation": eligibility},
            {
                "element": "treatment strategies",
                "emulation": f"(1) {start}; (0) do not start {self.treatment_name} during "
                f"follow-up",
            },
            {"element": "assignment", "emulation": assignment},
            {"element": "time zero", "emulation": zero},
            {
                "element": "follow-up",
                "emulation": f"{self.follow_up} period(s) from time zero, to the outcome, "
                "the end of records, or censoring for deviating from the strategy",
            },
            {"element": "outcome", "emulation": f"{self.outcome_name} ({self.outcome})"},
            {
                "element": "causal contrast",
                "emulation": "per-protocol effect: risk difference and risk ratio by the end of "
                "follow-up",
            },
            {
                "element": "analysis",
                "emulation": "inverse probability of censoring weights (stabilised) from pooled "
                f"logistic models of starting treatment on {', '.join(self.confounders)} and "
                "period; weighted risks per arm; percentile bootstrap over persons",
            },
        ]


@dataclass
class Estimate:
    risk_treated: float
    risk_untreated: float
    curve_treated: np.ndarray  # risk by the end of each follow-up period
    curve_untreated: np.ndarray

    @property
    def risk_difference(self) -> float:
        return self.risk_treated - self.risk_untreated

    @property
    def risk_ratio(self) -> float:
        return self.risk_treated / self.risk_untreated if self.risk_untreated else float("nan")


@dataclass
class _Design:
    """The data in arrays, and the expanded trials (time zeros × follow-up)."""

    person: np.ndarray  # person index per data row
    n_persons: int
    x_den: np.ndarray  # design of the treatment model, rows at risk of starting
    at_risk: np.ndarray  # data rows at risk of starting (not started before)
    start: np.ndarray  # starts treatment in this row (at risk rows)
    tz_person: np.ndarray  # person of each time zero
    rows: np.ndarray  # time zeros × follow-up: data row, -1 beyond the records
    started: np.ndarray  # started at or before that row
    offset: np.ndarray  # per time zero: follow-up period of starting (large if never)
    event: np.ndarray  # outcome in that row
    baseline: np.ndarray  # baseline covariates per time zero
    trials: int
    start_params: list[np.ndarray] = field(default_factory=list)


@dataclass
class TargetTrialResult:
    protocol: Protocol
    weighted: Estimate
    naive: Estimate
    ci: dict[str, tuple[float, float]]
    naive_ci: dict[str, tuple[float, float]]
    curve_ci: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # lo/hi treated, untreated
    persons: int
    time_zeros: int
    trials: int
    # arm, time_zeros (clones), following_at_time_zero (in the arm after time zero's
    # decision), persons (of those), events, censored (for deviating from the strategy)
    arm_counts: pd.DataFrame
    weights: dict[str, float]
    bootstrap: int
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        w, n = self.weighted, self.naive
        return {
            "design": "clone-censor-weight"
            if self.protocol.time_zero == "first"
            else "sequential trials",
            "follow_up": self.protocol.follow_up,
            "grace": self.protocol.grace,
            "persons": self.persons,
            "time_zeros": self.time_zeros,
            "trials": self.trials,
            "risk_treated": w.risk_treated,
            "risk_treated_ci": list(self.ci["risk_treated"]),
            "risk_untreated": w.risk_untreated,
            "risk_untreated_ci": list(self.ci["risk_untreated"]),
            "risk_difference": w.risk_difference,
            "risk_difference_ci": list(self.ci["risk_difference"]),
            "risk_ratio": w.risk_ratio,
            "risk_ratio_ci": list(self.ci["risk_ratio"]),
            "naive_risk_difference": n.risk_difference,
            "naive_risk_difference_ci": list(self.naive_ci["risk_difference"]),
            "bootstrap": self.bootstrap,
            "weights": self.weights,
            "protocol": self.protocol.describe(),
            "notes": self.notes,
        }

    def result(self) -> AnalysisResult:
        """As the common result: estimates, risk curves and arm counts, each with
        the output object the disclosure rules read, and a figure."""
        out = AnalysisResult(method="target_trial", summary=self.summary())
        rows = []
        for name in ("risk_treated", "risk_untreated", "risk_difference", "risk_ratio"):
            lo, hi = self.ci[name]
            rows.append(
                {
                    "estimate": name,
                    "value": getattr(self.weighted, name),
                    "ci_low": lo,
                    "ci_high": hi,
                }
            )
        lo, hi = self.naive_ci["risk_difference"]
        rows.append(
            {
                "estimate": "naive_risk_difference",
                "value": self.naive.risk_difference,
                "ci_low": lo,
                "ci_high": hi,
            }
        )
        estimates = pd.DataFrame(rows)
        counts = self.arm_counts.set_index("arm")
        out.add_table(
            "target_trial_estimates",
            estimates,
            "Risks by the end of follow-up under each strategy, their difference and ratio "
            "(95% bootstrap intervals), and the unweighted (naive) difference.",
            RegressionResult(
                names=list(estimates["estimate"]),
                coefficients=estimates["value"].to_numpy(dtype=float),
                dof=float(self.persons - 2),
                level_counts={
                    "risk_treated": int(counts.loc["treated", "events"]),
                    "risk_untreated": int(counts.loc["untreated", "events"]),
                },
            ),
        )
        f = self.protocol.follow_up
        curves = pd.DataFrame(
            {
                "arm": ["treated"] * f + ["untreated"] * f,
                "follow_up_period": list(range(f)) * 2,
                "risk": np.r_[self.weighted.curve_treated, self.weighted.curve_untreated],
                "ci_low": np.r_[self.curve_ci[0], self.curve_ci[2]],
                "ci_high": np.r_[self.curve_ci[1], self.curve_ci[3]],
            }
        )
        arms = self.arm_counts.melt(
            id_vars="arm", value_vars=["events", "censored"], var_name="status", value_name="n"
        )
        table = FrequencyTable.from_microdata(
            arms.loc[arms.index.repeat(arms["n"].astype(int))], ["arm", "status"]
        )
        out.add_table(
            "target_trial_risk_curves",
            curves,
            "Cumulative risk by follow-up period under each strategy (weighted).",
            table,
        )
        out.add_table(
            "target_trial_arms",
            self.arm_counts,
            "Per arm: clones made at time zero, those following the arm's strategy then, "
            "their persons, events, and clones censored for deviating (before weighting).",
            table,
        )
        out.add_figure(
            "target_trial_risk_curves_figure",
            _figure(curves),
            "Cumulative risk under each strategy, with 95% bootstrap bands.",
            table,
        )
        out.notes += self.notes
        return out


def _figure(curves: pd.DataFrame) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    for arm, part in curves.groupby("arm"):
        x = part["follow_up_period"] + 1
        ax.step(x, part["risk"], where="post", label=str(arm))
        ax.fill_between(x, part["ci_low"], part["ci_high"], step="post", alpha=0.2)
    ax.set_xlabel("periods since time zero")
    ax.set_ylabel("cumulative risk")
    ax.legend()
    return fig


def _validate(data: pd.DataFrame, p: Protocol) -> pd.DataFrame:
    cols = [p.id, p.period, p.treatment, p.outcome, *p.confounders, *p.baseline]
    if p.eligible:
        cols.append(p.eligible)
    missing = [c for c in dict.fromkeys(cols) if c not in data.columns]
    if missing:
        raise FivesafesError(
            f"the data have no column(s) {', '.join(missing)}; they have "
            f"{', '.join(map(str, data.columns))}"
        )
    if p.follow_up < 1:
        raise FivesafesError("follow_up must be at least 1 period")
    if not 0 <= p.grace < p.follow_up:
        raise FivesafesError("grace must be from 0 to follow_up − 1 periods")
    if not p.confounders:
        raise FivesafesError("name the confounders the treatment model adjusts for")
    df = data[list(dict.fromkeys(cols))].copy()
    for c in (p.treatment, p.outcome, *([p.eligible] if p.eligible else [])):
        bad = ~df[c].isin([0, 1, True, False])
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise FivesafesError(
                f"{c} must be 0 or 1; row {row + 1} (person {df[p.id].iloc[row]}, period "
                f"{df[p.period].iloc[row]}) has {df[c].iloc[row]!r}"
            )
    for c in [*p.confounders, *p.baseline]:
        if df[c].isna().any():
            row = int(np.flatnonzero(df[c].isna().to_numpy())[0])
            raise FivesafesError(
                f"{c} is missing in row {row + 1} (person {df[p.id].iloc[row]}); the weights "
                "need every confounder recorded (impute or carry forward first)"
            )
    df = df.sort_values([p.id, p.period], kind="stable").reset_index(drop=True)
    per = pd.to_numeric(df[p.period], errors="raise").to_numpy()
    same = df[p.id].to_numpy()[1:] == df[p.id].to_numpy()[:-1]
    gap = same & (np.diff(per) != 1)
    if gap.any():
        row = int(np.flatnonzero(gap)[0]) + 1
        raise FivesafesError(
            f"person {df[p.id].iloc[row]}'s periods are not consecutive (period "
            f"{per[row - 1]} then {per[row]}); give one row per period"
        )
    # nothing after a person's first event
    ev = df[p.outcome].astype(int)
    upto = ev.groupby(df[p.id], sort=False).cumsum()
    after = (upto - ev).to_numpy()  # events in earlier periods
    return df[after == 0].reset_index(drop=True)


def _design_matrix(df: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    parts = []
    for c in columns:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            parts.append(s.to_numpy(dtype=float)[:, None])
        else:
            d = pd.get_dummies(s.astype(str), prefix=c, drop_first=True, dtype=float)
            parts.append(d.to_numpy())
    return np.hstack(parts) if parts else np.zeros((len(df), 0))


def _build(data: pd.DataFrame, p: Protocol) -> _Design:
    df = _validate(data, p)
    person, uniques = pd.factorize(df[p.id])
    n = len(df)
    per = df[p.period].to_numpy(dtype=float)
    treated = df[p.treatment].astype(int).to_numpy()
    started = (
        pd.Series(treated).groupby(person).cummax().to_numpy().astype(bool)
        if n
        else np.zeros(0, bool)
    )
    first = np.r_[True, person[1:] != person[:-1]] if n else np.zeros(0, bool)
    before = np.where(first, False, np.r_[False, started[:-1]])
    at_risk = ~before
    start = started & at_risk
    event = df[p.outcome].astype(int).to_numpy().astype(bool)
    centre = per - per.mean() if n else per
    scale = max(float(np.abs(centre).max()) if n else 1.0, 1.0)
    t = centre / scale
    x_den = np.column_stack([np.ones(n), t, t**2, _design_matrix(df, p.confounders)])

    eligible = at_risk.copy()
    if p.eligible:
        eligible &= df[p.eligible].astype(bool).to_numpy()
    tz = np.flatnonzero(eligible)
    if p.time_zero == "first":
        tz = tz[np.r_[True, person[tz][1:] != person[tz][:-1]]] if len(tz) else tz
    elif p.time_zero == "every":
        # only trials that can be followed to the end before the records stop
        tz = tz[per[tz] + p.follow_up - 1 <= per.max()] if len(tz) else tz
    else:
        raise FivesafesError(f"time_zero must be 'first' or 'every', not {p.time_zero!r}")
    last = pd.Series(np.arange(n)).groupby(person).transform("max").to_numpy()
    j = np.arange(p.follow_up)
    rows = tz[:, None] + j[None, :]
    rows = np.where(rows <= last[tz][:, None], rows, -1)
    valid = rows >= 0
    safe = np.where(valid, rows, 0)
    started_m = np.where(valid, started[safe], False)
    # follow-up period in which the person starts treatment (follow_up if not within it)
    offset = np.where(started_m.any(axis=1), started_m.argmax(axis=1), p.follow_up)
    event_m = np.where(valid, event[safe], False)
    base = _design_matrix(df.iloc[tz], p.baseline) if p.baseline else np.zeros((len(tz), 0))
    return _Design(
        person=person,
        n_persons=len(uniques),
        x_den=x_den,
        at_risk=at_risk,
        start=start,
        tz_person=person[tz],
        rows=rows,
        started=started_m,
        offset=offset,
        event=event_m,
        baseline=base,
        trials=len(np.unique(per[tz])) if len(tz) else 0,
    )


def _logit_fit(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, start: list[np.ndarray] | None = None
) -> np.ndarray:
    """Probabilities from a weighted logistic regression (statsmodels GLM); ``start``
    holds the full sample's coefficients, from which bootstrap refits begin."""
    import statsmodels.api as sm

    keep = w > 0
    model = sm.GLM(y[keep], x[keep], family=sm.families.Binomial(), freq_weights=w[keep])
    res = model.fit(start_params=start[0] if start else None)
    if start is not None and not start:
        start.append(np.asarray(res.params))
    return np.asarray(res.predict(x))


def _estimate(
    d: _Design,
    p: Protocol,
    counts: np.ndarray,
    weighted: bool,
    outcome_model: OutcomeModel,
    truncate: float | None,
    keep_weights: list[np.ndarray] | None = None,
) -> Estimate:
    f = p.follow_up
    n_tz = len(d.tz_person)
    valid = d.rows >= 0
    safe = np.where(valid, d.rows, 0)
    jj = np.broadcast_to(np.arange(f), (n_tz, f))
    if weighted:
        rw = counts[d.person] * d.at_risk
        y = d.start.astype(float)
        p_den = np.clip(_logit_fit(d.x_den, y, rw, d.start_params), 1e-6, 1 - 1e-6)
        # the stabilising numerator: the overall probability of starting
        p_num = np.full(len(y), np.clip((rw * y).sum() / rw.sum(), 1e-6, 1 - 1e-6))
        pd_m, pn_m = p_den[safe], p_num[safe]
    else:
        pd_m = pn_m = np.full((n_tz, f), 0.5)
    off = d.offset[:, None]
    # untreated arm: in follow-up while not started; factor (1 − p_num)/(1 − p_den) each period
    inc0 = valid & ~d.started
    fac0 = np.where(inc0, (1 - pn_m) / (1 - pd_m), 1.0)
    # treated arm: in follow-up before the end of grace, and after if started by then;
    # the factor p_num/p_den where the person starts at the end of grace
    inc1 = valid & ((jj < p.grace) | (off <= p.grace))
    fac1 = np.where(inc1 & (jj == p.grace) & (off == p.grace), pn_m / pd_m, 1.0)
    w0 = np.cumprod(fac0, axis=1)
    w1 = np.cumprod(fac1, axis=1)
    if truncate is not None and weighted:
        both = np.r_[w0[inc0], w1[inc1]]
        lo, hi = np.quantile(both, [1 - truncate, truncate]) if len(both) else (0.0, np.inf)
        w0, w1 = np.clip(w0, lo, hi), np.clip(w1, lo, hi)
    if keep_weights is not None:
        keep_weights += [w0[inc0], w1[inc1]]
    c = counts[d.tz_person][:, None]
    w0 = np.where(inc0, w0, 0.0) * c
    w1 = np.where(inc1, w1, 0.0) * c
    ev = d.event.astype(float)
    if outcome_model == "nonparametric":
        curves = []
        for w in (w1, w0):
            at = w.sum(axis=0)
            h = np.divide((w * ev).sum(axis=0), at, out=np.zeros(f), where=at > 0)
            curves.append(1 - np.cumprod(1 - h))
        return Estimate(curves[0][-1], curves[1][-1], curves[0], curves[1])
    if outcome_model != "pooled_logistic":
        raise FivesafesError(
            f"outcome_model must be 'nonparametric' or 'pooled_logistic', not {outcome_model!r}"
        )
    return _pooled_logistic(d, f, w0, w1, inc0, inc1, ev, counts)


def _pooled_logistic(
    d: _Design,
    f: int,
    w0: np.ndarray,
    w1: np.ndarray,
    inc0: np.ndarray,
    inc1: np.ndarray,
    ev: np.ndarray,
    counts: np.ndarray,
) -> Estimate:
    import statsmodels.api as sm

    n_tz = len(d.tz_person)
    jn = np.broadcast_to(np.arange(f) / max(f - 1, 1), (n_tz, f))
    base = d.baseline

    def design(arm: float, j: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = np.full(len(j), arm)
        return np.column_stack([np.ones(len(j)), a, j, j**2, a * j, a * j**2, b])

    xs, ys, ws = [], [], []
    for arm, inc, w in ((1.0, inc1, w1), (0.0, inc0, w0)):
        idx = np.nonzero(inc & (w > 0))
        xs.append(design(arm, jn[idx], base[idx[0]]))
        ys.append(ev[idx])
        ws.append(w[idx])
    model = sm.GLM(
        np.concatenate(ys),
        np.vstack(xs),
        family=sm.families.Binomial(),
        var_weights=np.concatenate(ws),
    )
    params = np.asarray(model.fit().params)
    c = counts[d.tz_person].astype(float)
    curves = []
    for arm in (1.0, 0.0):
        haz = np.empty((n_tz, f))
        for k in range(f):
            x = design(arm, np.full(n_tz, jn[0, k]), base)
            haz[:, k] = 1 / (1 + np.exp(-(x @ params)))
        risk = 1 - np.cumprod(1 - haz, axis=1)
        curves.append((risk * c[:, None]).sum(axis=0) / c.sum())
    return Estimate(curves[0][-1], curves[1][-1], curves[0], curves[1])


def emulate(
    data: pd.DataFrame,
    protocol: Protocol,
    bootstrap: int = 200,
    seed: int = 0,
    outcome_model: OutcomeModel = "nonparametric",
    truncate: float | None = None,
) -> TargetTrialResult:
    """Emulate the target trial ``protocol`` on person-period ``data``."""
    with _one_blas_thread():
        return _emulate(data, protocol, bootstrap, seed, outcome_model, truncate)


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """The models here are narrow (a few columns), where threaded BLAS only costs:
    on a busy machine one thread is many times faster."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - it comes with scipy's stack
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _emulate(
    data: pd.DataFrame,
    protocol: Protocol,
    bootstrap: int,
    seed: int,
    outcome_model: OutcomeModel,
    truncate: float | None,
) -> TargetTrialResult:
    d = _build(data, protocol)
    if len(d.tz_person) == 0:
        raise FivesafesError("no one is eligible at any period: no trial to emulate")
    ones = np.ones(d.n_persons)
    weights: list[np.ndarray] = []
    est = _estimate(d, protocol, ones, True, outcome_model, truncate, weights)
    naive = _estimate(d, protocol, ones, False, outcome_model, None)
    rng = np.random.default_rng(seed)
    names = ("risk_treated", "risk_untreated", "risk_difference", "risk_ratio")
    reps: dict[str, list[float]] = {k: [] for k in names}
    naive_rd: list[float] = []
    curves1, curves0 = [], []
    for _ in range(bootstrap):
        counts = rng.multinomial(d.n_persons, np.full(d.n_persons, 1 / d.n_persons)).astype(float)
        e = _estimate(d, protocol, counts, True, outcome_model, truncate)
        for k in names:
            reps[k].append(float(getattr(e, k)))
        curves1.append(e.curve_treated)
        curves0.append(e.curve_untreated)
        naive_rd.append(_estimate(d, protocol, counts, False, outcome_model, None).risk_difference)

    def pct(values: Sequence[float]) -> tuple[float, float]:
        if not len(values):
            return (float("nan"), float("nan"))
        lo, hi = np.nanpercentile(np.asarray(values, dtype=float), [2.5, 97.5])
        return float(lo), float(hi)

    ci = {k: pct(v) for k, v in reps.items()}
    if bootstrap:
        c1, c0 = np.array(curves1), np.array(curves0)
        curve_ci = (
            np.percentile(c1, 2.5, axis=0),
            np.percentile(c1, 97.5, axis=0),
            np.percentile(c0, 2.5, axis=0),
            np.percentile(c0, 97.5, axis=0),
        )
    else:
        nan = np.full(protocol.follow_up, np.nan)
        curve_ci = (nan, nan, nan, nan)
    all_w = np.concatenate(weights) if weights else np.zeros(0)
    valid = d.rows >= 0
    jj = np.arange(protocol.follow_up)[None, :]
    inc0 = valid & ~d.started
    inc1 = valid & ((jj < protocol.grace) | (d.offset[:, None] <= protocol.grace))
    arm_rows = []
    for arm, inc in (("treated", inc1), ("untreated", inc0)):
        at_zero = inc[:, 0]
        ev = (d.event & inc).any(axis=1)
        # censored for deviating: in the arm at time zero, left before the end without the event
        stays = inc.sum(axis=1)
        ended = valid.sum(axis=1)
        censored = at_zero & ~ev & (stays < ended)
        arm_rows.append(
            {
                "arm": arm,
                "time_zeros": len(d.tz_person),
                "following_at_time_zero": int(at_zero.sum()),
                "persons": len(np.unique(d.tz_person[at_zero])),
                "events": int(ev.sum()),
                "censored": int(censored.sum()),
            }
        )
    notes = []
    if protocol.time_zero == "every":
        notes.append(
            "Sequential trials: a person can be in several trials; the bootstrap resamples "
            "persons, so the intervals allow for it."
        )
    return TargetTrialResult(
        protocol=protocol,
        weighted=est,
        naive=naive,
        ci=ci,
        naive_ci={"risk_difference": pct(naive_rd)},
        curve_ci=curve_ci,
        persons=d.n_persons,
        time_zeros=len(d.tz_person),
        trials=d.trials,
        arm_counts=pd.DataFrame(arm_rows),
        weights={
            "mean": float(all_w.mean()) if len(all_w) else float("nan"),
            "sd": float(all_w.std()) if len(all_w) else float("nan"),
            "min": float(all_w.min()) if len(all_w) else float("nan"),
            "p99": float(np.quantile(all_w, 0.99)) if len(all_w) else float("nan"),
            "max": float(all_w.max()) if len(all_w) else float("nan"),
        },
        bootstrap=bootstrap,
        notes=notes,
    )


__all__ = ["Estimate", "Protocol", "TargetTrialResult", "emulate"]
