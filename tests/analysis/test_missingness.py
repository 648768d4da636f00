"""Missingness analysis: tests per covariate, a logistic model of the missing
indicator and a plain-language summary, on a synthetic world whose ethnicity is
missing not at random (docs/synthetic-world.md, "Ethnicity recording")."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from curation_world import shared_workspace
from scipy import stats

from fivesafes.analysis.missingness import missingness
from fivesafes.errors import FivesafesError
from fivesafes.outputs import FrequencyTable, RegressionResult, load_policy

PEOPLE, SEED = 8000, 11
# docs/synthetic-world.md: ethnicity is missing in 12% of hospital records, 20% of
# justice records (officer-observed), each × 2.5 for mixed and other groups.
HOSPITAL_BASE, JUSTICE_BASE, MULTIPLIER = 0.12, 0.20, 2.5


def _odds(p: float) -> float:
    return p / (1 - p)


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Hospital records with the person's self-reported ethnic group from the census
    (another source: the hospital's own record is what may be missing)."""
    path = shared_workspace(tmp_path_factory, PEOPLE, SEED)
    with duckdb.connect(str(path), read_only=True) as con:
        df = con.execute(
            "WITH c AS (SELECT person_pseudonym, any_value(ethnicity) AS e FROM census_2021 "
            "WHERE ethnicity IS NOT NULL GROUP BY 1) "
            "SELECT h.ethnicity, left(c.e, 1) AS group_5, "
            "left(c.e, 1) IN ('M', 'O') AS mixed_or_other, h.sex, "
            "year(h.admission_date) - h.birth_year AS age, a.deprivation_decile "
            "FROM hospital_admissions h JOIN c USING (person_pseudonym) "
            "LEFT JOIN areas a USING (area_code)"
        ).df()
    return df


