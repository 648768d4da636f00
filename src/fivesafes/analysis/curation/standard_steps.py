"""A library of standard derived-variable steps for the synthetic world's datasets.

:func:`standard_steps` returns the steps a workspace can run, given the tables
it holds: a person spine, reconciled ethnicity, first offence and conviction
(with age), care history (ever looked after before 16), key stage attainment
standardised within each year's cohort, school history, deprivation at school
entry, and one person-level analysis table joining them. Ages come from birth
year and month (the workspace has no day of birth): age in completed years at
a date, counting the birthday as the first of the birth month.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pandas as pd

from fivesafes.analysis.curation.reconcile import reconcile
from fivesafes.analysis.curation.steps import Pipeline, Step, write_frame
from fivesafes.datasets import ETHNICITY_18, ETHNICITY_NOT_GIVEN

PSEUDONYM = "person_pseudonym"
PERSON_TABLES = (
    "pupil_census",
    "justice_offences",
    "cla_episodes",
    "cin_census",
    "hospital_admissions",
    "earnings_survey",
    "census_2021",
)
#: Where ethnicity is recorded, most trusted first: self-reported (census), the
#: school's record, the hospital's, and officer-observed (five groups only).
ETHNICITY_SOURCES = (
    ("census_2021", "ethnicity"),
    ("pupil_census", "ethnicity"),
    ("hospital_admissions", "ethnicity"),
    ("justice_offences", "ethnicity_observed"),
)
ETHNICITY_DATES = {
    "census_2021": "DATE '2021-03-21'",
    "pupil_census": "make_date(CAST(academic_year AS INTEGER) + 1, 1, 18)",
    "hospital_admissions": "admission_date",
    "justice_offences": "offence_date",
}
TO_5 = {code: group for code, (_, group) in ETHNICITY_18.items()}
#: Disposals given by a court (the others are cautions).
COURT_DISPOSALS = ("DIS", "FIN", "COM", "SUS", "CUS")


def age_sql(date: str, birth_year: str = "birth_year", birth_month: str = "birth_month") -> str:
    """Age in completed years at ``date`` (SQL), the birthday taken as the 1st of the month."""
    return (
        f"CAST(floor(((year({date}) - {birth_year}) * 12 + month({date}) - {birth_month}) "
        "/ 12.0) AS INTEGER)"
    )


def _spine(tables: list[str]) -> Step:
    union = " UNION ALL ".join(
        f"SELECT {PSEUDONYM}, sex, birth_year, birth_month, '{t}' AS dataset FROM {t}"
        for t in tables
    )
    flags = ", ".join(f"bool_or(dataset = '{t}') AS in_{t}" for t in tables)

    def modal(col: str) -> str:
        return (
            f"{col}_n AS (SELECT {PSEUDONYM}, {col}, count(*) AS n FROM r "
            f"WHERE {col} IS NOT NULL GROUP BY ALL), "
            f"{col}_m AS (SELECT {PSEUDONYM}, first({col} ORDER BY n DESC, {col}) AS {col} "
            f"FROM {col}_n GROUP BY ALL)"
        )

    sql = (
        f"WITH r AS ({union}), {modal('sex')}, {modal('birth_year')}, {modal('birth_month')}, "
        f"p AS (SELECT {PSEUDONYM}, count(*) AS records, {flags} FROM r GROUP BY ALL) "
        f"SELECT p.{PSEUDONYM}, s.sex, y.birth_year, m.birth_month, p.* EXCLUDE ({PSEUDONYM}) "
        f"FROM p LEFT JOIN sex_m s USING ({PSEUDONYM}) LEFT JOIN birth_year_m y "
        f"USING ({PSEUDONYM}) LEFT JOIN birth_month_m m USING ({PSEUDONYM}) "
        f"ORDER BY {PSEUDONYM}"
    )
    columns = {
        PSEUDONYM: "The person's pseudonym in this project",
        "sex": "Sex most often recorded across the datasets",
        "birth_year": "Year of birth most often recorded",
        "birth_month": "Month of birth most often recorded",
        "records": "Records of the person across the datasets",
    } | {f"in_{t}": f"The person has a record in {t}" for t in tables}
    return Step(
        "person_spine",
        "One row per person in any dataset, with sex and birth year and month as most "
        "often recorded (ties: the smallest code).",
        tuple(tables),
        ("persons",),
        sql=sql,
        columns=columns,
    )


def _ethnicity(present: set[str]) -> Step | None:
    sources = [(t, c) for t, c in ETHNICITY_SOURCES if t in present]
    if not sources:
        return None
    names = tuple(t for t, _ in sources)

    def reconcile_ethnicity(con: duckdb.DuckDBPyConnection) -> None:
        parts = [
            con.execute(
                f"SELECT {PSEUDONYM} AS person, '{t}' AS source, {c} AS value, "
                f"{ETHNICITY_DATES[t]} AS date FROM {t}"
            ).df()
            for t, c in sources
        ]
        records = pd.concat(parts, ignore_index=True)
        missing = tuple(ETHNICITY_NOT_GIVEN)
        full = records[records["source"] != "justice_offences"]
        r18 = reconcile(full, "priority", priority=names, date="date", missing=missing)
        recode = {t: TO_5 for t in names if t != "justice_offences"}
        r5 = reconcile(
            records, "priority", priority=names, date="date", missing=missing, recode=recode
        )
        v18 = r18.values.rename(
            columns={
                "person": PSEUDONYM,
                "value": "ethnicity_18",
                "source": "ethnicity_18_source",
            }
        )[[PSEUDONYM, "ethnicity_18", "ethnicity_18_source"]]
        v5 = r5.values.rename(
            columns={
                "person": PSEUDONYM,
                "value": "ethnicity_5",
                "source": "ethnicity_5_source",
                "sources": "ethnicity_sources",
                "distinct_values": "ethnicity_5_distinct",
            }
        )
        out = v5.merge(v18, on=PSEUDONYM, how="left")
        out["ethnicity_sources_disagree"] = out.pop("ethnicity_5_distinct") > 1
        out = out[
            [
                PSEUDONYM,
                "ethnicity_18",
                "ethnicity_18_source",
                "ethnicity_5",
                "ethnicity_5_source",
                "ethnicity_sources",
                "ethnicity_sources_disagree",
            ]
        ]
        pairs = r5.pairs.assign(level="5 groups")
        if len(r18.pairs):
            pairs = pd.concat([r18.pairs.assign(level="18 groups"), pairs], ignore_index=True)
        pairs = pairs.rename(
            columns={"both": "persons_in_both", "disagree": "persons_disagreeing"}
        )[
            [
                "level",
                "source_a",
                "source_b",
                "persons_in_both",
                "persons_disagreeing",
                "disagree_pct",
            ]
        ]
        write_frame(con, "ethnicity", out.sort_values(PSEUDONYM))
        write_frame(con, "ethnicity_disagreement", pairs)

    return Step(
        "ethnicity",
        "Ethnicity reconciled across sources by priority (self-reported census, then the "
        "school's record, the hospital's, and officer-observed in five groups); 'not "
        "obtained' and 'refused' count as missing. Also how often the sources disagree.",
        names,
        ("ethnicity", "ethnicity_disagreement"),
        function=reconcile_ethnicity,
        columns={
            "ethnicity_18": "Ethnic group (ONS 18 groups), from the first source that has one",
            "ethnicity_18_source": "Dataset the 18-group value came from",
            "ethnicity_5": "Ethnic group (5 groups: W, M, A, B, O), from the first source",
            "ethnicity_5_source": "Dataset the 5-group value came from",
            "ethnicity_sources": "Number of datasets recording the person's ethnicity",
            "ethnicity_sources_disagree": "The datasets record different 5-group ethnicities",
            "level": "Ethnic classification compared",
            "source_a": "First dataset of the pair",
            "source_b": "Second dataset of the pair",
            "persons_in_both": "Persons with an ethnicity in both datasets",
            "persons_disagreeing": "Of those, persons recorded in different groups",
            "disagree_pct": "Share disagreeing (%)",
        },
    )


def _first_offence() -> Step:
    court = ", ".join(f"'{d}'" for d in COURT_DISPOSALS)
    sql = f"""
        WITH o AS (
            SELECT {PSEUDONYM}, offence_date, outcome_date, disposal, birth_year, birth_month
            FROM justice_offences
        ), firsts AS (
            SELECT {PSEUDONYM},
                min(offence_date) AS first_offence_date,
                min(outcome_date) FILTER (WHERE disposal IN ({court})) AS first_conviction_date,
                count(*) AS proven_offences,
                count(*) FILTER (WHERE disposal IN ({court})) AS convictions,
                bool_or(disposal = 'CUS') AS ever_custody,
                first(birth_year ORDER BY birth_year) AS by_,
                first(birth_month ORDER BY birth_month) AS bm_
            FROM o GROUP BY ALL
        )
        SELECT {PSEUDONYM}, first_offence_date,
            {age_sql("first_offence_date", "by_", "bm_")} AS age_at_first_offence,
            first_conviction_date,
            {age_sql("first_conviction_date", "by_", "bm_")} AS age_at_first_conviction,
            proven_offences, convictions, ever_custody
        FROM firsts ORDER BY {PSEUDONYM}
    """
    return Step(
        "first_offence",
        "First proven offence (caution or conviction) and first court conviction, with the "
        "age at each (completed years, birthday taken as the 1st of the birth month).",
        ("justice_offences",),
        ("first_offence",),
        sql=sql,
        columns={
            "first_offence_date": "Date of the first proven offence (caution or conviction)",
            "age_at_first_offence": "Age at the first proven offence (years)",
            "first_conviction_date": "Date of the first conviction by a court (not a caution)",
            "age_at_first_conviction": "Age at the first conviction (years)",
            "proven_offences": "Proven offences recorded",
            "convictions": "Court convictions recorded",
            "ever_custody": "Ever sentenced to immediate custody",
        },
    )


def _care() -> Step:
    sql = f"""
        WITH c AS (
            SELECT {PSEUDONYM}, min(episode_start) AS first_care_entry,
                count(*) AS care_episodes,
                first(birth_year ORDER BY birth_year) AS by_,
                first(birth_month ORDER BY birth_month) AS bm_
            FROM cla_episodes GROUP BY ALL
        )
        SELECT {PSEUDONYM}, first_care_entry,
            {age_sql("first_care_entry", "by_", "bm_")} AS age_at_first_care_entry,
            care_episodes,
            {age_sql("first_care_entry", "by_", "bm_")} < 16 AS looked_after_before_16
        FROM c ORDER BY {PSEUDONYM}
    """
    return Step(
        "care_history",
        "Children looked after: first entry into care, age then, number of episodes, and "
        "whether the child was looked after before age 16.",
        ("cla_episodes",),
        ("care_history",),
        sql=sql,
        columns={
            "first_care_entry": "Start of the first episode of care",
            "age_at_first_care_entry": "Age at the first episode of care (years)",
            "care_episodes": "Episodes of care recorded",
            "looked_after_before_16": "Looked after before age 16",
        },
    )


def _key_stages() -> Step:
    def stage(col: str, group: str, name: str) -> str:
        # one result per pupil (the first year it was recorded), then standardised
        # within the cohort of pupils assessed that year
        return (
            f"{name}_raw AS (SELECT {PSEUDONYM}, academic_year AS {name}_year, {col} AS {name} "
            f"FROM pupil_census WHERE year_group = '{group}' AND {col} IS NOT NULL "
            f"QUALIFY row_number() OVER (PARTITION BY {PSEUDONYM} "
            f"ORDER BY academic_year, {col}) = 1), "
            f"{name} AS (SELECT *, ({name} - avg({name}) OVER (PARTITION BY {name}_year)) / "
            f"nullif(stddev_samp({name}) OVER (PARTITION BY {name}_year), 0) AS {name}_z "
            f"FROM {name}_raw)"
        )

    sql = (
        f"WITH p AS (SELECT DISTINCT {PSEUDONYM} FROM pupil_census), "
        f"{stage('ks1_points', '2', 'ks1')}, {stage('ks2_scaled_score', '6', 'ks2')}, "
        f"{stage('ks4_attainment8', '11', 'ks4')} "
        f"SELECT p.{PSEUDONYM}, ks1_year, ks1 AS ks1_points, ks1_z, ks2_year, "
        f"ks2 AS ks2_scaled_score, ks2_z, ks4_year, ks4 AS ks4_attainment8, ks4_z "
        f"FROM p LEFT JOIN ks1 USING ({PSEUDONYM}) LEFT JOIN ks2 USING ({PSEUDONYM}) "
        f"LEFT JOIN ks4 USING ({PSEUDONYM}) ORDER BY {PSEUDONYM}"
    )
    return Step(
        "key_stage_attainment",
        "Attainment at each key stage (KS1 points in year 2, KS2 scaled score in year 6, KS4 "
        "Attainment 8 in year 11), each also standardised within its year's cohort "
        "(z-score: minus the cohort mean, over the cohort standard deviation).",
        ("pupil_census",),
        ("key_stage_attainment",),
        sql=sql,
        columns={
            "ks1_year": "Academic year of the key stage 1 assessment",
            "ks1_points": "Key stage 1 average point score",
            "ks1_z": "Key stage 1 score standardised within its cohort",
            "ks2_year": "Academic year of the key stage 2 assessment",
            "ks2_scaled_score": "Key stage 2 scaled score",
            "ks2_z": "Key stage 2 score standardised within its cohort",
            "ks4_year": "Academic year of the key stage 4 assessment",
            "ks4_attainment8": "Key stage 4 Attainment 8",
            "ks4_z": "Key stage 4 score standardised within its cohort",
        },
    )


def _school_history() -> Step:
    sql = f"""
        SELECT {PSEUDONYM}, count(*) AS census_years,
            min(academic_year) AS first_academic_year, max(academic_year) AS last_academic_year,
            bool_or(fsm) AS ever_fsm, bool_or(sen_provision IN ('K', 'E')) AS ever_sen,
            bool_or(sen_provision = 'E') AS ever_ehc_plan,
            sum(fixed_term_exclusions) AS fixed_term_exclusions,
            bool_or(permanent_exclusion) AS ever_permanently_excluded,
            sum(sessions_absent) AS sessions_absent
        FROM pupil_census GROUP BY ALL ORDER BY {PSEUDONYM}
    """
    return Step(
        "school_history",
        "A pupil's school career: years in the census, ever eligible for free school meals, "
        "ever with special educational needs, exclusions and absence in total.",
        ("pupil_census",),
        ("school_history",),
        sql=sql,
        columns={
            "census_years": "Years the pupil appears in the school census",
            "first_academic_year": "First academic year in the census",
            "last_academic_year": "Last academic year in the census",
            "ever_fsm": "Ever eligible for free school meals",
            "ever_sen": "Ever with special educational needs (support or EHC plan)",
            "ever_ehc_plan": "Ever with an education, health and care plan",
            "fixed_term_exclusions": "Fixed-term exclusions in total",
            "ever_permanently_excluded": "Ever permanently excluded",
            "sessions_absent": "Half-day sessions absent in total",
        },
    )


def _deprivation() -> Step:
    sql = f"""
        WITH first_record AS (
            SELECT {PSEUDONYM}, area_code FROM pupil_census WHERE area_code IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY {PSEUDONYM} ORDER BY academic_year) = 1
        )
        SELECT f.{PSEUDONYM}, f.area_code AS school_entry_area, a.la_code AS school_entry_la,
            a.deprivation_decile AS school_entry_deprivation_decile,
            CAST((a.deprivation_decile + 1) // 2 AS INTEGER) AS school_entry_deprivation_quintile
        FROM first_record f LEFT JOIN areas a USING (area_code) ORDER BY f.{PSEUDONYM}
    """
    return Step(
        "deprivation_at_school_entry",
        "The small area of a pupil's first school census record with a postcode, and its "
        "local authority and deprivation decile and quintile (1 = most deprived).",
        ("pupil_census", "areas"),
        ("deprivation_at_school_entry",),
        sql=sql,
        columns={
            "school_entry_area": "Small area at the first school census record",
            "school_entry_la": "Local authority of that area",
            "school_entry_deprivation_decile": "Deprivation decile of that area (1 = most)",
            "school_entry_deprivation_quintile": "Deprivation quintile of that area (1 = most)",
        },
    )


#: What the analysis table takes from each person-level table: (column, value
#: for a person with no row there, or None to leave it missing).
PICK: dict[str, tuple[tuple[str, str | None], ...]] = {
    "ethnicity": (("ethnicity_18", None), ("ethnicity_5", None)),
    "school_history": (
        ("ever_fsm", None),
        ("ever_sen", None),
        ("fixed_term_exclusions", None),
        ("ever_permanently_excluded", None),
    ),
    "key_stage_attainment": tuple(
        (c, None)
        for c in ("ks1_points", "ks1_z", "ks2_scaled_score", "ks2_z", "ks4_attainment8", "ks4_z")
    ),
    "deprivation_at_school_entry": (
        ("school_entry_la", None),
        ("school_entry_deprivation_quintile", None),
    ),
    "care_history": (("looked_after_before_16", "false"), ("age_at_first_care_entry", None)),
    "first_offence": (
        ("age_at_first_offence", None),
        ("age_at_first_conviction", None),
        ("proven_offences", "0"),
    ),
}


def _analysis(made: dict[str, Step]) -> Step:
    select = [f"p.{PSEUDONYM}", "p.sex", "p.birth_year", "p.birth_month"]
    sources = ["persons p"]
    columns: dict[str, str] = {}
    inputs = ["persons"]
    for i, (step, picks) in enumerate((k, v) for k, v in PICK.items() if k in made):
        alias = f"t{i}"
        table = made[step].outputs[0]
        inputs.append(table)
        sources.append(f"LEFT JOIN {table} {alias} USING ({PSEUDONYM})")
        for col, fill in picks:
            desc = made[step].columns[col]
            if fill is None:
                select.append(f"{alias}.{col}")
                columns[col] = desc
            else:
                select.append(f"coalesce({alias}.{col}, {fill}) AS {col}")
                columns[col] = f"{desc} ({fill} when the person has no record in {step})"
        if step == "first_offence":
            select.append(f"{alias}.{PSEUDONYM} IS NOT NULL AS ever_proven_offence")
            columns["ever_proven_offence"] = "Ever cautioned or convicted"
    sql = f"SELECT {', '.join(select)} FROM {' '.join(sources)} ORDER BY p.{PSEUDONYM}"
    return Step(
        "analysis_persons",
        "One row per person joining the derived person-level variables (looked after "
        "before 16 is false, and proven offences 0, for persons with no record there).",
        tuple(inputs),
        ("analysis_persons",),
        sql=sql,
        columns={
            PSEUDONYM: "The person's pseudonym in this project",
            "sex": "Sex most often recorded",
            "birth_year": "Year of birth",
            "birth_month": "Month of birth",
        }
        | columns,
    )


def standard_steps(tables: Iterable[str]) -> list[Step]:
    """The standard steps a workspace holding ``tables`` can run."""
    present = set(tables)
    people = [t for t in PERSON_TABLES if t in present]
    if not people:
        return []
    made: dict[str, Step] = {}
    for s in (
        _ethnicity(present),
        _first_offence() if "justice_offences" in present else None,
        _care() if "cla_episodes" in present else None,
        _key_stages() if "pupil_census" in present else None,
        _school_history() if "pupil_census" in present else None,
        _deprivation() if {"pupil_census", "areas"} <= present else None,
    ):
        if s is not None:
            made[s.name] = s
    return [_spine(people), *made.values(), _analysis(made)]


def standard_pipeline(con: duckdb.DuckDBPyConnection) -> Pipeline:
    """The standard steps for what the workspace on ``con`` holds."""
    from fivesafes.analysis.curation.steps import table_names

    return Pipeline(standard_steps(table_names(con)))


__all__ = ["COURT_DISPOSALS", "age_sql", "standard_pipeline", "standard_steps"]
