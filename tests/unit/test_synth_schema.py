"""Provider files conform to the dataset catalogue (patterns, code lists, ranges,
required fields), and the small-area reference data hangs together."""

from __future__ import annotations

import pandas as pd
import pytest

from fivesafes.datasets import AREAS, BY_NAME, ETHNICITY_5, ETHNICITY_18, PERSON_DATASETS

PROVIDER_DATASETS = tuple(d.name for d in PERSON_DATASETS)


@pytest.mark.parametrize("name", PROVIDER_DATASETS)
def test_provider_rows_conform_to_catalogue(synth_world, name: str) -> None:
    """Every value a provider sends is allowed by the catalogue: reference numbers
    (UPN, NHS number, NINO, PNC id, child id), postcodes and area codes match their
    patterns, codes are in their lists, numbers in range, dates parse in the
    dataset's format, and required fields are never blank."""
    rows = synth_world.provider[name]
    assert len(rows) > 100
    for col in BY_NAME[name].columns:
        values = rows[col.name]
        given = values[values != ""]
        where = f"{name}.{col.name}"
        if col.required:
            assert len(given) == len(values), f"{where}: blank in a required column"
        else:
            assert len(given) > 0, f"{where}: never given"
        if col.pattern:
            bad = given[~given.str.fullmatch(col.pattern)]
            assert bad.empty, f"{where}: {bad.head().tolist()} do not match {col.pattern}"
        if col.codes is not None:
            bad = given[~given.isin(col.codes)]
            assert bad.empty, f"{where}: {bad.unique()[:5].tolist()} not in the code list"
        if col.kind in ("integer", "number", "flag"):
            numbers = pd.to_numeric(given)  # raises if anything is not a number
            if col.kind == "integer":
                assert (numbers == numbers.round()).all(), where
            if col.kind == "flag":
                assert numbers.isin([0, 1]).all(), where
            if col.minimum is not None:
                assert numbers.min() >= col.minimum, where
            if col.maximum is not None:
                assert numbers.max() <= col.maximum, where
        if col.kind == "date":
            dates = pd.to_datetime(given, format=col.date_format)
            assert dates.between("1950-01-01", "2025-12-31").all(), where


def test_ethnicity_columns_use_their_classifications(synth_world) -> None:
    assert set(synth_world.provider["census_2021"]["ethnicity"]) - {""} <= set(ETHNICITY_18)
    observed = set(synth_world.provider["justice_offences"]["ethnicity_observed"]) - {""}
    assert observed == set(ETHNICITY_5)


def test_reference_numbers_follow_people_across_datasets(synth_world) -> None:
    """The UPN a school sends is the one the local authority sends for the same child,
    and every number in the truth is unique."""
    people = synth_world.people
    for column in ("upn", "nhs_number", "nino"):
        assert people[column].is_unique, column
        assert (people[column] != "").all(), column
    for name in ("pupil_census", "cla_episodes", "cin_census"):
        d = synth_world.linked[name]
        ok = d[(d["reference_missing"] == 0) & (d["reference_typo"] == 0)]
        assert (ok["upn"] == ok["true_upn"]).all(), name


@pytest.fixture(scope="module")
def areas(synth_world) -> pd.DataFrame:
    return synth_world.areas


def test_area_neighbours_are_symmetric(areas) -> None:
    codes = set(areas["area_code"])
    neighbours = {
        a: set(n.split(";")) if n else set()
        for a, n in zip(areas["area_code"], areas["neighbours"], strict=True)
    }
    for area, near in neighbours.items():
        assert near, f"{area} has no neighbours"
        assert area not in near
        assert near <= codes, f"{area}: unknown neighbours {near - codes}"
        for other in near:
            assert area in neighbours[other], f"{area} -> {other} but not back"
    # A grid: corners have 3 neighbours, inner areas 8 (queen contiguity).
    sizes = {len(n) for n in neighbours.values()}
    assert min(sizes) == 3 and max(sizes) == 8


def test_areas_are_well_formed(areas) -> None:
    assert areas.columns.tolist() == list(AREAS.column_names)
    assert areas["area_code"].is_unique
    assert areas["area_code"].str.fullmatch(AREAS.column("area_code").pattern or "").all()
    assert areas["la_code"].str.fullmatch(AREAS.column("la_code").pattern or "").all()
    # Each local authority has one name, and area names start with it.
    assert (areas.groupby("la_code")["la_name"].nunique() == 1).all()
    assert all(a.startswith(la) for a, la in zip(areas["area_name"], areas["la_name"], strict=True))
    rank = areas["deprivation_rank"].astype(int)
    assert sorted(rank) == list(range(1, len(areas) + 1))
    decile = areas["deprivation_decile"].astype(int)
    assert decile.between(1, 10).all()
    # Deciles follow ranks, from 1 (most deprived) to 10, about a tenth of areas each.
    in_rank_order = decile[rank.sort_values().index]
    assert (in_rank_order.diff().dropna() >= 0).all()
    assert in_rank_order.iloc[0] == 1 and in_rank_order.iloc[-1] == 10
    assert decile.value_counts().max() <= len(areas) / 10 + 1


def test_provider_areas_and_authorities_are_in_the_reference_data(synth_world, areas) -> None:
    area_codes, la_codes = set(areas["area_code"]), set(areas["la_code"])
    for name, rows in synth_world.provider.items():
        given = set(rows["area_code"]) - {""}
        assert given <= area_codes, (name, sorted(given - area_codes)[:5])
        if "la_code" in rows:
            assert set(rows["la_code"]) <= la_codes, name
    for col in ("area_code", "area_code_after_move"):
        assert set(synth_world.people[col]) <= area_codes
