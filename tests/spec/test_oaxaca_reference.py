"""The Oaxaca–Blinder decomposition matches Stata's ``oaxaca`` (Jann 2008).

Reference: statsmodels' own test of ``OaxacaBlinder``
(``statsmodels/stats/tests/test_oaxaca.py``), whose numbers come from Stata's
``oaxaca`` command (B. Jann, "The Blinder-Oaxaca decomposition for linear
regression models", Stata Journal 8(4), 2008) on Greene's credit card data
shipped with statsmodels (``statsmodels.datasets.ccard``, 72 people): average
monthly spending ``AVGEXP`` on ``AGE``, ``INCOME``, ``INCOMESQ``, by ``OWNRENT``.

Home owners minus renters: gap 158.7504; threefold endowments 321.7482,
coefficients 75.45371, interaction -238.4515; twofold (pooled, with the group
indicator) explained 130.8095, unexplained 27.94091. Renters minus owners: gap
-158.7504; endowments -83.29674, coefficients 162.9978, interaction -238.4515;
explained -130.8095, unexplained -27.94091.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.oaxaca import OaxacaBlinder

from fivesafes.analysis.decomposition import oaxaca

COVARIATES = ["AGE", "INCOME", "INCOMESQ"]


@pytest.fixture(scope="module")
def ccard() -> pd.DataFrame:
    return sm.datasets.ccard.load_pandas().data


@pytest.mark.parametrize(
    ("group_a", "expected"),
    [
        (1.0, (158.7504, 321.7482, 75.45371, -238.4515, 130.8095, 27.94091)),
        (0.0, (-158.7504, -83.29674, 162.9978, -238.4515, -130.8095, -27.94091)),
    ],
)
def test_matches_stata_oaxaca_on_ccard(
    ccard: pd.DataFrame, group_a: float, expected: tuple[float, ...]
) -> None:
    gap, endow, coef, inter, explained, unexplained = expected
    result = oaxaca(ccard, "AVGEXP", "OWNRENT", COVARIATES, group_a=group_a, bootstrap=50, seed=1)
    s = result.summary
    assert s["gap"] == pytest.approx(gap, abs=1e-3)
    assert s["endowments"] == pytest.approx(endow, abs=1e-3)
    assert s["coefficients"] == pytest.approx(coef, abs=1e-3)
    assert s["interaction"] == pytest.approx(inter, abs=1e-3)
    assert s["explained"] == pytest.approx(explained, abs=1e-3)
    assert s["unexplained"] == pytest.approx(unexplained, abs=1e-3)
    two = result.table("twofold").set_index("component")["estimate"]
    three = result.table("threefold").set_index("component")["estimate"]
    assert two["explained"] + two["unexplained"] == pytest.approx(gap, abs=1e-3)
    assert three.drop("gap").sum() == pytest.approx(gap, abs=1e-3)
    detailed = result.table("detailed")
    assert detailed["explained"].sum() == pytest.approx(explained, abs=1e-3)
    assert detailed["unexplained"].sum() == pytest.approx(unexplained, abs=1e-3)


@pytest.mark.parametrize(
    ("reference", "sm_type", "weight"),
    [
        ("neumark", "nuemark", None),
        ("reimers", "reimers", None),
        ("cotton", "cotton", None),
        ("A", "self_submitted", 1.0),  # renters' coefficients
        ("B", "self_submitted", 0.0),  # owners' coefficients
    ],
)
def test_other_references_equal_statsmodels(
    ccard: pd.DataFrame, reference: str, sm_type: str, weight: float | None
) -> None:
    """statsmodels' OaxacaBlinder, without its swap (renters, OWNRENT 0, first):
    with the swap its Cotton weights stay with the unswapped groups' sizes."""
    exog = sm.add_constant(ccard[[*COVARIATES, "OWNRENT"]], prepend=False)
    model = OaxacaBlinder(ccard["AVGEXP"], exog, "OWNRENT", hasconst=True, swap=False)
    unexplained, explained, gap = model.two_fold(
        two_fold_type=sm_type, submitted_weight=weight
    ).params
    s = oaxaca(
        ccard, "AVGEXP", "OWNRENT", COVARIATES, group_a=0.0, reference=reference, bootstrap=0
    ).summary
    assert s["gap"] == pytest.approx(gap, rel=1e-9)
    assert s["explained"] == pytest.approx(explained, rel=1e-7)
    assert s["unexplained"] == pytest.approx(unexplained, rel=1e-7)


def test_bootstrap_is_seeded_and_brackets_the_estimate(ccard: pd.DataFrame) -> None:
    a = oaxaca(ccard, "AVGEXP", "OWNRENT", COVARIATES, group_a=1.0, bootstrap=100, seed=4)
    b = oaxaca(ccard, "AVGEXP", "OWNRENT", COVARIATES, group_a=1.0, bootstrap=100, seed=4)
    pd.testing.assert_frame_equal(a.table("twofold"), b.table("twofold"))
    t = a.table("twofold")
    assert (t["se"] > 0).all()
    assert (t["lower"] < t["estimate"]).all() and (t["estimate"] < t["upper"]).all()
    assert np.isfinite(a.table("detailed")["explained_se"]).all()