def _rate_ci(missing: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(missing, n).proportion_ci(0.95)
    return ci.low, ci.high


def test_ethnicity_missingness_related_to_the_planted_groups(hospital: pd.DataFrame) -> None:
    r = missingness(
        hospital, "ethnicity", ["mixed_or_other", "sex", "age"], missing_codes=["REFU", "NOBT"]
    )
    t = r.test("mixed_or_other")
    assert t.test == "chi-square" and t.p_value < 1e-6
    lv = t.levels.set_index("level")
    low, high = _rate_ci(int(lv.loc["True", "missing"]), int(lv.loc["True", "n"]))
    assert low < HOSPITAL_BASE * MULTIPLIER < high  # 30% for mixed and other groups
    low, high = _rate_ci(int(lv.loc["False", "missing"]), int(lv.loc["False", "n"]))
    assert low < HOSPITAL_BASE < high  # 12% for everyone else
    # the model's odds ratio recovers the planted one: odds(30%) / odds(12%) = 3.14
    true_or = _odds(HOSPITAL_BASE * MULTIPLIER) / _odds(HOSPITAL_BASE)
    assert r.model is not None
    row = r.model.set_index("term").loc["mixed_or_other[True]"]
    assert row["ci_low"] < true_or < row["ci_high"]
    # nothing was planted on sex or age
    assert "sex" not in r.related and "age" not in r.related
    assert r.related == ["mixed_or_other"]
    text = " ".join(r.summary())
    assert "not missing completely at random" in text
    assert "It is missing more often for some values of mixed_or_other (p < 0.001)" in text


def test_five_groups_mixed_and_other_stand_out(hospital: pd.DataFrame) -> None:
    r = missingness(
        hospital, "ethnicity", ["group_5", "deprivation_decile"], categorical=["deprivation_decile"]
    )
    assert r.model is not None
    m = r.model.set_index("term")
    # against White (the commonest group): Mixed and Other more often missing,
    # Asian and Black not (they share the base rate)
    assert m.loc["group_5[M]", "ci_low"] > 1 and m.loc["group_5[O]", "ci_low"] > 1
    assert m.loc["group_5[A]", "ci_low"] < 1 < m.loc["group_5[A]", "ci_high"]
    assert m.loc["group_5[B]", "ci_low"] < 1 < m.loc["group_5[B]", "ci_high"]
    # deciles in numeric order, 1 (the commonest here or not) never beside 10
    levels = list(r.test("deprivation_decile").levels["level"])
    assert levels == [str(i) for i in range(1, 11)]


def test_justice_officer_observed_ethnicity(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = shared_workspace(tmp_path_factory, PEOPLE, SEED)
    with duckdb.connect(str(path), read_only=True) as con:
        df = con.execute(
            "WITH c AS (SELECT person_pseudonym, any_value(ethnicity) AS e FROM census_2021 "
            "WHERE ethnicity IS NOT NULL GROUP BY 1) "
            "SELECT j.ethnicity_observed, left(c.e, 1) IN ('M', 'O') AS mixed_or_other "
            "FROM justice_offences j JOIN c USING (person_pseudonym)"
        ).df()
    r = missingness(df, "ethnicity_observed", ["mixed_or_other"])
    lv = r.test("mixed_or_other").levels.set_index("level")
    assert r.test("mixed_or_other").p_value < 0.001
    low, high = _rate_ci(int(lv.loc["True", "missing"]), int(lv.loc["True", "n"]))
    assert low < JUSTICE_BASE * MULTIPLIER < high  # 50%
    low, high = _rate_ci(int(lv.loc["False", "missing"]), int(lv.loc["False", "n"]))
    assert low < JUSTICE_BASE < high  # 20%


def test_completely_at_random_is_not_flagged() -> None:
    rng = np.random.default_rng(3)
    n = 4000
    df = pd.DataFrame(
        {
            "v": np.where(rng.random(n) < 0.2, np.nan, 1.0),
            "g": rng.choice(["a", "b", "c"], n),
            "x": rng.normal(size=n),
        }
    )
    r = missingness(df, "v", ["g", "x"])
    assert r.related == []
    assert "no evidence against its being missing completely at random" in " ".join(r.summary())


def test_numeric_covariate_t_test_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=3000)
    v = np.where(rng.random(3000) < 1 / (1 + np.exp(-(x - 1.5))), np.nan, 1.0)
    df = pd.DataFrame({"v": v, "x": x})
    r = missingness(df, "v", ["x"])
    t = r.test("x")
    ref = stats.ttest_ind(x[np.isnan(v)], x[~np.isnan(v)], equal_var=False)
    assert t.statistic == pytest.approx(ref.statistic) and t.p_value == pytest.approx(ref.pvalue)
    assert t.mean_missing is not None and t.mean_missing > t.mean_present  # type: ignore[operator]
    # the logistic model recovers the slope of 1 used to make the data
    assert r.model is not None
    row = r.model.set_index("term").loc["x"]
    assert row["ci_low"] < np.e < row["ci_high"]


def test_outputs_for_disclosure_control(hospital: pd.DataFrame) -> None:
    r = missingness(hospital, "ethnicity", ["group_5", "age"])
    out = r.outputs()
    table = out["missingness_ethnicity_by_group_5"]
    assert isinstance(table, FrequencyTable)
    cells = table.cells()
    total = cells.values[(cells.labels == "Total").all(axis=1).to_numpy()]
    assert total.tolist() == [float(r.test("group_5").n)]
    assert isinstance(out["missingness_ethnicity_model"], RegressionResult)
    res = r.result()
    # the means of a numeric covariate have no counts the rules read: reviewed by eye
    assert res.unchecked() == ["missingness_ethnicity_by_age"]
    checked = res.check(load_policy("acro"))
    assert set(checked) == {"missingness_ethnicity_by_group_5", "missingness_ethnicity_model"}


def test_bad_arguments(hospital: pd.DataFrame) -> None:
    with pytest.raises(FivesafesError, match="no column"):
        missingness(hospital, "ethnicity", ["nope"])
    with pytest.raises(FivesafesError, match="own missingness"):
        missingness(hospital, "ethnicity", ["ethnicity"])
