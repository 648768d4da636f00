"""The standard steps on a synthetic world's workspace: what they derive, the data
dictionary, re-runs when a dataset changes, and no identifier anywhere."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from curation_world import copy_workspace, shared_workspace

from fivesafes.analysis.curation import standard_pipeline, write_dictionary
from fivesafes.analysis.curation.steps import IDENTIFIER_NAMES, Pipeline
from fivesafes.datasets import POSTCODE_PATTERN

PEOPLE, SEED = 8000, 11


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Pipeline]:
    source = shared_workspace(tmp_path_factory, PEOPLE, SEED)
    path = copy_workspace(source, tmp_path_factory.mktemp("curated"))
    with duckdb.connect(str(path)) as con:
        pipeline = standard_pipeline(con)
        pipeline.run(con)
    return path, pipeline


def _read(path: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).df()


def test_every_standard_step_runs(curated: tuple[Path, Pipeline]) -> None:
    _, pipeline = curated
    assert pipeline.order[0] == "person_spine" and pipeline.order[-1] == "analysis_persons"
    assert set(pipeline.steps) == {
        "person_spine",
        "ethnicity",
        "first_offence",
        "care_history",
        "key_stage_attainment",
        "school_history",
        "deprivation_at_school_entry",
        "analysis_persons",
    }


def test_person_level_tables(curated: tuple[Path, Pipeline]) -> None:
    path, _ = curated
    persons = _read(
        path,
        "SELECT (SELECT count(*) FROM analysis_persons) AS a, (SELECT count(DISTINCT "
        "person_pseudonym) FROM (SELECT person_pseudonym FROM pupil_census UNION ALL SELECT "
        "person_pseudonym FROM justice_offences UNION ALL SELECT person_pseudonym FROM "
        "cla_episodes UNION ALL SELECT person_pseudonym FROM cin_census UNION ALL SELECT "
        "person_pseudonym FROM hospital_admissions UNION ALL SELECT person_pseudonym FROM "
        "census_2021)) AS b",
    )
    assert persons["a"][0] == persons["b"][0]
    # care entries are drawn between birth and 16 (docs/synthetic-world.md): every
    # child in the care records was looked after before 16
    care = _read(
        path,
        "SELECT count(*) AS n, sum(looked_after_before_16::INT) AS before16, "
        "(SELECT count(DISTINCT person_pseudonym) FROM cla_episodes) AS children "
        "FROM care_history",
    )
    assert care["n"][0] == care["children"][0] == care["before16"][0]
    flags = _read(
        path,
        "SELECT sum(looked_after_before_16::INT) AS lac, sum(ever_proven_offence::INT) AS off, "
        "count(*) FILTER (WHERE looked_after_before_16 IS NULL) AS null_lac, "
        "(SELECT count(DISTINCT person_pseudonym) FROM justice_offences) AS offenders "
        "FROM analysis_persons",
    )
    assert flags["lac"][0] == care["children"][0] and flags["null_lac"][0] == 0
    assert flags["off"][0] == flags["offenders"][0]


def test_age_at_first_offence(curated: tuple[Path, Pipeline]) -> None:
    path, _ = curated
    ages = _read(path, "SELECT age_at_first_offence AS a FROM first_offence")["a"]
    # offences are recorded from age 10 (docs/synthetic-world.md); adults first offend at 21-46
    assert ages.min() >= 10 and ages.max() <= 47
    # an example checked by hand against the records it comes from
    row = _read(
        path,
        "SELECT f.age_at_first_offence, j.offence_date, j.birth_year, j.birth_month "
        "FROM first_offence f JOIN justice_offences j USING (person_pseudonym) "
        "QUALIFY row_number() OVER (PARTITION BY person_pseudonym ORDER BY offence_date) = 1 "
        "ORDER BY person_pseudonym LIMIT 1",
    ).iloc[0]
    d = row["offence_date"]
    months = (d.year - row["birth_year"]) * 12 + d.month - row["birth_month"]
    assert row["age_at_first_offence"] == months // 12


def test_key_stages_standardised_within_cohorts(curated: tuple[Path, Pipeline]) -> None:
    path, _ = curated
    z = _read(
        path,
        "SELECT ks2_year, avg(ks2_z) AS m, stddev_samp(ks2_z) AS s, count(*) AS n "
        "FROM key_stage_attainment WHERE ks2_z IS NOT NULL GROUP BY 1 HAVING count(*) > 20",
    )
    assert len(z) > 5
    assert z["m"].abs().max() < 1e-9
    assert (z["s"] - 1).abs().max() < 1e-9


def test_reconciled_ethnicity_agrees_with_self_report(curated: tuple[Path, Pipeline]) -> None:
    path, _ = curated
    d = _read(path, "SELECT * FROM ethnicity_disagreement").set_index(
        ["level", "source_a", "source_b"]
    )
    # schools record a different code for 5% of pupils (docs/synthetic-world.md);
    # census and hospital both hold the person's own group
    school = d.loc[("18 groups", "census_2021", "pupil_census")]
    assert 2.0 < school["disagree_pct"] < 8.0
    assert d.loc[("18 groups", "census_2021", "hospital_admissions"), "persons_disagreeing"] == 0


def test_dictionary(curated: tuple[Path, Pipeline], tmp_path: Path) -> None:
    path, pipeline = curated
    with duckdb.connect(str(path), read_only=True) as con:
        paths = write_dictionary(con, pipeline, tmp_path)
    d = pd.read_csv(paths["csv"])
    assert set(d["table"]) == {t for s in pipeline.steps.values() for t in s.outputs}
    row = d[(d["table"] == "first_offence") & (d["column"] == "age_at_first_conviction")].iloc[0]
    assert row["step"] == "first_offence" and row["inputs"] == "justice_offences"
    assert row["description"] == "Age at the first conviction (years)"
    expected = _read(
        path, "SELECT 100.0 * count(age_at_first_conviction) / count(*) AS c FROM first_offence"
    )["c"][0]
    assert row["completeness_pct"] == pytest.approx(expected, abs=0.05)
    eth = d[(d["table"] == "ethnicity") & (d["column"] == "ethnicity_5")].iloc[0]
    assert set(eth["examples"].split(", ")) <= {"W", "M", "A", "B", "O"}
    assert (d["description"].fillna("") != "").all()
    md = paths["markdown"].read_text()
    assert "## `analysis_persons`" in md and "Made by step `first_offence`" in md
    assert '<th scope="col">completeness' not in paths["html"].read_text()  # header says complete
    assert "<caption>Columns of ethnicity</caption>" in paths["html"].read_text()


def test_changing_a_dataset_reruns_only_what_reads_it(
    curated: tuple[Path, Pipeline], tmp_path: Path
) -> None:
    path, _ = curated
    copy = copy_workspace(path, tmp_path)
    with duckdb.connect(str(copy)) as con:
        pipeline = standard_pipeline(con)
        assert pipeline.run(con).ran == []
        con.execute(
            "DELETE FROM justice_offences WHERE offence_date = (SELECT max(offence_date) "
            "FROM justice_offences)"
        )
        assert sorted(pipeline.run(con).ran) == [
            "analysis_persons",
            "ethnicity",
            "first_offence",
            "person_spine",
        ]
        assert pipeline.run(con).ran == []


def test_no_identifier_in_the_curated_workspace(
    curated: tuple[Path, Pipeline], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No column named like an identifier, and no value of any text column that is
    an identifier the providers sent (names, postcodes, reference numbers)."""
    path, _ = curated
    world = shared_workspace(tmp_path_factory, PEOPLE, SEED).parents[3] / "world"
    sent: set[str] = set()
    for f in (world / "provider").glob("*.csv"):
        head = pd.read_csv(f, nrows=0).columns
        cols = [c for c in head if c.lower() in IDENTIFIER_NAMES and c != "date_of_birth"]
        df = pd.read_csv(f, usecols=cols, dtype=str, keep_default_na=False)
        for c in cols:
            sent |= set(df[c]) - {""}
    assert len(sent) > 10_000
    with duckdb.connect(str(path), read_only=True) as con:
        text = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' AND table_schema = 'main'"
        ).fetchall()
        con.register("sent", pd.DataFrame({"v": sorted(sent)}))
        for table, column in text:
            ((hits,),) = con.execute(
                f'SELECT count(*) FROM "{table}" t JOIN sent ON sent.v = t."{column}"'
            ).fetchall()
            assert hits == 0, (table, column)
        assert len(text) > 30  # every table's text columns were looked at
        cols = con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
        ).fetchall()
        assert not [(t, c) for t, c, _ in cols if c.lower() in IDENTIFIER_NAMES]
        postcode = re.compile(POSTCODE_PATTERN[1:-1])
        for table, column, kind in cols:
            if kind != "VARCHAR":
                continue
            values = con.execute(f'SELECT DISTINCT "{column}" FROM "{table}" LIMIT 500').fetchall()
            assert not [v for (v,) in values if v and postcode.search(str(v))], (table, column)
