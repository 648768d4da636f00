"""Fixed effects (pyfixest) recover the within-employer immigrant pay gap.

Planted (docs/synthetic-world.md, "Pay"): log hourly pay includes, for immigrants,
−0.25 at arrival narrowing by 0.01 per year of residence (up to 20 years), an
English proficiency effect (very well 0, well −0.05, not well −0.12, not at all
−0.20; census codes 1–4), employer effects (sd 0.20) with immigrants sorted
towards lower-paying employers, and a person effect (sd 0.15, hence standard
errors clustered on the person). So within employers the immigrant coefficient
is −0.25 and the residence slope +0.01; without employer fixed effects the gap
is wider (part of it lies between employers).
"""

from __future__ import annotations

import pandas as pd
import pytest

from fivesafes.analysis.fixed_effects import fixed_effects
from fivesafes.analysis.result import AnalysisResult
from fivesafes.errors import FivesafesError, InputError
from fivesafes.outputs import RegressionResult, load_policy

FORMULA = (
    "log_pay ~ immigrant + immigrant:residence + C(english) + age + I(age**2) + C(skill)"
    " + female + year | employer_id"
)
PLANTED = {
    "immigrant": -0.25,
    "immigrant:residence": 0.01,
    "C(english)[T.1]": 0.0,
    "C(english)[T.2]": -0.05,
    "C(english)[T.3]": -0.12,
    "C(english)[T.4]": -0.20,
    "female": -0.08,
    "I(age ** 2)": -0.0006,
}


@pytest.fixture(scope="module")
def within_employer(earnings_data: pd.DataFrame) -> AnalysisResult:
    return fixed_effects(earnings_data, FORMULA, cluster="person_id")


def test_within_employer_gap_recovers_the_planted_values(within_employer: AnalysisResult) -> None:
    """Each planted value inside its 95% interval (person-clustered), Bonferroni
    over the 8 (each at 99.4%) would be looser still; these all hold at 95%."""
    t = within_employer.table("coefficients").set_index("term")
    for term, true in PLANTED.items():
        assert t.loc[term, "lower"] <= true <= t.loc[term, "upper"], (term, true, t.loc[term])
    # age: 0.035·(age − 16) − 0.0006·(age − 16)² is 0.035 + 0.0192 = 0.0542 per year of age
    assert t.loc["age", "lower"] <= 0.0542 <= t.loc["age", "upper"]


def test_raw_gap_is_wider_than_within_employers(within_employer: AnalysisResult) -> None:
    """Immigrants are sorted to lower-paying employers: without the fixed effects
    the immigrant coefficient is more negative, and its interval excludes −0.25."""
    c = within_employer.table("comparison").set_index("term").loc["immigrant"]
    assert c["without_fe"] < c["within_fe"] - 0.05
    assert c["without_fe_upper"] < -0.25
    assert c["between_part"] == pytest.approx(c["without_fe"] - c["within_fe"])


def test_summary_and_disclosure(
    within_employer: AnalysisResult, earnings_data: pd.DataFrame
) -> None:
    s = within_employer.summary
    assert s["n"] == len(earnings_data)
    assert s["fixed_effects"] == {"employer_id": earnings_data["employer_id"].nunique()}
    assert s["clusters"] == [earnings_data["person_id"].nunique()]
    assert 0 < s["r2_within"] < s["r2"] < 1
    reg = within_employer.outputs()["coefficients"]
    assert isinstance(reg, RegressionResult)
    assert reg.dof == s["n"] - len(reg.names) - s["fixed_effects"]["employer_id"]
    assert reg.level_counts["immigrant"] == earnings_data["immigrant"].sum()
    assert reg.level_counts["C(english)[T.4]"] == (earnings_data["english"] == "4").sum()
    assert within_employer.check(load_policy("acro"))["coefficients"].status == "pass"


def test_bad_models_are_refused(earnings_data: pd.DataFrame) -> None:
    small = earnings_data.head(500)
    with pytest.raises(FivesafesError, match="after '\\|'"):
        fixed_effects(small, "log_pay ~ immigrant")
    with pytest.raises(InputError, match="no column 'school_id'"):
        fixed_effects(small, "log_pay ~ immigrant | school_id")
    with pytest.raises(InputError, match="no column 'pupil'"):
        fixed_effects(small, "log_pay ~ immigrant | employer_id", cluster="pupil")
