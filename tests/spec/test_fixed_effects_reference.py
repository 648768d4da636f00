"""The within (fixed-effects) estimator matches the published Grunfeld results.

Grunfeld's investment data (statsmodels.datasets.grunfeld: 11 US firms,
1935-1954). The classic 10-firm panel (without American Steel, 200 rows) is the
one in R's ``plm`` and in Baltagi's *Econometric Analysis of Panel Data*
(Table 2.1). ``invest ~ value + capital`` with firm fixed effects, conventional
standard errors, as printed for ``plm(inv ~ value + capital, data = Grunfeld,
model = "within")`` in Croissant & Millo, "Panel Data Econometrics in R: The plm
Package", Journal of Statistical Software 27(2), 2008, and by Stata's ``xtreg
invest mvalue kstock, fe``: value 0.110124 (se 0.011857), capital 0.310065
(se 0.017355), 188 residual degrees of freedom (200 - 2 - 10 firms); and, for
the same model without firm effects (plm's ``model = "pooling"``), value
0.115562 and capital 0.230678.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from fivesafes.analysis.fixed_effects import fixed_effects

PLM_WITHIN = {"value": (0.110124, 0.011857), "capital": (0.310065, 0.017355)}


def test_grunfeld_within_matches_plm() -> None:
    data = sm.datasets.grunfeld.load_pandas().data
    data = data[data["firm"] != "American Steel"].reset_index(drop=True)
    result = fixed_effects(data, "invest ~ value + capital | firm", vcov="iid")
    t = result.table("coefficients").set_index("term")
    for term, (coef, se) in PLM_WITHIN.items():
        assert t.loc[term, "estimate"] == pytest.approx(coef, abs=5e-7)
        assert t.loc[term, "se"] == pytest.approx(se, abs=5e-7)
    assert result.summary["n"] == 200
    assert result.summary["fixed_effects"] == {"firm": 10}
    assert result.summary["df_resid"] == 188
    # the within estimator is OLS with one dummy per firm (least-squares dummy variables)
    dummies = sm.add_constant(
        np.column_stack(
            [data[["value", "capital"]], np.eye(10)[data["firm"].factorize()[0]][:, 1:]]
        )
    )
    lsdv = sm.OLS(data["invest"], dummies).fit()
    np.testing.assert_allclose(t["estimate"], lsdv.params[1:3], rtol=1e-8)
    np.testing.assert_allclose(t["se"], lsdv.bse[1:3], rtol=1e-8)
    # without the firm effects (pooled OLS), the comparison table's other column
    pooled = result.table("comparison").set_index("term")
    assert pooled.loc["value", "without_fe"] == pytest.approx(0.115562, abs=5e-7)
    assert pooled.loc["capital", "without_fe"] == pytest.approx(0.230678, abs=5e-7)
