"""Group-based trajectory modelling: fit 1..K groups, choose K by BIC, report.

:func:`fit_trajectories` takes a long table (one row per person and time) and
fits finite mixtures of polynomial trajectories (:mod:`fivesafes.analysis.gbtm`)
of a normal outcome, of counts (``family="poisson"``), of 0/1 outcomes
(``family="logit"``), of a score censored at a floor or ceiling
(``family="cnorm"``) or of counts with structural zeros (``family="zip"``) with
1..K groups, chooses the number of groups by BIC and returns a
:class:`TrajectoryResult`: per group the estimated proportion, the average
posterior probability (AvePP), the odds of correct classification (OCC), the
polynomial coefficients with standard errors, and each person's posterior
probabilities and modal group. :meth:`TrajectoryResult.analysis_result` gives the
tables and the figure with their output objects (a
:class:`~fivesafes.outputs.GroupSummary` of the group sizes, so that a small
group is flagged by the disclosure rules). :func:`read_long_csv` reads and
validates a long CSV for the command line.

BIC convention: ``BIC = -2 logL + p ln(N)``, N the number of persons, p the free
parameters; the smallest is best.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from math import log
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fivesafes.analysis.gbtm import (
    Bounds,
    Family,
    GBTMFit,
    Panel,
    bounds_text,
    check_family,
    check_group_sigma,
    fit_gbtm,
    resolve_bounds,
)
from fivesafes.errors import FivesafesError, InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

    from fivesafes.analysis.result import AnalysisResult
    from fivesafes.outputs import FrequencyTable, GroupSummary

Progress = Callable[[str, float], None]

BIC_CONVENTION = "-2 logL + p ln(N), N = persons; smallest is best"
#: Fewest persons per group of the largest model asked for.
MIN_PERSONS_PER_GROUP = 10
#: Most distinct times (waves): the data are held as persons × times.
MAX_TIMES = 200
#: What the fitted trajectory of each family is (its scale).
OUTCOME_SCALE = {
    "normal": "mean",
    "poisson": "expected count",
    "logit": "probability",
    "cnorm": "expected observed value",  # E[clip(y*, lower, upper)]
    "zip": "expected count",  # (1 - omega) exp(eta)
}
#: What the coefficients are: the polynomial on the family's link scale.
LINK_SCALE = {
    "normal": "mean",
    "poisson": "log expected count",
    "logit": "log-odds",
    "cnorm": "latent mean (before censoring)",
    "zip": "log expected count of the non-zero-inflated part",
}


@dataclass
class GroupReport:
    """One group of a fitted model, as reported."""

    group: int  # 1-based, from the lowest to the highest mean level
    proportion: float  # estimated mixing proportion
    assigned: int  # persons whose modal (most probable) group this is
    avg_posterior: float | None  # mean posterior of this group among those assigned to it
    occ: float | None  # odds of correct classification
    coefficients: list[float]  # of 1, t, t², ... on the data's time scale (link scale)
    standard_errors: list[float] | None
    degree: int
    sigma: float | None  # None but for the normal and cnorm families
    fitted: list[float] | None = None  # the trajectory at each time, on the outcome's scale
    omega: float | None = None  # zip: the probability of a structural zero

    def to_dict(self) -> dict[str, Any]:
        extra = {} if self.omega is None else {"omega": self.omega}
        return {
            "group": self.group,
            "proportion": self.proportion,
            "avg_posterior": self.avg_posterior,
            "occ": self.occ,
            "coefficients": self.coefficients,
            "standard_errors": self.standard_errors,
            "assigned": self.assigned,
            "degree": self.degree,
            "sigma": self.sigma,
            "fitted": self.fitted,
            **extra,
        }


def bic(fit: GBTMFit, persons: int) -> float:
    """``-2 logL + p ln(N)`` with N the number of persons (smaller is better)."""
    return -2.0 * fit.log_likelihood + fit.parameters * log(persons)


def group_reports(fit: GBTMFit, times: np.ndarray | None = None) -> list[GroupReport]:
    """Proportion, AvePP, OCC and coefficients of each group (Nagin 2005, ch. 5),
    and the fitted trajectory at ``times`` (if given) on the outcome's scale."""
    post = fit.posteriors
    modal = post.argmax(axis=1)
    pi = np.exp(fit.log_pi)
    curves = None if times is None else fit.means(np.asarray(times, dtype=float))
    out = []
    for j in range(fit.k):
        mine = modal == j
        avepp = float(post[mine, j].mean()) if mine.any() else None
        occ = None
        if avepp is not None and avepp < 1.0 and pi[j] < 1.0:
            occ = float((avepp / (1.0 - avepp)) / (pi[j] / (1.0 - pi[j])))
        se = fit.raw_standard_errors(j)
        out.append(
            GroupReport(
                group=j + 1,
                proportion=float(pi[j]),
                assigned=int(mine.sum()),
                avg_posterior=avepp,
                occ=occ,
                coefficients=[float(c) for c in fit.raw_coefficients(j)],
                standard_errors=None if se is None else [float(s) for s in se],
                degree=fit.degrees[j],
                sigma=(
                    None
                    if len(fit.sigma) == 0
                    else float(fit.sigma[j] if len(fit.sigma) > 1 else fit.sigma[0])
                ),
                fitted=None if curves is None else [float(v) for v in curves[:, j]],
                omega=float(fit.omega[j]) if len(fit.omega_logit) else None,
            )
        )
    return out


