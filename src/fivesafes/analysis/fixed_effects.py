"""Fixed-effects regression: compare people within the same employer or school.

:func:`fixed_effects` fits a linear model with one or more sets of fixed effects
absorbed (pyfixest's ``feols``, fixest syntax: ``"log_pay ~ immigrant + age |
employer_id"``), with standard errors clustered on the variable(s) given
(``cluster="person_id"``, or ``"person_id+employer_id"`` for two-way), else
heteroskedasticity-robust. With ``compare=True`` the same model is fitted
without the fixed effects on the same rows, so that a coefficient's *within*
(fixed-effects) value can be read beside its raw value: the difference is the
part that lies *between* employers (or schools).

Table ``coefficients``: term, estimate, se, t, p, lower, upper (t-based, as
pyfixest reports); ``comparison`` (with ``compare``): each term's estimate and
interval without and with the fixed effects. Summary: n, the number of levels of
each fixed effect, clusters, R² and within R², residual degrees of freedom.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from fivesafes.analysis.result import AnalysisResult
from fivesafes.errors import FivesafesError, InputError
from fivesafes.outputs import RegressionResult

_LEVEL = re.compile(r"^C\((\w+)\)\[(?:T\.)?(.+)\]$")


def _level_counts(data: pd.DataFrame, names: list[str]) -> dict[str, int]:
    """Rows behind each 0/1 term: a 0/1 column, or a level of ``C(column)``."""
    counts: dict[str, int] = {}
    for name in names:
        m = _LEVEL.match(name)
        if m and m.group(1) in data.columns:
            counts[name] = int((data[m.group(1)].astype(str) == m.group(2)).sum())
        elif name in data.columns:
            col = pd.to_numeric(data[name], errors="coerce")
            if col.isin([0, 1]).all() and col.nunique() == 2:
                counts[name] = int(col.sum())
    return counts


def _fit(formula: str, data: pd.DataFrame, vcov: Any, source: str) -> Any:
    import pyfixest as pf

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pf.feols(formula, data=data, vcov=vcov)
    except (ValueError, KeyError, NameError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FivesafesError(f"{source}: the model {formula!r} cannot be fitted: {first}") from None


def _table(fit: Any, confidence: float) -> pd.DataFrame:
    est = np.asarray(fit.coef(), dtype=float)
    se = np.asarray(fit.se(), dtype=float)
    crit = stats.t.ppf(0.5 + confidence / 2, fit._df_t)
    return pd.DataFrame(
        {
            "term": [str(n) for n in fit.coef().index],
            "estimate": est,
            "se": se,
            "t": np.asarray(fit.tstat(), dtype=float),
            "p": np.asarray(fit.pvalue(), dtype=float),
            "lower": est - crit * se,
            "upper": est + crit * se,
        }
    )


def fixed_effects(
    data: pd.DataFrame,
    formula: str,
    *,
    cluster: str | None = None,
    vcov: str = "hetero",
    confidence: float = 0.95,
    compare: bool = True,
    source: str = "data",
) -> AnalysisResult:
    """Fit ``formula`` (fixest syntax, fixed effects after ``|``) with clustered
    (``cluster``) standard errors, else ``vcov``: ``"hetero"`` (robust, HC1) or
    ``"iid"`` (conventional, as R's ``plm`` and Stata's ``xtreg, fe`` by default)."""
    if "|" not in formula:
        raise FivesafesError(
            f"{source}: give the fixed effects after '|', e.g. 'log_pay ~ immigrant + age | "
            "employer_id'"
        )
    lhs, rest = formula.split("~", 1) if "~" in formula else ("", formula)
    rhs, fe = rest.split("|", 1)
    fe_names = [f.strip() for f in fe.replace("^", "+").split("+") if f.strip()]
    cluster_names = [c.strip() for c in (cluster or "").split("+") if c.strip()]
    for col in [lhs.strip(), *fe_names, *cluster_names]:
        if col not in data.columns:
            raise InputError(
                source,
                f"there is no column {col!r}; the columns are {', '.join(map(str, data.columns))}",
                consequence="Nothing was fitted.",
            )
    if vcov not in ("hetero", "iid"):
        raise FivesafesError(f"vcov must be 'hetero' or 'iid', not {vcov!r}")
    spec: Any = {"CRV1": "+".join(cluster_names)} if cluster_names else vcov
    # Rows with a missing value in any column the model uses are left out here, so
    # that the comparison without fixed effects and the counts use the same rows.
    named = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", formula)) | set(cluster_names)
    used = data.dropna(subset=[c for c in data.columns if c in named])
    fit = _fit(formula, used, spec, source)
    table = _table(fit, confidence)
    n = int(fit._N)
    k = len(table)
    levels = {name: int(data.loc[:, name].nunique()) for name in fe_names}
    k_fe = int(getattr(fit, "_k_fe", pd.Series(levels)).sum())
    dof = float(n - k - k_fe)
    result = AnalysisResult(method="fixed_effects")
    result.summary = {
        "formula": formula,
        "n": n,
        "fixed_effects": levels,
        "cluster": cluster_names or None,
        "clusters": sorted({int(g) for g in np.atleast_1d(fit._G)}) if cluster_names else None,
        "vcov": "CRV1" if cluster_names else vcov,
        "r2": float(fit._r2),
        "r2_within": float(fit._r2_within),
        "df_resid": dof,
        "confidence": confidence,
    }
    dropped = len(data) - len(used)
    if dropped:
        result.notes.append(f"{dropped} row(s) with a missing value were left out")
    if n != len(used):
        raise FivesafesError(
            f"{source}: pyfixest left out {len(used) - n} more row(s) than expected; "
            "check the formula's terms for values it cannot use"
        )
    if cluster_names and min(np.atleast_1d(fit._G)) < 30:
        result.notes.append(
            f"only {min(np.atleast_1d(fit._G))} clusters: clustered standard errors are "
            "unreliable with fewer than about 30"
        )
    disclosure = RegressionResult(
        names=table["term"].tolist(),
        coefficients=table["estimate"].to_numpy(),
        dof=dof,
        level_counts=_level_counts(used, table["term"].tolist()),
    )
    result.add_table(
        "coefficients",
        table,
        f"Coefficients within {', '.join(fe_names)} (fixed effects absorbed), "
        + (f"standard errors clustered on {', '.join(cluster_names)}" if cluster_names else "")
        + ("" if cluster_names else f"{'robust' if vcov == 'hetero' else 'iid'} standard errors"),
        disclosure,
    )
    if compare:
        plain = _table(_fit(f"{lhs}~{rhs}", used, spec, source), confidence).set_index("term")
        both = table.set_index("term")
        comparison = pd.DataFrame(
            {
                "term": both.index,
                "without_fe": plain.loc[both.index, "estimate"].to_numpy(),
                "without_fe_lower": plain.loc[both.index, "lower"].to_numpy(),
                "without_fe_upper": plain.loc[both.index, "upper"].to_numpy(),
                "within_fe": both["estimate"].to_numpy(),
                "within_fe_lower": both["lower"].to_numpy(),
                "within_fe_upper": both["upper"].to_numpy(),
            }
        )
        comparison["between_part"] = comparison["without_fe"] - comparison["within_fe"]
        result.add_table(
            "comparison",
            comparison,
            "Each coefficient without and with the fixed effects (same rows); the difference "
            "is the part between the fixed-effect groups",
            RegressionResult(
                names=[f"{t} ({w})" for w in ("without", "within") for t in comparison["term"]],
                coefficients=np.r_[comparison["without_fe"], comparison["within_fe"]],
                dof=dof,
                level_counts={
                    f"{t} ({w})": c
                    for w in ("without", "within")
                    for t, c in _level_counts(used, comparison["term"].tolist()).items()
                },
            ),
        )
    return result
