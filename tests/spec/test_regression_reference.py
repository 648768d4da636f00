"""Binary and ordinal logistic regression match published reference results.

Binary: Spector & Mazzeo's grade data (``statsmodels.datasets.spector``, 32
students), ``GRADE ~ GPA + TUCE + PSI``, against the Stata 11 ``logit`` results
statsmodels ships as its own test reference
(``statsmodels/discrete/tests/results/results_discrete.py``, class ``Spector``):
coefficients (2.82611297201, .0951576702557, 2.37868772835, -13.0213483201) and
standard errors (1.26294114526, .141554207662, 1.06456430165, 4.93132462871) for
GPA, TUCE, PSI and the constant.

Ordinal: the UCLA graduate-school application data (``ologit_ucla.csv``, 400
students, shipped with statsmodels) ``apply ~ pared + public + gpa`` against R's
``MASS::polr`` (statsmodels' ``miscmodels/tests/results/results_ordinal_model.py``,
R 3.4.4): coefficients 1.04769011, -0.05878572, 0.61594057, standard errors
0.2658, 0.2979, 0.2606, thresholds 2.203915, 4.299363; and the same fit as
printed on the UCLA OARC page "Ordinal logistic regression | R data analysis
examples" (which that file cites): threshold standard errors 0.7795 and 0.8043,
AIC 727.0249. polr stops its optimiser earlier than statsmodels' Newton/BFGS
steps (same log-likelihood to 1e-7), hence the tolerances (statsmodels' own test
uses atol 2e-4 on the coefficients).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels
import statsmodels.api as sm

from fivesafes.analysis.regression import logistic, ordinal

STATA_SPECTOR = {
    "GPA": (2.82611297201, 1.26294114526),
    "TUCE": (0.0951576702557, 0.141554207662),
    "PSI": (2.37868772835, 1.06456430165),
    "Intercept": (-13.0213483201, 4.93132462871),
}

R_POLR = {
    "pared": (1.04769011, 0.2658),
    "public": (-0.05878572, 0.2979),
    "gpa": (0.61594057, 0.2606),
}
R_THRESHOLDS = [(2.203915, 0.7795), (4.299363, 0.8043)]


def test_binary_logit_matches_stata_on_spector() -> None:
    data = sm.datasets.spector.load_pandas().data
    result = logistic(data, "GRADE ~ GPA + TUCE + PSI")
    t = result.table("coefficients").set_index("term")
    for term, (coef, se) in STATA_SPECTOR.items():
        assert t.loc[term, "coef"] == pytest.approx(coef, rel=1e-6)
        assert t.loc[term, "se"] == pytest.approx(se, rel=1e-5)
        # Stata's "logit, or" interval is exp(b ± 1.959964 se)
        assert t.loc[term, "odds_ratio"] == pytest.approx(np.exp(coef), rel=1e-5)
        assert t.loc[term, "or_lower"] == pytest.approx(np.exp(coef - 1.959964 * se), rel=1e-5)
        assert t.loc[term, "or_upper"] == pytest.approx(np.exp(coef + 1.959964 * se), rel=1e-5)
    assert result.summary["n"] == 32 and result.summary["df_resid"] == 28
    assert result.summary["events"] == 11
    reg = result.outputs()["coefficients"]
    assert reg.dof == 28 and reg.level_counts == {"PSI": 14}


def test_ordinal_logit_matches_r_polr_on_ucla() -> None:
    path = (
        Path(statsmodels.__file__).parent / "miscmodels" / "tests" / "results" / "ologit_ucla.csv"
    )
    data = pd.read_csv(path)
    result = ordinal(
        data,
        "apply ~ pared + public + gpa",
        levels=["unlikely", "somewhat likely", "very likely"],
    )
    t = result.table("coefficients").set_index("term")
    assert list(t.index) == list(R_POLR)  # no intercept: the thresholds take its place
    for term, (coef, se) in R_POLR.items():
        assert t.loc[term, "coef"] == pytest.approx(coef, abs=2e-4)
        assert t.loc[term, "se"] == pytest.approx(se, rel=3e-3)
    th = result.table("thresholds")
    assert th["threshold"].tolist() == [
        "unlikely|somewhat likely",
        "somewhat likely|very likely",
    ]
    for (_, row), (value, se) in zip(th.iterrows(), R_THRESHOLDS, strict=True):
        assert row["value"] == pytest.approx(value, abs=1e-3)
        assert row["se"] == pytest.approx(se, abs=1e-4)
    assert result.summary["aic"] == pytest.approx(727.0249, abs=1e-4)
    assert result.summary["n"] == 400


def test_wrapper_equals_statsmodels_called_directly() -> None:
    """The wrapper adds tables, not arithmetic: its coefficients and standard errors
    are statsmodels' own for the same formula."""
    import statsmodels.formula.api as smf

    data = sm.datasets.spector.load_pandas().data
    direct = smf.logit("GRADE ~ GPA + PSI", data).fit(disp=False)
    result = logistic(data, "GRADE ~ GPA + PSI")
    t = result.table("coefficients")
    assert result.summary["pseudo_r2"] == pytest.approx(direct.prsquared, rel=1e-10)
    np.testing.assert_allclose(t["coef"], direct.params, rtol=1e-10)
    np.testing.assert_allclose(t["se"], direct.bse, rtol=1e-10)
    ci = np.exp(direct.conf_int())
    np.testing.assert_allclose(t["or_lower"], ci[0], rtol=1e-8)
    np.testing.assert_allclose(t["or_upper"], ci[1], rtol=1e-8)
