"""Oaxaca–Blinder on the synthetic world's immigrant pay gap.

Planted (docs/synthetic-world.md, "Pay"): log hourly pay = 2.2 + 0.035·(age − 16)
− 0.0006·(age − 16)² + 0.15 per occupation skill level + employer effect − 0.08
if female + 0.02 per year since 2010 + person effect + noise, and for immigrants
−0.25 at arrival narrowing by 0.01 per year of residence, plus an English
proficiency penalty; immigrants are sorted towards lower-paying employers.

So with natives' coefficients as the reference (natives' employer and person
effects are independent of their covariates, so their coefficients are the
planted ones), the part of the native − immigrant gap explained by age, skill,
sex and year is, in truth, the difference in the groups' mean planted
contributions: sum over terms of (mean for natives − mean for immigrants) × the
planted coefficient. The rest (unexplained) is the immigrant penalty and the
employer sorting.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fivesafes.analysis.decomposition import oaxaca
from fivesafes.analysis.result import AnalysisResult
from fivesafes.errors import FivesafesError
from fivesafes.outputs import GroupSummary, RegressionResult

COVARIATES = "I(age - 16) + I((age - 16)**2) + C(skill) + female + I(year - 2010)"


def planted_contribution(d: pd.DataFrame) -> float:
    """Mean of the planted terms for age, skill, sex and year."""
    return float(
        (
            0.035 * (d["age"] - 16)
            - 0.0006 * (d["age"] - 16) ** 2
            + 0.15 * (d["skill"] - 1)
            - 0.08 * d["female"]
            + 0.02 * (d["year"] - 2010)
        ).mean()
    )


@pytest.fixture(scope="module")
def decomposition(earnings_data: pd.DataFrame) -> AnalysisResult:
    return oaxaca(
        earnings_data,
        "log_pay",
        "immigrant",
        COVARIATES,
        group_a=0,
        reference="A",
        bootstrap=100,
        seed=1,
        cluster="person_id",
    )


def test_explained_part_matches_the_planted_coefficients(
    decomposition: AnalysisResult, earnings_data: pd.DataFrame
) -> None:
    natives = earnings_data[earnings_data["immigrant"] == 0]
    immigrants = earnings_data[earnings_data["immigrant"] == 1]
    true_explained = planted_contribution(natives) - planted_contribution(immigrants)
    two = decomposition.table("twofold").set_index("component")
    lo, hi = two.loc["explained", ["lower", "upper"]]
    assert lo <= true_explained <= hi, (true_explained, lo, hi)
    gap = natives["log_pay"].mean() - immigrants["log_pay"].mean()
    assert two.loc["gap", "estimate"] == pytest.approx(gap)
    lo, hi = two.loc["unexplained", ["lower", "upper"]]
    assert lo <= gap - true_explained <= hi
    # the raw gap is large and almost all of it is not explained by the covariates
    assert gap > 0.2
    assert two.loc["unexplained", "estimate"] > 0.8 * gap


def test_natives_coefficients_are_the_planted_ones(decomposition: AnalysisResult) -> None:
    d = decomposition.table("detailed").set_index("term")
    assert d.loc["I(age - 16)", "coef_a"] == pytest.approx(0.035, abs=0.004)
    assert d.loc["I((age - 16) ** 2)", "coef_a"] == pytest.approx(-0.0006, abs=0.0001)
    assert d.loc["female", "coef_a"] == pytest.approx(-0.08, abs=0.02)
    assert d.loc["C(skill)[T.4]", "coef_a"] == pytest.approx(0.45, abs=0.03)
    assert d.loc["I(year - 2010)", "coef_a"] == pytest.approx(0.02, abs=0.002)


def test_components_add_up(decomposition: AnalysisResult) -> None:
    s = decomposition.summary
    assert s["explained"] + s["unexplained"] == pytest.approx(s["gap"])
    assert s["endowments"] + s["coefficients"] + s["interaction"] == pytest.approx(s["gap"])
    d = decomposition.table("detailed")
    assert d["explained"].sum() == pytest.approx(s["explained"])
    assert d["unexplained"].sum() == pytest.approx(s["unexplained"])
    # with group A's coefficients as reference the twofold is the threefold regrouped
    assert s["unexplained"] == pytest.approx(s["coefficients"])


def test_outputs_for_the_disclosure_engine(decomposition: AnalysisResult) -> None:
    out = decomposition.outputs()
    assert set(out) == {"twofold", "threefold", "detailed", "groups"}
    assert isinstance(out["twofold"], RegressionResult) and out["twofold"].dof > 1000
    groups = out["groups"]
    assert isinstance(groups, GroupSummary)
    assert groups.sizes.sum() == decomposition.summary["n_a"] + decomposition.summary["n_b"]


def test_cluster_bootstrap_is_wider_than_rows(earnings_data: pd.DataFrame) -> None:
    """Person-years of one person are alike (a planted person effect): resampling
    rows understates the uncertainty that resampling people shows."""
    sub = earnings_data[earnings_data["year"] >= 2018]
    rows = oaxaca(sub, "log_pay", "immigrant", COVARIATES, group_a=0, bootstrap=60, seed=2)
    people = oaxaca(
        sub,
        "log_pay",
        "immigrant",
        COVARIATES,
        group_a=0,
        bootstrap=60,
        seed=2,
        cluster="person_id",
    )
    se_rows = rows.table("twofold").set_index("component").loc["gap", "se"]
    se_people = people.table("twofold").set_index("component").loc["gap", "se"]
    assert se_people > 1.3 * se_rows


def test_bad_input_is_refused() -> None:
    d = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 6], "g": [0, 0, 0, 1, 1, 1], "x": [1, 2, 3, 1, 2, 3]})
    with pytest.raises(FivesafesError, match="exactly two values"):
        oaxaca(d.assign(g=[0, 1, 2, 0, 1, 2]), "y", "g", ["x"], group_a=0)
    with pytest.raises(FivesafesError, match="not a value"):
        oaxaca(d, "y", "g", ["x"], group_a=7)
    with pytest.raises(FivesafesError, match="collinear"):
        oaxaca(d.assign(x=[1, 1, 1, 1, 2, 3]), "y", "g", ["x"], group_a=0)
    with pytest.raises(FivesafesError, match=r"row 2 .*field 'y'"):
        oaxaca(d.assign(y=["1", "a", "3", "4", "5", "6"]), "y", "g", ["x"], group_a=0)
    assert np.isfinite(oaxaca(d, "y", "g", ["x"], group_a=0, bootstrap=5, seed=1).summary["gap"])
