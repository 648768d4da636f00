"""Binary and ordinal logistic regression (statsmodels), reported as odds ratios.

:func:`logistic` fits ``statsmodels``' ``Logit`` and :func:`ordinal` its
proportional-odds ``OrderedModel`` (logit link, as R's ``MASS::polr`` and Stata's
``ologit``), both from a formula over a DataFrame (``"convicted ~ C(group) +
male"``). Each returns an :class:`~fivesafes.analysis.result.AnalysisResult`:

- ``summary``: the model, n (rows used), rows dropped for missing values,
  residual degrees of freedom, log-likelihood, AIC, BIC, pseudo R², whether it
  converged, and (binary) the number of events;
- table ``coefficients``: per term the log-odds coefficient, its standard error,
  z, p, and the odds ratio with its confidence interval (Wald, on the log-odds
  scale); for the ordinal model, table ``thresholds``: the cut-points on the
  latent scale with delta-method standard errors (as ``polr``'s ``zeta``);
- figure ``odds_ratios``: a forest plot of the odds ratios;
- each checkable as a :class:`~fivesafes.outputs.RegressionResult` (residual
  degrees of freedom, and the people behind each 0/1 term).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from fivesafes.analysis.result import AnalysisResult
from fivesafes.errors import FivesafesError, InputError
from fivesafes.outputs import RegressionResult


def _outcome(formula: str) -> str:
    if "~" not in formula:
        raise FivesafesError(f"the formula {formula!r} needs an outcome: 'outcome ~ terms'")
    return formula.split("~", 1)[0].strip()


def _check_columns(data: pd.DataFrame, formula: str, source: str) -> None:
    """A clear error for an outcome column the data lacks (terms are checked by
    the formula parser, see :func:`_model`)."""
    outcome = _outcome(formula)
    if outcome not in data.columns:
        raise InputError(
            source,
            f"there is no outcome column {outcome!r}; the columns are "
            f"{', '.join(map(str, data.columns))}",
            consequence="Nothing was fitted.",
        )


def _model(build: Any, formula: str, source: str) -> Any:
    """Build a statsmodels model from a formula, a formula error as a user error."""
    from patsy import PatsyError

    try:
        return build()
    except PatsyError as exc:
        first = str(exc).splitlines()[0]
        raise FivesafesError(f"{source}: the formula {formula!r} cannot be used: {first}") from None


def _cov(model: Any, data: pd.DataFrame, cluster: str | None, source: str) -> dict[str, Any]:
    """``fit`` arguments for cluster-robust standard errors over the rows used."""
    if cluster is None:
        return {}
    if cluster not in data.columns:
        raise InputError(
            source,
            f"there is no cluster column {cluster!r}; the columns are "
            f"{', '.join(map(str, data.columns))}",
            consequence="Nothing was fitted.",
        )
    groups = data.loc[model.data.row_labels, cluster]
    missing = np.flatnonzero(groups.isna().to_numpy())
    if missing.size:
        raise InputError(
            source,
            "the cluster is blank in a row the model uses",
            row=int(data.index.get_loc(groups.index[missing[0]])) + 1,
            field=cluster,
            more=int(missing.size - 1),
            consequence="Nothing was fitted.",
        )
    return {"cov_type": "cluster", "cov_kwds": {"groups": pd.factorize(groups)[0]}}


def _cluster_summary(
    result: AnalysisResult, data: pd.DataFrame, model: Any, cluster: str | None
) -> None:
    result.summary["cluster"] = cluster
    if cluster is not None:
        result.summary["clusters"] = int(data.loc[model.data.row_labels, cluster].nunique())


def odds_ratio_table(
    names: Sequence[str], params: np.ndarray, bse: np.ndarray, confidence: float = 0.95
) -> pd.DataFrame:
    """Coefficients (log-odds), standard errors, z, p and odds ratios with Wald
    confidence intervals, one row per term."""
    params = np.asarray(params, dtype=float)
    bse = np.asarray(bse, dtype=float)
    z = params / bse
    crit = stats.norm.ppf(0.5 + confidence / 2)
    return pd.DataFrame(
        {
            "term": list(names),
            "coef": params,
            "se": bse,
            "z": z,
            "p": 2 * stats.norm.sf(np.abs(z)),
            "odds_ratio": np.exp(params),
            "or_lower": np.exp(params - crit * bse),
            "or_upper": np.exp(params + crit * bse),
        }
    )


def _level_counts(exog: np.ndarray, names: Sequence[str]) -> dict[str, int]:
    """People behind each 0/1 column of the design matrix (dummy-coded levels)."""
    x = np.asarray(exog)
    counts: dict[str, int] = {}
    for j, name in enumerate(names):
        col = x[:, j]
        if np.all((col == 0) | (col == 1)) and not np.all(col == 1):
            counts[str(name)] = int(col.sum())
    return counts


def _forest(table: pd.DataFrame, title: str) -> Any:
    from matplotlib.figure import Figure

    t = table[table["term"] != "Intercept"]
    fig = Figure(figsize=(6, 0.45 * len(t) + 1.2))
    ax = fig.subplots()
    ypos = np.arange(len(t))[::-1]
    ratio = t["odds_ratio"].to_numpy()
    ax.errorbar(
        ratio,
        ypos,
        xerr=[ratio - t["or_lower"].to_numpy(), t["or_upper"].to_numpy() - ratio],
        fmt="o",
        capsize=3,
    )
    ax.axvline(1, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(ypos, t["term"].tolist())
    ax.set_xlabel("odds ratio (95% CI, log scale)")
    ax.set_title(title)
    return fig


def _drop_note(result: AnalysisResult, rows: int, used: int) -> None:
    dropped = rows - used
    result.summary["rows_dropped"] = dropped
    if dropped:
        result.notes.append(f"{dropped} row(s) with a missing value in the model were left out")


def logistic(
    data: pd.DataFrame,
    formula: str,
    *,
    confidence: float = 0.95,
    cluster: str | None = None,
    source: str = "data",
    maxiter: int = 100,
) -> AnalysisResult:
    """Binary logistic regression: the outcome must be 0/1 (or True/False).
    With ``cluster`` (a column, e.g. a school) the standard errors are
    cluster-robust (statsmodels' ``cov_type="cluster"``)."""
    import statsmodels.formula.api as smf

    outcome = _outcome(formula)
    _check_columns(data, formula, source)
    data = data.reset_index(drop=True)  # row positions: the rows named in errors
    y = data[outcome]
    if y.dtype == bool:
        data = data.assign(**{outcome: y.astype(int)})
    else:
        num = pd.to_numeric(y, errors="coerce")
        bad = np.flatnonzero(y.notna().to_numpy() & ~num.isin([0, 1]).to_numpy())
        if bad.size:
            raise InputError(
                source,
                "a binary outcome must be 0 or 1 (blank if missing)",
                row=int(bad[0]) + 1,
                field=outcome,
                value=str(y.iloc[bad[0]]),
                more=int(bad.size - 1),
                consequence="Nothing was fitted.",
            )
        if not np.issubdtype(y.dtype, np.number):
            data = data.assign(**{outcome: num})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and separation are reported below
        model = _model(lambda: smf.logit(formula, data), formula, source)
        if model.endog.min() == model.endog.max():
            raise FivesafesError(
                f"{source}: the outcome {outcome!r} takes only the value "
                f"{model.endog.min():g} in the rows used; nothing to model"
            )
        fit = model.fit(disp=False, maxiter=maxiter, **_cov(model, data, cluster, source))
    result = _finish(
        "logistic",
        fit,
        list(model.exog_names),
        np.asarray(fit.params),
        np.asarray(fit.bse),
        confidence,
        rows=len(data),
        events=int(model.endog.sum()),
    )
    _cluster_summary(result, data, model, cluster)
    return result


def ordinal(
    data: pd.DataFrame,
    formula: str,
    *,
    levels: Sequence[str] | None = None,
    confidence: float = 0.95,
    cluster: str | None = None,
    source: str = "data",
    maxiter: int = 1000,
) -> AnalysisResult:
    """Proportional-odds (ordinal) logistic regression. The outcome is an ordered
    categorical column, or give its ``levels`` from lowest to highest. A positive
    coefficient means higher levels are more likely (as ``polr``). ``cluster``:
    cluster-robust standard errors, as for :func:`logistic`."""
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    outcome = _outcome(formula)
    _check_columns(data, formula, source)
    data = data.reset_index(drop=True)  # row positions: the rows named in errors
    y = data[outcome]
    if levels is not None:
        text = y.astype("string")
        bad = np.flatnonzero(text.notna().to_numpy() & ~text.isin(list(levels)).to_numpy())
        if bad.size:
            raise InputError(
                source,
                f"the outcome is not one of the levels {', '.join(levels)}",
                row=int(bad[0]) + 1,
                field=outcome,
                value=str(y.iloc[bad[0]]),
                more=int(bad.size - 1),
                consequence="Nothing was fitted.",
            )
        y = pd.Categorical(text, categories=list(levels), ordered=True)
    elif not (isinstance(y.dtype, pd.CategoricalDtype) and y.cat.ordered):
        raise FivesafesError(
            f"{source}: the ordinal outcome {outcome!r} needs its order: give the levels from "
            "lowest to highest (or an ordered categorical column)"
        )
    data = data.assign(**{outcome: y})
    used = data[outcome].notna()
    present = pd.unique(data.loc[used, outcome].cat.codes)
    if len(present) < 3:
        raise FivesafesError(
            f"{source}: an ordinal model needs at least 3 levels of {outcome!r} in the data; "
            f"found {len(present)} (use the binary logistic model)"
        )
    if len(present) < len(data[outcome].cat.categories):
        empty = [c for i, c in enumerate(data[outcome].cat.categories) if i not in set(present)]
        raise FivesafesError(
            f"{source}: no row has the level(s) {', '.join(map(str, empty))} of {outcome!r}; "
            "merge or drop empty levels"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _model(
            lambda: OrderedModel.from_formula(formula, data, distr="logit"), formula, source
        )
        fit = model.fit(
            method="bfgs",
            disp=False,
            maxiter=maxiter,
            gtol=1e-8,
            **_cov(model, data, cluster, source),
        )
    k = model.exog.shape[1]
    names = list(model.exog_names)[:k]
    params = np.asarray(fit.params)
    result = _finish(
        "ordinal",
        fit,
        names,
        params[:k],
        np.asarray(fit.bse)[:k],
        confidence,
        rows=len(data),
        events=None,
        exog=model.exog,
        extra_names=list(model.exog_names)[k:],
        extra_params=params[k:],
    )
    # Cut-points on the latent scale: t1, t1 + exp(d2), ... with delta-method SEs.
    cuts = np.cumsum(np.r_[params[k], np.exp(params[k + 1 :])])
    jac = np.zeros((len(cuts), len(cuts)))
    for i in range(len(cuts)):
        jac[i, 0] = 1.0
        jac[i, 1 : i + 1] = np.exp(params[k + 1 : k + 1 + i])
    cov = np.asarray(fit.cov_params())[k:, k:]
    se = np.sqrt(np.diag(jac @ cov @ jac.T))
    cats = [str(c) for c in data[outcome].cat.categories]
    result.add_table(
        "thresholds",
        pd.DataFrame(
            {
                "threshold": [f"{a}|{b}" for a, b in pairwise(cats)],
                "value": cuts,
                "se": se,
            }
        ),
        "Cut-points between adjacent levels on the latent (log-odds) scale",
        result.tables["coefficients"].output,
    )
    _cluster_summary(result, data, model, cluster)
    result.summary["levels"] = cats
    result.summary["level_counts"] = {c: int((data[outcome] == c).sum()) for c in cats}
    return result


def _pseudo_r2(fit: Any, method: str) -> float:
    """McFadden's pseudo R², 1 - llf / llnull. For the binary model the null
    (intercept-only) log-likelihood is n·[p̄ log p̄ + (1 - p̄) log(1 - p̄)], so no
    second fit is needed (statsmodels' ``prsquared`` refits it)."""
    if method != "logistic":
        return float(fit.prsquared)
    y = np.asarray(fit.model.endog, dtype=float)
    p = y.mean()
    llnull = y.size * (p * np.log(p) + (1 - p) * np.log(1 - p))
    return float(1 - fit.llf / llnull)


def _finish(
    method: str,
    fit: Any,
    names: list[str],
    params: np.ndarray,
    bse: np.ndarray,
    confidence: float,
    rows: int,
    events: int | None,
    exog: np.ndarray | None = None,
    extra_names: list[str] | None = None,
    extra_params: np.ndarray | None = None,
) -> AnalysisResult:
    table = odds_ratio_table(names, params, bse, confidence)
    nobs = int(fit.nobs)
    exog = fit.model.exog if exog is None else exog
    disclosure = RegressionResult(
        names=[*names, *(extra_names or [])],
        coefficients=np.r_[params, extra_params if extra_params is not None else []],
        dof=float(fit.df_resid),
        level_counts=_level_counts(exog, names),
    )
    converged = bool(fit.mle_retvals.get("converged", True))
    result = AnalysisResult(method=method)
    result.summary = {
        "model": "logistic" if method == "logistic" else "ordinal logistic (proportional odds)",
        "n": nobs,
        "df_resid": float(fit.df_resid),
        "log_likelihood": float(fit.llf),
        "aic": float(fit.aic),
        "bic": float(fit.bic),
        "pseudo_r2": _pseudo_r2(fit, method),
        "converged": converged,
        "confidence": confidence,
    }
    if events is not None:
        result.summary["events"] = events
    _drop_note(result, rows, nobs)
    big = table.loc[(table["term"] != "Intercept") & (table["coef"].abs() > 15), "term"]
    if not converged or len(big):
        result.notes.append(
            "the model did not converge cleanly"
            + (f" (huge coefficients for {', '.join(big)}: separation?)" if len(big) else "")
            + "; do not report it as it is"
        )
    result.add_table(
        "coefficients",
        table,
        "Log-odds coefficients, standard errors and odds ratios with confidence intervals",
        disclosure,
    )
    result.add_figure(
        "odds_ratios",
        lambda: _forest(table, "Odds ratios" if method == "logistic" else "Cumulative odds ratios"),
        "Forest plot of the odds ratios and their confidence intervals",
        disclosure,
    )
    return result
