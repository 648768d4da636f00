"""Profiling a synthetic world's workspace: completeness, ranges, invalid codes
against the datasets catalogue, coverage over time and by area."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from curation_world import copy_workspace, shared_workspace

from fivesafes.analysis.profile import WorkspaceProfile, profile_workspace, write_profile
from fivesafes.errors import FivesafesError
from fivesafes.outputs import check, load_policy

PEOPLE, SEED = 8000, 11


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_workspace(tmp_path_factory, PEOPLE, SEED)


@pytest.fixture(scope="module")
def profile(workspace: Path) -> WorkspaceProfile:
    with duckdb.connect(str(workspace), read_only=True) as con:
        return profile_workspace(con)


def _var(profile: WorkspaceProfile, dataset: str, variable: str):  # type: ignore[no-untyped-def]
    return next(v for v in profile.dataset(dataset).variables if v.variable == variable)


def test_every_dataset_and_variable(profile: WorkspaceProfile, workspace: Path) -> None:
    names = [d.dataset for d in profile.datasets]
    assert "_manifest" not in names
    assert {"pupil_census", "justice_offences", "hospital_admissions", "areas"} <= set(names)
    with duckdb.connect(str(workspace), read_only=True) as con:
        ((n, persons),) = con.execute(
            "SELECT count(*), count(DISTINCT person_pseudonym) FROM pupil_census"
        ).fetchall()
        ((absent,),) = con.execute(
            "SELECT count(*) FROM pupil_census WHERE ks2_scaled_score IS NULL"
        ).fetchall()
    d = profile.dataset("pupil_census")
    assert (d.rows, d.persons) == (n, persons)
    ks2 = _var(profile, "pupil_census", "ks2_scaled_score")
    assert ks2.non_missing == n - absent
    assert ks2.completeness_pct == pytest.approx(100 * (n - absent) / n, abs=0.01)


def test_ethnicity_completeness_matches_the_planted_rates(profile: WorkspaceProfile) -> None:
    # docs/synthetic-world.md: ethnicity missing in 12% of hospital records, × 2.5 for
    # mixed and other groups (2.4% + 1.2% of people): 0.964 × 12% + 0.036 × 30% = 12.6%
    eth = _var(profile, "hospital_admissions", "ethnicity")
    assert 100 - eth.completeness_pct == pytest.approx(12.6, abs=1.5)
    # 20% of justice records (officer-observed), × 2.5 for mixed and other: about 21%
    obs = _var(profile, "justice_offences", "ethnicity_observed")
    assert 100 - obs.completeness_pct == pytest.approx(21.1, abs=4.0)


def test_ranges_and_no_invalid_codes_in_clean_data(profile: WorkspaceProfile) -> None:
    ks2 = _var(profile, "pupil_census", "ks2_scaled_score")
    assert float(ks2.minimum or 0) >= 80 and float(ks2.maximum or 0) <= 120
    sen = _var(profile, "pupil_census", "sen_type")
    assert sen.rule == "one of 12 codes" and sen.invalid == 0
    assert _var(profile, "pupil_census", "area_code").rule.startswith("matches")
    assert sum(v.invalid for d in profile.datasets for v in d.variables) == 0


def test_invalid_codes_found_with_examples(workspace: Path, tmp_path: Path) -> None:
    copy = copy_workspace(workspace, tmp_path)
    with duckdb.connect(str(copy)) as con:
        con.execute("UPDATE pupil_census SET sen_type = 'ZZZ' WHERE academic_year = 2010")
        ((planted,),) = con.execute(
            "SELECT count(*) FROM pupil_census WHERE academic_year = 2010"
        ).fetchall()
        con.execute(
            "UPDATE hospital_admissions SET area_code = 'NOT-AN-AREA' WHERE rowid IN "
            "(SELECT rowid FROM hospital_admissions WHERE area_code IS NOT NULL LIMIT 3)"
        )
        con.execute("UPDATE justice_offences SET offence_group = 'BAD' WHERE rowid < 2")
        p = profile_workspace(con, ["pupil_census", "hospital_admissions", "justice_offences"])
    sen = _var(p, "pupil_census", "sen_type")
    assert (sen.invalid, sen.invalid_examples) == (planted, ["ZZZ"])
    area = _var(p, "hospital_admissions", "area_code")
    assert (area.invalid, area.invalid_examples) == (3, ["NOT-AN-AREA"])
    assert _var(p, "justice_offences", "offence_group").invalid == 2


def test_coverage_over_time_and_by_area(profile: WorkspaceProfile) -> None:
    pupils = profile.dataset("pupil_census")
    assert pupils.time_column == "academic_year"
    # docs/synthetic-world.md: pupil census academic years 2006–2023, offences 2000–2024
    assert list(pupils.by_time["period"]) == list(range(2006, 2024))
    offences = profile.dataset("justice_offences")
    years = offences.by_time["period"].dropna().astype(int)
    assert years.min() >= 2000 and years.max() <= 2024
    assert int(offences.by_time["rows"].sum()) == offences.rows
    assert pupils.area_column == "la_code"
    assert int(pupils.by_area["rows"].sum()) == pupils.rows
    # completeness per year is reported per variable
    assert set(pupils.by_time.columns) >= {"period", "rows", "ethnicity", "ks2_scaled_score"}


def test_written_and_checkable(profile: WorkspaceProfile, tmp_path: Path) -> None:
    paths = write_profile(profile, tmp_path)
    assert "## `pupil_census`" in paths["markdown"].read_text()
    assert "Coverage over time (academic_year): 18 periods, 2006 to 2023" in (
        paths["markdown"].read_text()
    )
    outputs = profile.outputs()
    table = outputs["pupil_census_rows_by_period"]
    result = check(table, load_policy("acro"))
    assert result.status in ("pass", "review", "suppress")
    assert len(result.verdicts) == table.size == 19  # 18 years and the total
    res = profile.result()
    # minimum and maximum are single people's values: a checker reviews them by eye
    assert res.unchecked() == ["profile_variables"]
    assert set(res.outputs()) == set(outputs)


def test_unknown_dataset(workspace: Path) -> None:
    with (
        duckdb.connect(str(workspace), read_only=True) as con,
        pytest.raises(FivesafesError, match="earnings_survey not in the workspace"),
    ):
        profile_workspace(con, ["earnings_survey"])
