"""Analysis tables the studies share, derived from a curated project workspace.

Each function takes a workspace whose standard curation steps have run
(:func:`curated`) and returns a plain DataFrame keyed by ``person_pseudonym``:
yearly attainment scores in long form, the pupils' person-level covariates,
justice involvement by age 21, the earnings panel joined to the census, the
special-needs types of pupils by area. Derived variables come from the curation
steps (:mod:`fivesafes.analysis.curation.standard_steps`) where one exists; the
rest are study steps of their own (:data:`JUSTICE_BY_21`), run and documented
the same way. The planted truth a study compares with comes in as data
(:mod:`fivesafes.analysis.truth`), never from the simulator.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from fivesafes.analysis.curation import Pipeline, Step, standard_steps
from fivesafes.analysis.curation.standard_steps import COURT_DISPOSALS, age_sql
from fivesafes.analysis.trajectories import TrajectoryResult, fit_trajectories

PSEUDONYM = "person_pseudonym"
#: The last year of the justice records: people born by then minus 21 are observed to 21.
LAST_OFFENCE_YEAR = 2024
#: Justice involvement by 21, least to most: none, cautions only, a court conviction, custody.
JUSTICE_LEVELS = ("none", "caution", "conviction", "custody")

JUSTICE_BY_21 = Step(
    "justice_by_21",
    "The most serious justice outcome of offences committed before age 21: caution "
    "(caution or youth caution), conviction (any court disposal but custody), custody.",
    ("justice_offences",),
    ("justice_by_21",),
    sql=f"""
        SELECT {PSEUDONYM},
            max(CASE WHEN disposal = 'CUS' THEN 3
                     WHEN disposal IN ({", ".join(f"'{d}'" for d in COURT_DISPOSALS)}) THEN 2
                     ELSE 1 END) AS justice_level_by_21,
            count(*) AS offences_by_21
        FROM justice_offences
        WHERE {age_sql("offence_date")} < 21
        GROUP BY ALL ORDER BY {PSEUDONYM}
    """,
    columns={
        "justice_level_by_21": "1 caution, 2 court conviction, 3 custody (worst before 21)",
        "offences_by_21": "Proven offences committed before age 21",
    },
)


@contextlib.contextmanager
def curated(workspace: Path, extra: Sequence[Step] = ()) -> Iterator[duckdb.DuckDBPyConnection]:
    """The workspace open with its standard curation steps (and ``extra``) run;
    steps whose inputs have not changed are skipped."""
    con = duckdb.connect(str(workspace))
    try:
        tables = {str(r[0]) for r in con.execute("SHOW TABLES").fetchall()}
        steps = standard_steps(tables) + [s for s in extra if set(s.inputs) <= tables]
        Pipeline(steps).run(con)
        yield con
    finally:
        con.close()


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable integer columns (DuckDB's with a NULL) as floats, for the model libraries."""
    for col in frame.columns:
        if isinstance(
            frame[col].dtype, pd.api.extensions.ExtensionDtype
        ) and pd.api.types.is_numeric_dtype(frame[col].dtype):
            frame[col] = frame[col].astype("float64")
    return frame


