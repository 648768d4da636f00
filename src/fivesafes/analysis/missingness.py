"""Is the missingness of a variable related to other variables?

:func:`missingness` takes a table (one row per record or person), the variable
whose missingness is studied (blank, or one of the codes that mean "not
known", such as ``REFU``) and covariates, and reports:

- per covariate, a test of whether missingness is related to it: for a
  categorical covariate, the share missing at each level and Pearson's
  chi-square test of independence (:func:`scipy.stats.chi2_contingency`); for
  a numeric one, its mean where the variable is missing and where it is not,
  and Welch's t-test (:func:`scipy.stats.ttest_ind`, unequal variances);
- a logistic regression of the missingness indicator on all the covariates
  together (statsmodels), with odds ratios and 95% confidence intervals
  (categorical covariates against their commonest level);
- a plain-language summary.

These tests can show that data are *not missing completely at random* (MCAR).
They cannot tell "missing at random given the covariates" from "missing not at
random": that takes knowledge of how the data were collected (or another
source, as the reconciled ethnicity of a person from other datasets here).

:meth:`MissingnessResult.outputs` gives the counts behind the tests and the
model as objects the disclosure rules check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from fivesafes.analysis.result import AnalysisResult
from fivesafes.errors import FivesafesError
from fivesafes.outputs.objects import FrequencyTable, OutputObject, RegressionResult

ALPHA = 0.05
MAX_LEVELS = 50


@dataclass
class CovariateTest:
    covariate: str
    kind: str  # "categorical" or "numeric"
    test: str
    statistic: float
    dof: float
    p_value: float
    n: int
    levels: pd.DataFrame | None = None  # level, n, missing, missing_pct (categorical)
    mean_missing: float | None = None  # numeric
    mean_present: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "covariate": self.covariate,
            "kind": self.kind,
            "test": self.test,
            "statistic": self.statistic,
            "dof": self.dof,
            "p_value": self.p_value,
            "n": self.n,
        }
        if self.levels is not None:
            d["levels"] = self.levels.to_dict(orient="records")
        else:
            d["mean_missing"] = self.mean_missing
            d["mean_present"] = self.mean_present
        return d


@dataclass
class MissingnessResult:
    variable: str
    rows: int
    missing: int
    tests: list[CovariateTest]
    model: pd.DataFrame | None  # term, odds_ratio, ci_low, ci_high, p_value
    model_rows: int = 0
    model_result: Any = None  # the statsmodels result
    notes: list[str] = field(default_factory=list)
    frame: pd.DataFrame | None = None  # indicator and categorical covariates, for outputs

    @property
    def missing_pct(self) -> float:
        return 100 * self.missing / self.rows if self.rows else 0.0

    @property
    def related(self) -> list[str]:
        """Covariates whose test rejects independence at the 5% level."""
        return [t.covariate for t in self.tests if t.p_value < ALPHA]

    def test(self, covariate: str) -> CovariateTest:
        for t in self.tests:
            if t.covariate == covariate:
                return t
        raise KeyError(covariate)

    def summary(self) -> list[str]:
        """The findings in plain language."""
        lines = [
            f"{self.variable} is missing in {self.missing:,} of {self.rows:,} rows "
            f"({self.missing_pct:.1f}%)."
        ]
        for t in self.tests:
            p = _p(t.p_value)
            if t.levels is not None:
                lv = t.levels.sort_values("missing_pct", ascending=False)
                hi, lo = lv.iloc[0], lv.iloc[-1]
                if t.p_value < ALPHA:
                    lines.append(
                        f"It is missing more often for some values of {t.covariate} ({p}): "
                        f"{hi['missing_pct']:.1f}% where {t.covariate} is {hi['level']} "
                        f"against {lo['missing_pct']:.1f}% where it is {lo['level']}."
                    )
                else:
                    lines.append(
                        f"No evidence that it is missing more often for some values of "
                        f"{t.covariate} ({p}; from {lo['missing_pct']:.1f}% to "
                        f"{hi['missing_pct']:.1f}%)."
                    )
            else:
                verb = "differs" if t.p_value < ALPHA else "does not clearly differ"
                lines.append(
                    f"The mean of {t.covariate} {verb} between rows where it is missing "
                    f"({t.mean_missing:.3g}) and where it is recorded ({t.mean_present:.3g}); {p}."
                )
        if self.model is not None:
            strong = self.model[(self.model["p_value"] < ALPHA) & (self.model["term"] != "const")]
            if len(strong):
                parts = [
                    f"{r.term} (odds ratio {r.odds_ratio:.2f}, 95% CI {r.ci_low:.2f} to "
                    f"{r.ci_high:.2f})"
                    for r in strong.itertuples(index=False)
                ]
                lines.append(
                    "Taken together in a logistic model of being missing, these remain related "
                    f"to it: {'; '.join(parts)}."
                )
            else:
                lines.append("In a logistic model of being missing, no covariate is related to it.")
        if self.related:
            lines.append(
                f"So {self.variable} is not missing completely at random: an analysis of "
                "complete cases only may be biased. Consider taking it from another source "
                "(reconciliation), multiple imputation using these covariates, or weighting; "
                "whether it is missing at random given them cannot be tested from these data alone."
            )
        else:
            lines.append(
                "These data give no evidence against its being missing completely at random "
                "(which does not prove it is)."
            )
        return lines + self.notes

    def to_dict(self) -> dict[str, Any]:
        return {
            "variable": self.variable,
            "rows": self.rows,
            "missing": self.missing,
            "missing_pct": round(self.missing_pct, 3),
            "tests": [t.to_dict() for t in self.tests],
            "model": None if self.model is None else self.model.to_dict(orient="records"),
            "model_rows": self.model_rows,
            "related": self.related,
            "summary": self.summary(),
        }

    def result(self) -> AnalysisResult:
        """As the common result: per covariate the share missing (categorical, with
        the counts behind it for the disclosure rules) or the two means (numeric,
        reviewed by eye), and the model's odds ratios (with its coefficients)."""
        res = AnalysisResult(method="missingness", summary=self.to_dict())
        for t in self.tests:
            name = f"missingness_{self.variable}_by_{t.covariate}"
            if t.kind == "categorical" and t.levels is not None and self.frame is not None:
                df = self.frame[["_status", t.covariate]].dropna()
                df = df.assign(**{t.covariate: df[t.covariate].astype(str)})
                res.add_table(
                    name,
                    t.levels,
                    f"Share of rows with {self.variable} missing, by {t.covariate} "
                    f"({t.test}, p = {t.p_value:.3g}).",
                    FrequencyTable.from_microdata(df, [t.covariate, "_status"]),
                )
            else:
                res.add_table(
                    name,
                    pd.DataFrame(
                        {
                            "where": ["missing", "recorded"],
                            f"mean_{t.covariate}": [t.mean_missing, t.mean_present],
                        }
                    ),
                    f"Mean of {t.covariate} where {self.variable} is missing and where it "
                    f"is recorded ({t.test}, p = {t.p_value:.3g}).",
                )
        if self.model is not None and self.model_result is not None:
            res.add_table(
                f"missingness_{self.variable}_model",
                self.model,
                f"Logistic model of {self.variable} being missing: odds ratios, 95% CIs.",
                RegressionResult.from_statsmodels(self.model_result),
            )
        res.notes += self.notes
        return res

    def outputs(self) -> dict[str, OutputObject]:
        """The output objects the disclosure rules check, by name."""
        return self.result().outputs()


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _natural(v: str) -> tuple[int, float, str]:
    """Numbers in numeric order, before text."""
    try:
        return (0, float(v), "")
    except ValueError:
        return (1, 0.0, v)


