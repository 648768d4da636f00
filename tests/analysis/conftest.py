"""Analysis datasets built from the session's synthetic world (20,000 people, seed 7).

The world is the root conftest's ``synth_world_dir`` (generated once per session);
these fixtures read only the files they need and join provider rows to their
people through ``truth/records.csv``, or take the truth directly where a test is
about a method rather than about linkage. Read only: they are shared.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def world_people(synth_world_dir: Path) -> pd.DataFrame:
    """truth/people.csv, with ``dob`` (datetime) and ``immigrant`` (0/1)."""
    people = _read(synth_world_dir / "truth" / "people.csv")
    people["dob"] = pd.to_datetime(people["date_of_birth"])
    people["immigrant"] = (people["arrival_year"] != "").astype(int)
    return people


def _provider(world: Path, prefix: str) -> pd.DataFrame:
    """A dataset's provider rows from all its files, with each row's true person
    (duplicate rows dropped: a study would deduplicate)."""
    parts = []
    for path in sorted((world / "provider").glob(f"{prefix}*.csv")):
        df = _read(path)
        df["file"] = path.name
        df["row"] = np.arange(1, len(df) + 1)
        parts.append(df)
    rows = pd.concat(parts, ignore_index=True)
    records = pd.read_csv(
        world / "truth" / "records.csv", usecols=["file", "row", "person_id", "duplicate"]
    )
    rows = rows.merge(records, on=["file", "row"], how="left", validate="1:1")
    return rows[rows["duplicate"] == 0].drop(columns="duplicate")


@pytest.fixture(scope="session")
def conviction_data(world_people: pd.DataFrame) -> pd.DataFrame:
    """One row per pupil (in the pupil census): true trajectory group, conviction by
    21, sex, deprivation quintile of the home area (1 = most deprived), care."""
    p = world_people[world_people["in_pupil_census"] == "1"].copy()
    return pd.DataFrame(
        {
            "group": p["trajectory_group"].to_numpy(),
            "convicted_by_21": p["convicted_by_21"].astype(int).to_numpy(),
            "male": (p["sex"] == "M").astype(int).to_numpy(),
            "more_deprived": 5 - p["deprivation_quintile"].astype(int).to_numpy(),
            "looked_after": p["ever_looked_after"].astype(int).to_numpy(),
        }
    )


#: Justice involvement by 21, from least to most: none, cautions only, a court
#: conviction (no custody), custody.
JUSTICE_LEVELS = ["none", "caution", "conviction", "custody"]


@pytest.fixture(scope="session")
def exclusion_data(synth_world_dir: Path, world_people: pd.DataFrame) -> pd.DataFrame:
    """Pupils observed in every secondary year (7 to 11) and aged 21 by the end of
    2024: any fixed-term or permanent exclusion in secondary school, and the
    level of justice involvement by 21 from the offences file."""
    pupils = _provider(synth_world_dir, "pupil_census_")
    sec = pupils[pupils["year_group"].isin(["7", "8", "9", "10", "11"])].copy()
    sec["excluded"] = (sec["fixed_term_exclusions"].astype(int) > 0) | (
        sec["permanent_exclusion"] == "1"
    )
    per = sec.groupby("person_id").agg(
        years=("year_group", "nunique"), excluded=("excluded", "max")
    )
    per = per[per["years"] == 5]
    people = world_people.set_index(world_people["person_id"].astype(int))
    p = people.loc[per.index]
    age21 = p["dob"] + pd.DateOffset(years=21)
    keep = (age21 <= pd.Timestamp("2024-12-31")).to_numpy()
    per, p, age21 = per[keep], p[keep], age21[keep]

    off = _provider(synth_world_dir, "justice_offences")
    off = off[off["person_id"].isin(per.index)].copy()
    off["offence_date"] = pd.to_datetime(off["offence_date"])
    off = off[off["offence_date"] <= off["person_id"].map(age21)]
    level = np.select(
        [off["disposal"] == "CUS", off["disposal"].isin(["CAU", "YCA"])], [3, 1], default=2
    )
    worst = pd.Series(level, index=off["person_id"].to_numpy()).groupby(level=0).max()
    return pd.DataFrame(
        {
            "excluded": per["excluded"].astype(int).to_numpy(),
            "justice": pd.Categorical.from_codes(
                worst.reindex(per.index, fill_value=0).to_numpy(), JUSTICE_LEVELS, ordered=True
            ),
            "group": p["trajectory_group"].to_numpy(),
            "male": (p["sex"] == "M").astype(int).to_numpy(),
            "more_deprived": 5 - p["deprivation_quintile"].astype(int).to_numpy(),
            "looked_after": p["ever_looked_after"].astype(int).to_numpy(),
        }
    )


@pytest.fixture(scope="session")
def earnings_data(synth_world_dir: Path, world_people: pd.DataFrame) -> pd.DataFrame:
    """Earnings survey rows (person-years) with log hourly pay, the person's
    immigrant status, years of residence (capped at 20, as planted), English
    proficiency (census code) and the covariates of the pay equation."""
    rows = _provider(synth_world_dir, "earnings_survey_")
    people = world_people.set_index(world_people["person_id"].astype(int))
    p = people.loc[rows["person_id"].to_numpy()]
    year = rows["survey_year"].astype(int).to_numpy()
    april = pd.to_datetime(pd.Series(year).astype(str) + "-04-15")
    age = ((april.to_numpy() - p["dob"].to_numpy()) / np.timedelta64(1, "D") / 365.25).astype(float)
    arrival = pd.to_numeric(p["arrival_year"], errors="coerce").to_numpy()
    immigrant = p["immigrant"].to_numpy()
    residence = np.where(immigrant == 1, np.clip(year - np.nan_to_num(arrival), 0, 20), 0.0)
    return pd.DataFrame(
        {
            "person_id": rows["person_id"].to_numpy(),
            "employer_id": rows["employer_id"].to_numpy(),
            "year": year,
            "log_pay": np.log(
                rows["weekly_pay"].astype(float).to_numpy()
                / rows["paid_hours"].astype(float).to_numpy()
            ),
            "immigrant": immigrant,
            "residence": residence,
            "english": p["english_proficiency"].to_numpy(),
            "age": np.floor(age),
            "female": (p["sex"] == "F").astype(int).to_numpy(),
            "skill": rows["occupation_skill"].astype(int).to_numpy(),
            "temporary": (rows["contract"] == "T").astype(int).to_numpy(),
        }
    )


@pytest.fixture(scope="session")
def asd_areas(
    world_people: pd.DataFrame, synth_world_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[pd.DataFrame, Path]:
    """Per area (the home area at school entry): pupils with a special need, how
    many have ASD as their primary need, the ASD share, whether the area is in
    the planted hotspot, its centroid (x, y); and the neighbour pairs file (queen
    contiguity)."""
    sen = world_people[world_people["sen_type"] != ""]
    areas = (
        sen.groupby("area_code")
        .agg(
            sen_pupils=("sen_type", "size"),
            asd=("sen_type", lambda s: int((s == "ASD").sum())),
            hotspot=("hotspot_area", lambda s: int(s.astype(int).max())),
        )
        .reset_index()
    )
    areas["asd_share"] = areas["asd"] / areas["sen_pupils"]
    ref = _read(synth_world_dir / "reference" / "areas.csv")
    assert set(areas["area_code"]) == set(ref["area_code"]), "an area has no pupil with a need"
    areas = areas.merge(ref[["area_code", "x", "y"]].astype({"x": float, "y": float}))
    pairs = pd.DataFrame(
        [(r.area_code, n) for r in ref.itertuples() for n in r.neighbours.split(";") if n],
        columns=["area", "neighbour"],
    )
    path = tmp_path_factory.mktemp("asd") / "pairs.csv"
    pairs.to_csv(path, index=False)
    return areas, path
