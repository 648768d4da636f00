"""Oaxaca–Blinder decomposition of a gap in a mean outcome between two groups.

The gap ``mean(y | A) - mean(y | B)`` is split, from an OLS regression of the
outcome on the covariates in each group (coefficients ``bA``, ``bB``; covariate
means ``xA``, ``xB``, intercept included), as in Jann (2008), "The
Blinder-Oaxaca decomposition for linear regression models", Stata Journal 8(4):

- **twofold**, against a reference coefficient vector ``b*``:
  explained ``(xA - xB)'b*`` and unexplained ``xA'(bA - b*) + xB'(b* - bB)``.
  ``reference`` chooses ``b*``: ``"pooled"`` (a regression on both groups with a
  group indicator; Jann's ``pooled``, statsmodels' ``"pooled"``), ``"neumark"``
  (pooled, no indicator), ``"A"`` or ``"B"`` (one group's coefficients),
  ``"reimers"`` (their average), ``"cotton"`` (weighted by group sizes);
- **threefold**, from group B's viewpoint: endowments ``(xA - xB)'bB``,
  coefficients ``xB'(bA - bB)`` and interaction ``(xA - xB)'(bA - bB)``;
- the **detailed** twofold: each term's share of the explained and unexplained
  parts (the unexplained shares depend on the coding of categorical variables).

Standard errors come from a bootstrap that resamples people within each group
(seeded, ``bootstrap`` replicates; the same resamples for every component), as
statsmodels' ``OaxacaBlinder`` does. It is written on numpy, since statsmodels'
class has no detailed decomposition and its bootstrap refits one model at a
time; its point estimates are the same (see tests/spec/test_oaxaca_reference.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from fivesafes.analysis.result import AnalysisResult
from fivesafes.errors import FivesafesError, InputError
from fivesafes.outputs import GroupSummary, RegressionResult

REFERENCES = ("pooled", "neumark", "A", "B", "reimers", "cotton")


def _ols(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    try:  # normal equations: fast for the bootstrap's many refits
        return np.linalg.solve(x.T @ x, x.T @ y)
    except np.linalg.LinAlgError:  # a resample that lost a level: least squares
        beta, *_ = np.linalg.lstsq(x, y, rcond=None)
        return beta


def _components(
    y: np.ndarray, x: np.ndarray, in_a: np.ndarray, reference: str
) -> dict[str, np.ndarray]:
    """Every component, per term (sum over terms for the aggregate)."""
    xa, xb, ya, yb = x[in_a], x[~in_a], y[in_a], y[~in_a]
    ba, bb = _ols(xa, ya), _ols(xb, yb)
    ma, mb = xa.mean(axis=0), xb.mean(axis=0)
    if reference == "pooled":
        bstar = _ols(np.column_stack([x, in_a.astype(float)]), y)[:-1]
    elif reference == "neumark":
        bstar = _ols(x, y)
    elif reference == "A":
        bstar = ba
    elif reference == "B":
        bstar = bb
    elif reference == "reimers":
        bstar = 0.5 * (ba + bb)
    else:  # cotton
        share = in_a.mean()
        bstar = share * ba + (1 - share) * bb
    return {
        "explained": (ma - mb) * bstar,
        "unexplained": ma * (ba - bstar) + mb * (bstar - bb),
        "endowments": (ma - mb) * bb,
        "coefficients": mb * (ba - bb),
        "interaction": (ma - mb) * (ba - bb),
        "beta_a": ba,
        "beta_b": bb,
    }


def _resampler(
    in_a: np.ndarray, clusters: pd.Series | None, rng: np.random.Generator
) -> Callable[[], np.ndarray]:
    """A function drawing one bootstrap sample (row positions): rows, or whole
    clusters, with replacement within each group, keeping the groups' sizes."""
    idx_a, idx_b = np.flatnonzero(in_a), np.flatnonzero(~in_a)
    if clusters is None:
        return lambda: np.r_[rng.choice(idx_a, idx_a.size), rng.choice(idx_b, idx_b.size)]
    codes = pd.factorize(clusters)[0]
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(codes.max() + 2))
    members = [order[starts[c] : starts[c + 1]] for c in range(codes.max() + 1)]
    by_group = [np.unique(codes[idx]) for idx in (idx_a, idx_b)]

    def draw() -> np.ndarray:
        picked = [rng.choice(ids, ids.size) for ids in by_group]
        return np.concatenate([members[c] for ids in picked for c in ids])

    return draw


