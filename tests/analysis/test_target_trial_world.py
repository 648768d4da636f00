"""Target trial emulation on the synthetic world, where a point treatment with
time-varying confounding exists and its true effect is known: a first fixed-term
exclusion in secondary school and a first proven offence.

docs/synthetic-world.md: exclusions rise on the declining attainment trajectory
(× 5 in secondary school), for boys and for children in care; offending depends
on the trajectory group, sex, deprivation and care — and not on exclusion. So the
true effect of an exclusion on offending is zero (risk difference 0), while
pupils who are excluded offend more: the naive comparison is confounded by the
trajectory, which a researcher sees only through the yearly attainment scores
(time-varying: their mean and slope so far).
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from curation_world import copy_workspace, shared_workspace

from fivesafes.analysis.curation import standard_pipeline
from fivesafes.analysis.target_trial import Protocol, emulate

pytestmark = pytest.mark.slow

TRUE_RD = 0.0  # exclusion has no effect on offending in the synthetic world
CONFOUNDERS = ["mean_score", "slope", "male", "care", "quintile", "fsm", "sen"]

#: One row per pupil and secondary-school year (7 to 11 = periods 0 to 4), for pupils
#: seen in all five years and not offending before year 7: treated from the first
#: year with a fixed-term exclusion; the event is the first proven offence in that
#: academic year; confounders are the attainment so far (mean, slope), free school
#: meals and special needs that year, sex, care and deprivation at school entry.
PERSON_PERIODS = """
WITH pc AS (
    SELECT person_pseudonym, academic_year, CAST(year_group AS INTEGER) AS yg,
        attainment_score, fixed_term_exclusions, fsm, sen_provision <> 'N' AS sen
    FROM pupil_census WHERE year_group <> 'R'
    QUALIFY row_number() OVER (PARTITION BY person_pseudonym, academic_year
                               ORDER BY fixed_term_exclusions DESC) = 1
), hist AS (
    SELECT *,
        regr_slope(attainment_score, yg) OVER w AS slope_so_far,
        avg(attainment_score) OVER w AS mean_so_far,
        max(CASE WHEN yg < 7 AND fixed_term_exclusions > 0 THEN 1 ELSE 0 END)
            OVER (PARTITION BY person_pseudonym) AS primary_exclusion,
        count(*) FILTER (WHERE yg BETWEEN 7 AND 11) OVER (PARTITION BY person_pseudonym)
            AS secondary_years,
        min(yg) FILTER (WHERE yg >= 7) OVER (PARTITION BY person_pseudonym) AS first_secondary
    FROM pc
    WINDOW w AS (PARTITION BY person_pseudonym ORDER BY yg
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT h.person_pseudonym AS id, h.yg - 7 AS period,
    CAST(max(CASE WHEN h.fixed_term_exclusions > 0 THEN 1 ELSE 0 END)
         OVER (PARTITION BY h.person_pseudonym ORDER BY h.yg) AS INTEGER) AS treated,
    CAST(coalesce(f.first_offence_date BETWEEN make_date(CAST(h.academic_year AS INTEGER), 9, 1)
         AND make_date(CAST(h.academic_year AS INTEGER) + 1, 8, 31), false) AS INTEGER) AS event,
    coalesce(h.mean_so_far, 50) AS mean_score, h.slope_so_far AS slope,
    CAST(h.fsm AS INTEGER) AS fsm, CAST(h.sen AS INTEGER) AS sen,
    CAST(a.sex = 'M' AS INTEGER) AS male, CAST(a.looked_after_before_16 AS INTEGER) AS care,
    coalesce(a.school_entry_deprivation_quintile, 3) AS quintile,
    1 - h.primary_exclusion AS eligible
FROM hist h
JOIN analysis_persons a ON a.person_pseudonym = h.person_pseudonym
LEFT JOIN first_offence f ON f.person_pseudonym = h.person_pseudonym
WHERE h.yg BETWEEN 7 AND 11 AND h.first_secondary = 7 AND h.secondary_years = 5
  AND (f.first_offence_date IS NULL
       OR f.first_offence_date >= make_date(CAST(h.academic_year AS INTEGER) - (h.yg - 7), 9, 1))
ORDER BY id, period
"""


@pytest.fixture(scope="module")
def person_periods(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    source = shared_workspace(tmp_path_factory, 20_000, 13)
    path = copy_workspace(source, tmp_path_factory.mktemp("tte-world"))
    with duckdb.connect(str(path)) as con:
        standard_pipeline(con).run(con)  # analysis_persons, first_offence, ...
        df = con.execute(PERSON_PERIODS).df()
    df["slope"] = df["slope"].fillna(0.0)  # one score so far: no slope yet
    return df


def test_exclusion_has_no_effect_on_offending(person_periods: pd.DataFrame) -> None:
    df = person_periods
    assert df["id"].nunique() > 3000 and df["event"].sum() > 150
    protocol = Protocol(
        id="id",
        period="period",
        treatment="treated",
        outcome="event",
        confounders=CONFOUNDERS,
        follow_up=3,
        time_zero="every",
        eligible="eligible",
        treatment_name="a first fixed-term exclusion",
        outcome_name="a first proven offence",
    )
    r = emulate(df, protocol, bootstrap=60, seed=1)
    # the naive comparison finds excluded pupils offend more: confounded
    nlo, _ = r.naive_ci["risk_difference"]
    assert nlo > TRUE_RD
    # the emulation (sequential trials, years 7 to 9, three years' follow-up)
    # removes most of the naive bias, and its interval reaches no effect to within
    # one percentage point. (Some confounding remains, since the trajectory is seen
    # only through noisy yearly scores, and each provisioning's random pseudonyms
    # reorder the bootstrap: the lower end was below zero in most runs and +0.002
    # in one CI run, so "covers zero exactly" fails now and then for that reason.)
    lo, hi = r.ci["risk_difference"]
    assert lo < TRUE_RD + 0.01 and hi > TRUE_RD
    assert abs(r.weighted.risk_difference) < 0.5 * abs(r.naive.risk_difference)


def test_clone_censor_weight_reduces_the_bias(person_periods: pd.DataFrame) -> None:
    """One time zero (year 7), excluded that year against never excluded to year 11.
    The trajectory is seen only through noisy scores, so some confounding remains
    (docs/target-trial.md): the estimate is still well under half the naive one."""
    protocol = Protocol(
        id="id",
        period="period",
        treatment="treated",
        outcome="event",
        confounders=CONFOUNDERS,
        follow_up=5,
        eligible="eligible",
    )
    r = emulate(person_periods, protocol, bootstrap=0)
    assert r.naive.risk_difference > 0
    assert abs(r.weighted.risk_difference - TRUE_RD) < 0.5 * abs(r.naive.risk_difference)