@dataclass
class TrajectoryResult:
    """Models with 1..K groups, the one BIC chooses, and each person's posteriors."""

    ids: np.ndarray  # one per person, the row order of the posteriors
    times: np.ndarray
    fits: dict[int, GBTMFit]
    chosen: int
    observations: int
    id_name: str = "id"
    notes: list[str] = field(default_factory=list)

    @property
    def persons(self) -> int:
        return len(self.ids)

    @property
    def model(self) -> GBTMFit:
        """The chosen model."""
        return self.fits[self.chosen]

    @property
    def bic(self) -> dict[int, float]:
        return {k: bic(f, self.persons) for k, f in self.fits.items()}

    @property
    def family(self) -> Family:
        """The outcome's distribution given the group: normal, poisson, logit, cnorm
        or zip."""
        return self.model.family

    @property
    def groups(self) -> list[GroupReport]:
        return group_reports(self.model, self.times)

    def assignments(self, k: int | None = None) -> pd.DataFrame:
        """One row per person: id, modal group (1-based), posterior of each group."""
        fit = self.fits[k or self.chosen]
        data: dict[str, Any] = {
            "id": self.ids,
            "group": fit.posteriors.argmax(axis=1) + 1,
        }
        for j in range(fit.k):
            data[f"posterior_{j + 1}"] = fit.posteriors[:, j]
        return pd.DataFrame(data)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` summary (keys fixed by the command line's specification;
        cnorm adds ``bounds``, zip each group's ``omega``)."""
        extra: dict[str, Any] = {}
        if self.family == "cnorm":
            lower, upper = self.model.bounds
            extra["bounds"] = {"lower": lower, "upper": upper}
        return {
            "chosen_groups": self.chosen,
            "bic": {str(k): v for k, v in self.bic.items()},
            "groups": [g.to_dict() for g in self.groups],
            "bic_convention": BIC_CONVENTION,
            "log_likelihood": {str(k): f.log_likelihood for k, f in self.fits.items()},
            "parameters": {str(k): f.parameters for k, f in self.fits.items()},
            "persons": self.persons,
            "observations": self.observations,
            "times": [float(t) for t in self.times],
            "family": self.family,
            "coefficients_scale": LINK_SCALE[self.family],
            "fitted_scale": OUTCOME_SCALE[self.family],
            "notes": list(self.notes) + [n for f in self.fits.values() for n in f.notes],
            **extra,
        }

    def group_summary(self) -> GroupSummary:
        """Group sizes (persons by modal group) and statistics, for the disclosure rules."""
        from fivesafes.outputs import GroupSummary

        groups = self.groups
        stats = pd.DataFrame(
            {
                "proportion": [g.proportion for g in groups],
                "avg_posterior": [g.avg_posterior for g in groups],
                "occ": [g.occ for g in groups],
            }
        )
        return GroupSummary(
            groups=[f"group {g.group}" for g in groups],
            sizes=np.array([g.assigned for g in groups], dtype=float),
            statistics=stats,
            persons=True,
        )

    def size_table(self) -> FrequencyTable:
        """Persons per modal group with the total, as a frequency table."""
        from fivesafes.outputs import FrequencyTable

        groups = self.groups
        frame = pd.DataFrame(
            {
                "group": [f"group {g.group}" for g in groups] + ["Total"],
                "persons": [g.assigned for g in groups] + [self.persons],
            }
        )
        return FrequencyTable.from_long(frame, ["group"], "persons", persons=True)

    def groups_frame(self) -> pd.DataFrame:
        """The chosen model's groups as a table (one row per group); ``sigma`` only
        for the normal and cnorm families, ``omega`` (the probability of a
        structural zero) only for zip."""
        rows = []
        for g in self.groups:
            row: dict[str, Any] = {
                "group": g.group,
                "persons": g.assigned,
                "proportion": g.proportion,
                "avg_posterior": g.avg_posterior,
                "occ": g.occ,
            }
            if self.family in ("normal", "cnorm"):
                row["sigma"] = g.sigma
            if self.family == "zip":
                row["omega"] = g.omega
            for p, c in enumerate(g.coefficients):
                row[f"b{p}"] = c
                row[f"se_b{p}"] = g.standard_errors[p] if g.standard_errors else None
            rows.append(row)
        return pd.DataFrame(rows)

    def fitted_frame(self) -> pd.DataFrame:
        """The chosen model's trajectories: one row per group and time, the fitted
        value on the outcome's scale (mean, expected count, probability or, for
        cnorm, the expected observed value)."""
        curves = self.model.means(self.times)
        k = curves.shape[1]
        return pd.DataFrame(
            {
                "group": np.repeat(np.arange(1, k + 1), len(self.times)),
                "time": np.tile(self.times, k),
                OUTCOME_SCALE[self.family].replace(" ", "_"): curves.T.ravel(),
            }
        )

    def bic_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "groups": list(self.fits),
                "log_likelihood": [f.log_likelihood for f in self.fits.values()],
                "parameters": [f.parameters for f in self.fits.values()],
                "bic": list(self.bic.values()),
            }
        )

    def figure(self) -> MplFigure:
        """Fitted trajectories (lines) and observed group means per time (points)."""
        from matplotlib.figure import Figure

        fit = self.model
        grid = np.linspace(self.times.min(), self.times.max(), 100)
        curves = fit.means(grid)
        fig = Figure(figsize=(6.4, 4.2))
        ax = fig.add_subplot()
        y = self._wide
        modal = fit.posteriors.argmax(axis=1)
        for g in self.groups:
            j = g.group - 1
            (line,) = ax.plot(
                grid, curves[:, j], label=f"group {g.group} ({100 * g.proportion:.1f}%)"
            )
            mine = y[modal == j]
            if len(mine):
                with np.errstate(all="ignore"):
                    obs = np.nanmean(mine, axis=0)
                ax.plot(self.times, obs, "o", color=line.get_color(), markersize=4)
        ax.set_xlabel("time")
        label = {"normal": "value", "cnorm": "value (expected, with the bounds)"}
        ax.set_ylabel(label.get(self.family, OUTCOME_SCALE[self.family]))
        ax.set_title(f"{fit.k} trajectory groups (lines: fitted; points: observed means)")
        ax.legend(fontsize="small")
        return fig

    _wide: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), repr=False)

    def analysis_result(self) -> AnalysisResult:
        """Tables and the figure, each with the output object the rules read."""
        from fivesafes.analysis.result import AnalysisResult

        result = AnalysisResult(method="trajectories", summary=self.to_dict())
        summary = self.group_summary()
        result.add_table(
            "trajectory_groups",
            self.groups_frame(),
            "Trajectory groups of the chosen model: persons (modal assignment), "
            "proportion, AvePP, OCC and polynomial coefficients with standard errors",
            summary,
        )
        result.add_table(
            "trajectory_bic",
            self.bic_frame(),
            f"Log-likelihood, parameters and BIC ({BIC_CONVENTION}) of each number of groups",
            self.size_table(),
        )
        result.add_figure(
            "trajectory_plot",
            self.figure,
            "Fitted group trajectories and observed means per time of each group",
            summary,
        )
        result.notes += self.to_dict()["notes"]
        return result


def wide_panel(long: pd.DataFrame, id: str, time: str, value: str) -> tuple[np.ndarray, Panel, int]:
    """Persons × distinct times from a long table of numeric time and value
    (missing values are missing waves). Returns ids, the panel and the number of
    observed values; persons with no observed value are left out."""
    obs = long[[id, time, value]].dropna(subset=[value])
    ids, person = np.unique(obs[id].to_numpy(), return_inverse=True)
    times, wave = np.unique(obs[time].to_numpy(dtype=float), return_inverse=True)
    y = np.full((len(ids), len(times)), np.nan)
    y[person, wave] = obs[value].to_numpy(dtype=float)
    return ids, Panel(y, times), len(obs)


def wrong_values(
    values: pd.Series, family: str, bounds: Bounds = (None, None)
) -> tuple[np.ndarray, str]:
    """Positions of the observed values ``family`` cannot have, and what it needs:
    counts (whole numbers 0 or more) for poisson and zip, 0 or 1 for logit, a
    value within ``bounds`` for cnorm (none for normal)."""
    check_family(family)
    if family == "normal":
        return np.empty(0, dtype=int), "a number"
    y = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    obs = ~np.isnan(y)
    with np.errstate(invalid="ignore"):
        if family == "cnorm":
            lower, upper = bounds
            bad = np.zeros(len(y), dtype=bool)
            if lower is not None:
                bad |= obs & (y < lower)
            if upper is not None:
                bad |= obs & (y > upper)
            return np.flatnonzero(bad), f"within the bounds {bounds_text(bounds)}"
        if family in ("poisson", "zip"):
            bad = obs & (~np.isfinite(y) | (y < 0) | (y != np.floor(y)))
            return np.flatnonzero(bad), "a count (a whole number 0 or more)"
        return np.flatnonzero(obs & (y != 0) & (y != 1)), "0 or 1"


def _text(x: Any) -> str:
    return f"{x:g}" if isinstance(x, int | float | np.number) else str(x)


def fit_trajectories(
    long: pd.DataFrame,
    id: str,
    time: str,
    value: str,
    groups: Sequence[int] = range(1, 7),
    degree: int | Sequence[int] = 2,
    group_sigma: bool = False,
    starts: int = 10,
    seed: int = 0,
    progress: Progress | None = None,
    family: Family = "normal",
    bounds: Bounds | None = None,
) -> TrajectoryResult:
    """Fit a trajectory model for each number of groups in ``groups`` and choose
    by BIC. ``degree``: the polynomial degree of every group, or one per group
    (then ``groups`` must be that one number). ``family``: the outcome given the
    group, ``"normal"``, ``"poisson"`` (counts), ``"logit"`` (0/1), ``"cnorm"`` (a
    score censored at ``bounds`` = (lower, upper), either None for no bound on that
    side, by default the observed minimum and maximum) or ``"zip"`` (counts with
    structural zeros); a value the family cannot have is an error naming the
    person and time, and so are ``group_sigma`` outside the normal and cnorm
    families and ``bounds`` outside cnorm. Standard errors are computed for the
    chosen model. Duplicate (id, time) rows are an error."""
    report = progress or (lambda stage, fraction: None)
    ks = sorted({int(k) for k in groups})
    if not ks or ks[0] < 1:
        raise FivesafesError("the numbers of groups must be 1 or more")
    if not isinstance(degree, int) and (len(ks) != 1 or len(degree) != ks[0]):
        raise FivesafesError("one degree per group needs a single number of groups, and as many")
    check_family(family)
    check_group_sigma(group_sigma, family)
    observed = pd.to_numeric(long[value], errors="coerce").to_numpy(dtype=float)
    limits = resolve_bounds(observed, family, bounds)
    bad, need = wrong_values(long[value], family, limits)
    if len(bad):
        who, when = long[id].iloc[bad[0]], long[time].iloc[bad[0]]
        got = float(pd.to_numeric(long[value], errors="coerce").iloc[bad[0]])
        more = len(bad) - 1
        raise FivesafesError(
            f"the {family} family needs {value!r} to be {need} in every row: "
            f"{id} {who} at {time} {_text(when)} has {got:g}"
            + (f" (and {more} more such row{'s' if more > 1 else ''})" if more else "")
        )
    ids, panel, n_obs = wide_panel(long, id, time, value)
    if len(panel.times) > MAX_TIMES:
        raise FivesafesError(
            f"the time column {time!r} has {len(panel.times):,} distinct values; trajectory "
            f"models need waves shared by everyone (at most {MAX_TIMES}): round it to waves, "
            "e.g. years"
        )
    top = degree if isinstance(degree, int) else max(degree)
    if len(panel.times) < top + 1:
        raise FivesafesError(
            f"{len(panel.times)} distinct time(s) cannot fit a polynomial of degree {top}; "
            f"give a lower --degree"
        )
    dropped = long[id].nunique() - len(ids)
    fits: dict[int, GBTMFit] = {}
    notes = []
    for i, k in enumerate(ks):
        report(f"{k} group{'s' if k > 1 else ''}", i / len(ks))
        try:
            fits[k] = fit_gbtm(
                panel,
                k,
                degree,
                group_sigma=group_sigma,
                starts=starts,
                seed=seed + k,
                standard_errors=False,
                family=family,
                bounds=limits if family == "cnorm" else None,
            )
        except ValueError as exc:  # a group emptied in every start: the data do not carry k
            notes.append(str(exc))
    if not fits:
        raise FivesafesError("; ".join(notes))
    report("standard errors", len(ks) / (len(ks) + 1))
    scores = {k: bic(f, len(ids)) for k, f in fits.items()}
    chosen = min(scores, key=lambda k: scores[k])
    from fivesafes.analysis.gbtm import covariance

    fits[chosen].covariance = covariance(panel, fits[chosen])
    if fits[chosen].covariance is None:
        notes.append("the information matrix is singular: no standard errors")
    if dropped:
        notes.append(f"{dropped} person(s) with no observed value left out")
    if family == "cnorm":
        notes.append(_censoring_note(panel.y, limits, given=bounds))
    if chosen == ks[-1] and len(ks) > 1:
        notes.append(
            f"BIC is smallest at the largest number of groups tried ({chosen}); "
            "more groups may fit better"
        )
    report("done", 1.0)
    return TrajectoryResult(
        ids=ids,
        times=panel.times,
        fits=fits,
        chosen=chosen,
        observations=n_obs,
        id_name=id,
        notes=notes,
        _wide=panel.y,
    )


def _censoring_note(y: np.ndarray, limits: Bounds, given: Bounds | None) -> str:
    """The bounds of a cnorm fit, where they came from and the share of values at each."""
    obs = y[~np.isnan(y)]
    lower, upper = limits
    at_lo = float((obs <= lower).mean()) if lower is not None and obs.size else 0.0
    at_hi = float((obs >= upper).mean()) if upper is not None and obs.size else 0.0
    origin = "" if given is not None else " (by default the observed minimum and maximum)"
    text = (
        f"censored normal with bounds {bounds_text(limits)}{origin}: "
        f"{100 * at_lo:.1f}% of values at the lower bound, {100 * at_hi:.1f}% at the upper"
    )
    if at_lo == 0 and at_hi == 0:
        text += " (none at a bound: the fit is the normal family's)"
    return text


def read_long_csv(
    path: Path,
    id: str,
    time: str,
    value: str,
    min_persons: int = 1,
    family: str = "normal",
    bounds: Bounds = (None, None),
) -> pd.DataFrame:
    """Read a long CSV (one row per person and time) and check it: the columns
    exist, time and value are numbers (a blank value is a missing wave, a blank
    time or id is an error), the values are what ``family`` needs (counts for
    poisson and zip, 0/1 for logit, within ``bounds`` for cnorm), no (id, time)
    pair repeats, and there are at least
    ``min_persons`` persons with an observed value. Errors name the file, the
    data row (1 = first row after the header) and the field."""
    name = str(path)
    check_family(family)

    def bad(message: str, **where: Any) -> InputError:
        return InputError(name, message, consequence="Nothing was fitted.", **where)

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as exc:
        raise bad("the file is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise bad(f"not a readable CSV file ({exc})") from exc
    for col in dict.fromkeys((id, time, value)):
        if col not in df.columns:
            raise bad(
                f"no column {col!r}; the columns are {', '.join(map(repr, df.columns))}",
                field=col,
            )
    out = pd.DataFrame({id: df[id].str.strip()})
    for col, blank_ok in ((time, False), (value, True)):
        text = df[col].str.strip()
        num = pd.to_numeric(text.where(text != ""), errors="coerce")
        wrong = (num.isna() & (text != "")) | ~np.isfinite(num.fillna(0.0))
        if not blank_ok:
            wrong |= text == ""
        if wrong.any():
            rows = np.flatnonzero(wrong.to_numpy())
            raise bad(
                "not a number" if text.iloc[rows[0]] != "" else "blank",
                row=int(rows[0]) + 1,
                field=col,
                value=str(df[col].iloc[rows[0]]),
                more=len(rows) - 1,
            )
        out[col] = num.to_numpy(dtype=float)
    unfit, need = wrong_values(out[value], family, bounds)
    if len(unfit):
        raise bad(
            f"not {need}, as the {family} family needs",
            row=int(unfit[0]) + 1,
            field=value,
            value=str(df[value].iloc[unfit[0]]),
            more=len(unfit) - 1,
        )
    blank_id = (out[id] == "").to_numpy()
    if blank_id.any():
        rows = np.flatnonzero(blank_id)
        raise bad("blank", row=int(rows[0]) + 1, field=id, more=len(rows) - 1)
    dup = out.duplicated([id, time], keep="first").to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        raise bad(
            f"a second row for the same {id} and {time}",
            row=int(rows[0]) + 1,
            field=time,
            value=f"{out[id].iloc[rows[0]]}, {df[time].iloc[rows[0]]}",
            more=len(rows) - 1,
        )
    persons = out.loc[out[value].notna(), id].nunique()
    if persons < min_persons:
        raise bad(
            f"{persons} person(s) with an observed {value!r}; at least {min_persons} are needed "
            f"({MIN_PERSONS_PER_GROUP} per group of the largest model)",
            field=value,
        )
    return out