def _labels(x: pd.Series) -> pd.Series:
    """A covariate's values as text, missing kept missing."""
    return x.astype("object").map(lambda v: None if pd.isna(v) else str(v))


def _is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


def missingness(
    df: pd.DataFrame,
    variable: str,
    covariates: Sequence[str],
    missing_codes: Sequence[str] = (),
    categorical: Sequence[str] = (),
    model: bool = True,
) -> MissingnessResult:
    """Whether ``variable`` is missing more often with some values of ``covariates``.

    A covariate is categorical if it is text or true/false, or named in
    ``categorical`` (e.g. a numeric code such as a deprivation quintile)."""
    absent = [c for c in [variable, *covariates] if c not in df.columns]
    if absent:
        raise FivesafesError(
            f"no column(s) {', '.join(absent)}; the table has {', '.join(map(str, df.columns))}"
        )
    if variable in covariates:
        raise FivesafesError(f"{variable} cannot be a covariate of its own missingness")
    v = df[variable]
    miss = (v.isna() | v.astype(str).isin([*missing_codes, ""])).to_numpy(dtype=bool)
    notes: list[str] = []
    tests: list[CovariateTest] = []
    cat_cols: list[str] = []
    frame = pd.DataFrame({"_status": np.where(miss, "missing", "recorded")})
    for c in covariates:
        x = df[c]
        ok = x.notna().to_numpy()
        if ok.sum() == 0:
            notes.append(f"{c} is never recorded, so it was left out.")
            continue
        if _is_categorical(x) or c in categorical:
            xs = x[ok].astype(str).to_numpy()
            levels = np.array(sorted(set(xs), key=_natural), dtype=object)
            codes = pd.Categorical(xs, categories=levels).codes
            if len(levels) > MAX_LEVELS:
                notes.append(f"{c} has {len(levels)} values (over {MAX_LEVELS}): left out.")
                continue
            if len(levels) < 2:
                notes.append(f"{c} has one value only, so it was left out.")
                continue
            m = miss[ok].astype(int)
            table = np.zeros((len(levels), 2))
            np.add.at(table, (codes, m), 1)
            chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
            lv = pd.DataFrame(
                {
                    "level": levels,
                    "n": table.sum(axis=1).astype(int),
                    "missing": table[:, 1].astype(int),
                }
            )
            lv["missing_pct"] = (100 * lv["missing"] / lv["n"]).round(3)
            tests.append(
                CovariateTest(
                    c,
                    "categorical",
                    "chi-square",
                    float(chi2),
                    float(dof),
                    float(p),
                    int(ok.sum()),
                    levels=lv,
                )
            )
            frame[c] = _labels(x).to_numpy()
            cat_cols.append(c)
        else:
            xv = pd.to_numeric(x, errors="coerce").to_numpy(dtype=float)
            ok = ~np.isnan(xv)
            a, b = xv[ok & miss], xv[ok & ~miss]
            if len(a) < 2 or len(b) < 2:
                notes.append(f"{c}: too few rows on one side to compare, left out.")
                continue
            res = stats.ttest_ind(a, b, equal_var=False)
            tests.append(
                CovariateTest(
                    c,
                    "numeric",
                    "Welch t-test",
                    float(res.statistic),
                    float(res.df),
                    float(res.pvalue),
                    int(ok.sum()),
                    mean_missing=float(a.mean()),
                    mean_present=float(b.mean()),
                )
            )
    result = MissingnessResult(
        variable=variable,
        rows=len(df),
        missing=int(miss.sum()),
        tests=tests,
        model=None,
        notes=notes,
        frame=frame,
    )
    used = [t.covariate for t in tests]
    if model and used and 0 < result.missing < result.rows:
        _fit(df, miss, used, cat_cols, result)
    return result