def attainment_long(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Yearly attainment scores, one row per pupil and year group 2..11, with
    ``t`` = year group − 2 (the planted trajectories' time)."""
    return con.execute(
        f"""
        SELECT {PSEUDONYM}, CAST(year_group AS INTEGER) - 2 AS t,
            avg(attainment_score) AS attainment_score
        FROM pupil_census
        WHERE year_group NOT IN ('R', '1') AND attainment_score IS NOT NULL
        GROUP BY ALL
        """
    ).df()


def shape_names(curves: np.ndarray) -> dict[int, str]:
    """The protocol's name for each fitted group (1-based) from its mean curve
    (``times × groups``): with three groups or more, the one whose score falls
    most from first to last time is ``declining``, the one that rises most
    ``rising``, and the others ``stable_high``, ``stable_middle``, ``stable_low``
    by mean level (``stable_1``.. for more than three); with two, ``high`` and
    ``low``; with one, ``all``. Every group is named, on any data (a synthetic
    twin's included), so that code written against the names runs."""
    k = curves.shape[1]
    level = curves.mean(axis=0)
    by_level = sorted(range(k), key=lambda j: -level[j])
    if k == 1:
        return {1: "all"}
    if k == 2:
        return {by_level[0] + 1: "high", by_level[1] + 1: "low"}
    change = curves[-1] - curves[0]
    falls = int(np.argmin(change))
    rises = max((j for j in range(k) if j != falls), key=lambda j: change[j])
    names = {falls + 1: "declining", rises + 1: "rising"}
    stable = [j for j in by_level if j not in (falls, rises)]
    labels = {
        1: ["stable_middle"],
        2: ["stable_high", "stable_low"],
        3: ["stable_high", "stable_middle", "stable_low"],
    }.get(len(stable), [f"stable_{i + 1}" for i in range(len(stable))])
    names |= {j + 1: label for j, label in zip(stable, labels, strict=True)}
    return names


def trajectory_groups(
    long: pd.DataFrame, groups: int = 5, tried: Sequence[int] = range(1, 7), seed: int = 1
) -> tuple[TrajectoryResult, pd.DataFrame, dict[int, str]]:
    """Fit 1..6 groups (for the BIC table) and keep the ``groups``-group model.
    Returns the result (its chosen model the one kept), each pupil's modal group
    and its posterior, and each fitted group's name by its shape
    (:func:`shape_names`)."""
    from fivesafes.analysis.gbtm import Panel, covariance

    fit = fit_trajectories(
        long, PSEUDONYM, "t", "attainment_score", groups=sorted({*tried, groups}), seed=seed
    )
    if fit.chosen != groups:
        fit.notes.append(
            f"BIC is smallest at {fit.chosen} groups; the study keeps {groups} as its protocol "
            "says (see the BIC table)"
        )
        kept = replace(fit, chosen=groups, notes=list(fit.notes))
        kept.fits[groups].covariance = covariance(Panel(fit._wide, fit.times), kept.fits[groups])
        fit = kept
    names = shape_names(fit.model.means(np.arange(0, 10, dtype=float)))
    assign = fit.assignments()
    assign = pd.DataFrame(
        {
            PSEUDONYM: assign["id"],
            "group": assign["group"].map(names),
            "posterior": assign.filter(like="posterior_").max(axis=1),
        }
    )
    return fit, assign, names


def pupils(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per pupil in the census: sex, birth year, looked after before 16,
    deprivation at school entry (``more_deprived`` = 5 − quintile, 0 least), first
    offence by 21 and (for those 21 by the end of the records) ``observed_to_21``."""
    return _plain(
        con.execute(
            f"""
        SELECT a.{PSEUDONYM}, a.birth_year, CAST(a.sex = 'M' AS INTEGER) AS male,
            CAST(a.looked_after_before_16 AS INTEGER) AS looked_after,
            5 - a.school_entry_deprivation_quintile AS more_deprived,
            CAST(coalesce(a.age_at_first_offence < 21, false) AS INTEGER) AS convicted_by_21,
            a.birth_year + 21 <= {LAST_OFFENCE_YEAR} AS observed_to_21,
            coalesce(j.justice_level_by_21, 0) AS justice_level_by_21
        FROM analysis_persons a
        JOIN (SELECT DISTINCT {PSEUDONYM} FROM pupil_census) p USING ({PSEUDONYM})
        LEFT JOIN justice_by_21 j USING ({PSEUDONYM})
        ORDER BY {PSEUDONYM}
        """
        ).df()
    )


def secondary_exclusions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Pupils seen in every secondary year (7 to 11): any fixed-term or permanent
    exclusion there."""
    return con.execute(
        f"""
        SELECT {PSEUDONYM},
            CAST(bool_or(fixed_term_exclusions > 0 OR permanent_exclusion) AS INTEGER)
                AS excluded
        FROM pupil_census WHERE year_group IN ('7', '8', '9', '10', '11')
        GROUP BY ALL HAVING count(DISTINCT year_group) = 5
        """
    ).df()


def pay_panel(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Earnings survey rows of people in the 2021 census: log hourly pay, age in
    April, immigrant (a year of arrival recorded), years of residence (capped at
    20), English proficiency, skill, sex, survey year and employer."""
    frame = con.execute(
        f"""
        SELECT e.{PSEUDONYM}, e.employer_id, e.survey_year AS year,
            ln(e.weekly_pay / e.paid_hours) AS log_pay,
            {
            age_sql(
                "make_date(CAST(e.survey_year AS INTEGER), 4, 15)", "e.birth_year", "e.birth_month"
            )
        } AS age,
            CAST(c.year_of_arrival IS NOT NULL AS INTEGER) AS immigrant,
            CASE WHEN c.year_of_arrival IS NULL THEN 0
                 ELSE least(greatest(e.survey_year - c.year_of_arrival, 0), 20) END AS residence,
            c.english_proficiency AS english, CAST(e.occupation_skill AS INTEGER) AS skill,
            CAST(e.sex = 'F' AS INTEGER) AS female
        FROM earnings_survey e JOIN census_2021 c USING ({PSEUDONYM})
        WHERE e.paid_hours > 0 AND e.weekly_pay > 0
        ORDER BY e.{PSEUDONYM}, e.survey_year
        """
    ).df()
    return _plain(frame)


def sen_types_by_area(con: duckdb.DuckDBPyConnection, sen_type: str) -> pd.DataFrame:
    """Per small area (the pupil's area at school entry, from the curation step):
    pupils ever recorded with a special-needs type, how many had ``sen_type`` as
    their primary type (most often recorded), and its share."""
    return con.execute(
        f"""
        WITH t AS (
            SELECT {PSEUDONYM}, sen_type, count(*) AS n FROM pupil_census
            WHERE sen_type IS NOT NULL GROUP BY ALL
        ), modal AS (
            SELECT {PSEUDONYM}, first(sen_type ORDER BY n DESC, sen_type) AS sen_type
            FROM t GROUP BY ALL
        )
        SELECT a.area_code, count(m.{PSEUDONYM}) AS sen_pupils,
            count(m.{PSEUDONYM}) FILTER (WHERE m.sen_type = ?) AS type_pupils
        FROM areas a
        LEFT JOIN deprivation_at_school_entry d ON d.school_entry_area = a.area_code
        LEFT JOIN modal m USING ({PSEUDONYM})
        GROUP BY ALL ORDER BY a.area_code
        """,
        [sen_type],
    ).df()


def sen_pupils(con: duckdb.DuckDBPyConnection, sen_type: str) -> pd.DataFrame:
    """One row per pupil ever recorded with a special-needs type: area at school
    entry and whether ``sen_type`` was the type most often recorded."""
    return con.execute(
        f"""
        WITH t AS (
            SELECT {PSEUDONYM}, sen_type, count(*) AS n FROM pupil_census
            WHERE sen_type IS NOT NULL GROUP BY ALL
        )
        SELECT t.{PSEUDONYM}, d.school_entry_area AS area_code,
            CAST(first(t.sen_type ORDER BY t.n DESC, t.sen_type) = ? AS INTEGER) AS has_type
        FROM t JOIN deprivation_at_school_entry d USING ({PSEUDONYM})
        GROUP BY ALL
        """,
        [sen_type],
    ).df()


def neighbour_pairs(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The areas' queen-contiguity neighbours as pairs (``area``, ``neighbour``)."""
    return con.execute(
        """
        SELECT area_code AS area, trim(n.neighbour) AS neighbour
        FROM areas, unnest(string_split(neighbours, ';')) AS n(neighbour)
        WHERE trim(n.neighbour) <> ''
        ORDER BY 1, 2
        """
    ).df()


__all__ = [
    "JUSTICE_BY_21",
    "JUSTICE_LEVELS",
    "attainment_long",
    "curated",
    "neighbour_pairs",
    "pay_panel",
    "pupils",
    "secondary_exclusions",
    "sen_pupils",
    "sen_types_by_area",
    "shape_names",
    "trajectory_groups",
]