def oaxaca(
    data: pd.DataFrame,
    outcome: str,
    group: str,
    covariates: str | Sequence[str],
    group_a: Any,
    *,
    reference: str = "pooled",
    bootstrap: int = 200,
    seed: int | None = None,
    cluster: str | None = None,
    confidence: float = 0.95,
    source: str = "data",
) -> AnalysisResult:
    """Decompose ``mean(outcome | group == group_a) - mean(outcome | other group)``.

    ``covariates``: column names, or the right-hand side of a formula
    (``"age + I(age**2) + C(skill) + female"``); an intercept is always added.
    Rows with a missing value are left out (and counted in the notes). With
    ``cluster`` (e.g. a person id when people have several rows) the bootstrap
    resamples whole clusters within each group, so the standard errors allow for
    rows of one person being alike.
    """
    from patsy import PatsyError, dmatrix

    if reference not in REFERENCES:
        raise FivesafesError(f"reference must be one of {', '.join(REFERENCES)}, not {reference!r}")
    for col in (outcome, group, *([cluster] if cluster else [])):
        if col not in data.columns:
            raise InputError(
                source,
                f"there is no column {col!r}; the columns are {', '.join(map(str, data.columns))}",
                consequence="Nothing was decomposed.",
            )
    rhs = covariates if isinstance(covariates, str) else " + ".join(covariates)
    y_all = pd.to_numeric(data[outcome], errors="coerce")
    bad = np.flatnonzero(data[outcome].notna().to_numpy() & y_all.isna().to_numpy())
    if bad.size:
        raise InputError(
            source,
            "the outcome is not a number",
            row=int(bad[0]) + 1,
            field=outcome,
            value=str(data[outcome].iloc[bad[0]]),
            more=int(bad.size - 1),
            consequence="Nothing was decomposed.",
        )
    groups = data[group]
    levels = pd.unique(groups.dropna())
    if len(levels) != 2:
        raise FivesafesError(
            f"{source}: the group column {group!r} must have exactly two values; it has "
            f"{len(levels)} ({', '.join(map(str, levels[:5]))})"
        )
    if group_a not in set(levels):
        raise FivesafesError(
            f"{source}: group {group_a!r} is not a value of {group!r} "
            f"(its values are {', '.join(map(str, levels))})"
        )
    group_b = next(v for v in levels if v != group_a)
    try:
        design = dmatrix(rhs, data, return_type="dataframe", NA_action="drop")
    except PatsyError as exc:
        first = str(exc).splitlines()[0]
        raise FivesafesError(f"{source}: the covariates {rhs!r} cannot be used: {first}") from None
    keep = design.index[y_all.loc[design.index].notna() & groups.loc[design.index].notna()]
    x = design.loc[keep].to_numpy(dtype=float)
    y = y_all.loc[keep].to_numpy(dtype=float)
    in_a = (groups.loc[keep] == group_a).to_numpy()
    names = list(design.columns)
    n_a, n_b = int(in_a.sum()), int((~in_a).sum())
    k = x.shape[1]
    for label, n in ((group_a, n_a), (group_b, n_b)):
        if n <= k:
            raise FivesafesError(
                f"{source}: group {label!r} has {n} complete row(s), too few for {k} coefficients"
            )
    for label, sub in ((group_a, x[in_a]), (group_b, x[~in_a])):
        if np.linalg.matrix_rank(sub) < k:
            raise FivesafesError(
                f"{source}: within group {label!r} the covariates are collinear (a level "
                "absent from one group, or a covariate constant there); the decomposition "
                "needs every coefficient in both groups"
            )

    point = _components(y, x, in_a, reference)
    gap = float(y[in_a].mean() - y[~in_a].mean())

    rng = np.random.default_rng(seed)
    resample = _resampler(in_a, None if cluster is None else data.loc[keep, cluster], rng)
    draws: dict[str, list[np.ndarray]] = {c: [] for c in point}
    gaps = []
    for _ in range(bootstrap):
        s = resample()
        comp = _components(y[s], x[s], in_a[s], reference)
        for c, v in comp.items():
            draws[c].append(v)
        gaps.append(y[s][in_a[s]].mean() - y[s][~in_a[s]].mean())
    crit = stats.norm.ppf(0.5 + confidence / 2)

    def se(component: str, per_term: bool = False) -> Any:
        if bootstrap < 2:
            return np.full(k, np.nan) if per_term else np.nan
        arr = np.asarray(draws[component])
        return arr.std(axis=0, ddof=1) if per_term else float(arr.sum(axis=1).std(ddof=1))

    gap_se = float(np.std(gaps, ddof=1)) if bootstrap >= 2 else np.nan

    def rows(components: Sequence[str]) -> pd.DataFrame:
        est = [gap] + [float(point[c].sum()) for c in components]
        ses = [gap_se] + [se(c) for c in components]
        est_a, ses_a = np.asarray(est), np.asarray(ses)
        return pd.DataFrame(
            {
                "component": ["gap", *components],
                "estimate": est_a,
                "se": ses_a,
                "lower": est_a - crit * ses_a,
                "upper": est_a + crit * ses_a,
                "share_of_gap": est_a / gap if gap else np.nan,
            }
        )

    twofold = rows(["explained", "unexplained"])
    threefold = rows(["endowments", "coefficients", "interaction"])
    detailed = pd.DataFrame(
        {
            "term": names,
            "mean_a": x[in_a].mean(axis=0),
            "mean_b": x[~in_a].mean(axis=0),
            "coef_a": point["beta_a"],
            "coef_b": point["beta_b"],
            "explained": point["explained"],
            "explained_se": se("explained", per_term=True),
            "unexplained": point["unexplained"],
            "unexplained_se": se("unexplained", per_term=True),
        }
    )
    dof = float(len(y) - 2 * k)
    result = AnalysisResult(method="oaxaca")
    result.summary = {
        "outcome": outcome,
        "group": group,
        "group_a": group_a,
        "group_b": group_b,
        "n_a": n_a,
        "n_b": n_b,
        "mean_a": float(y[in_a].mean()),
        "mean_b": float(y[~in_a].mean()),
        "gap": gap,
        "reference": reference,
        "explained": float(point["explained"].sum()),
        "unexplained": float(point["unexplained"].sum()),
        "endowments": float(point["endowments"].sum()),
        "coefficients": float(point["coefficients"].sum()),
        "interaction": float(point["interaction"].sum()),
        "bootstrap": bootstrap,
        "seed": seed,
        "df_resid": dof,
    }
    dropped = len(data) - len(y)
    if dropped:
        result.notes.append(f"{dropped} row(s) with a missing value were left out")

    def as_model(table: pd.DataFrame, label: str) -> RegressionResult:
        # A decomposition is built from two regressions' coefficients and the groups'
        # covariate means: checked as a model (residual df) with both groups' sizes.
        return RegressionResult(
            names=[f"{label}: {c}" for c in table.iloc[:, 0]],
            coefficients=table.iloc[:, 1].to_numpy(dtype=float),
            dof=dof,
            level_counts={f"{label}: gap": min(n_a, n_b)},
        )

    result.add_table(
        "twofold",
        twofold,
        f"Twofold decomposition of the gap in {outcome} ({group} {group_a} minus {group_b}), "
        f"reference coefficients: {reference}",
        as_model(twofold, "twofold"),
    )
    result.add_table(
        "threefold",
        threefold,
        "Threefold decomposition: endowments, coefficients and interaction",
        as_model(threefold, "threefold"),
    )
    result.add_table(
        "detailed",
        detailed,
        "Each term's covariate means, coefficients and share of the explained and "
        "unexplained parts",
        RegressionResult(
            names=[f"{t} ({g})" for g in ("A", "B") for t in names],
            coefficients=np.r_[point["beta_a"], point["beta_b"]],
            dof=dof,
        ),
    )
    result.add_table(
        "groups",
        pd.DataFrame(
            {
                group: [group_a, group_b],
                "n": [n_a, n_b],
                f"mean_{outcome}": [float(y[in_a].mean()), float(y[~in_a].mean())],
            }
        ),
        "Group sizes and means of the outcome",
        GroupSummary(
            groups=[str(group_a), str(group_b)],
            sizes=np.array([n_a, n_b], dtype=float),
            persons=False,
        ),
    )
    return result