def _fit(
    df: pd.DataFrame,
    miss: np.ndarray,
    used: list[str],
    cat_cols: list[str],
    result: MissingnessResult,
) -> None:
    import statsmodels.api as sm

    parts = []
    for c in used:
        if c in cat_cols:
            s = _labels(df[c])
            ref = s.value_counts().idxmax()
            levels = [lv for lv in sorted(s.dropna().unique(), key=_natural) if lv != ref]
            d = pd.DataFrame(
                {f"{c}[{lv}]": (s == lv).astype(float) for lv in levels}, index=df.index
            )
            d[s.isna()] = np.nan
            parts.append(d)
        else:
            parts.append(pd.to_numeric(df[c], errors="coerce").rename(c).to_frame().astype(float))
    x = pd.concat(parts, axis=1)
    keep = x.notna().all(axis=1).to_numpy()
    x = sm.add_constant(x[keep], has_constant="add")
    y = miss[keep].astype(float)
    if keep.sum() < len(df):
        result.notes.append(
            f"The logistic model uses the {int(keep.sum()):,} rows with every covariate recorded."
        )
    try:
        fit = sm.Logit(y, x).fit(disp=0, maxiter=200)
    except Exception as exc:  # e.g. perfect separation, singular design
        result.notes.append(f"The logistic model could not be fitted: {exc}.")
        return
    ci = np.asarray(fit.conf_int())
    result.model = pd.DataFrame(
        {
            "term": list(x.columns),
            "odds_ratio": np.exp(np.asarray(fit.params)),
            "ci_low": np.exp(ci[:, 0]),
            "ci_high": np.exp(ci[:, 1]),
            "p_value": np.asarray(fit.pvalues),
        }
    )
    result.model_rows = int(keep.sum())
    result.model_result = fit


__all__ = ["CovariateTest", "MissingnessResult", "missingness"]
