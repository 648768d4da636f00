"""Make a whole synthetic world and write it as providers would send it.

``make_world(WorldConfig(people=5000, seed=1), out)`` writes::

    out/provider/<dataset>[_<year>].csv   the provider files (identifiers + content)
    out/reference/areas.csv               public small-area reference data
    out/truth/people.csv                  each person's true identifiers and attributes
    out/truth/records.csv                 which person each provider row belongs to,
                                          and which identifier errors were applied
    out/truth/effects.json                the true parameters of the planted effects
    out/world.json                        configuration, counts and files written

The same seed gives byte-identical files. Each stage draws from its own random
stream, so changing one dataset's model leaves the others as they were.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from fivesafes.datasets import AREAS, BY_NAME, Dataset
from fivesafes.synth.care import child_ids, make_care
from fivesafes.synth.config import WorldConfig
from fivesafes.synth.education import make_pupil_census, make_trajectories
from fivesafes.synth.employment import (
    AGE_PAY,
    AGE_SQUARED_PAY,
    YEAR_PAY,
    english_proficiency,
    make_census,
    make_earnings,
)
from fivesafes.synth.geography import Geography, make_geography
from fivesafes.synth.health import make_hospital
from fivesafes.synth.identifiers import ERROR_FLAGS, recorded_identifiers
from fivesafes.synth.justice import make_justice
from fivesafes.synth.population import NO_DATE, Population, make_population
from fivesafes.synth.records import NO_DAY, Records, blank

Progress = Callable[[str, float], None]
STAGES = (
    "geography",
    "population",
    "social care",
    "schools",
    "justice",
    "hospital",
    "employment",
    "identifiers and files",
    "truth",
)
UPN_MISSING_IN_CARE = 0.20


@dataclass
class WorldSummary:
    out: Path
    people: int
    seed: int
    files: dict[str, int] = field(default_factory=dict)  # relative path -> data rows
    datasets: dict[str, int] = field(default_factory=dict)  # dataset -> rows
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "people": self.people,
            "seed": self.seed,
            "datasets": self.datasets,
            "files": self.files,
            "seconds": round(self.seconds, 3),
        }


def make_world(cfg: WorldConfig, out: Path, progress: Progress | None = None) -> WorldSummary:
    """Generate the world of ``cfg`` and write it under ``out``."""
    t0 = time.perf_counter()
    report = progress or (lambda stage, fraction: None)
    streams = np.random.SeedSequence(cfg.seed).spawn(len(STAGES) + 8)
    rngs = [np.random.default_rng(s) for s in streams]
    step = iter(range(len(STAGES)))

    def stage(name: str) -> np.random.Generator:
        i = next(step)
        report(name, i / len(STAGES))
        return rngs[i]

    geo = make_geography(cfg.people, cfg.effects.hotspot_share_of_areas, stage("geography"))
    pop = make_population(cfg, geo, stage("population"))
    cla, cin, care_truth = make_care(cfg, pop, geo, stage("social care"))
    in_care = care_truth["ever_looked_after"].astype(bool)
    rng = stage("schools")
    group = make_trajectories(cfg, pop, geo, in_care, rng)
    pupils, school_truth = make_pupil_census(cfg, pop, geo, group, in_care, rng)
    in_cohort = school_truth["in_pupil_census"].astype(bool)
    offences, justice_truth = make_justice(
        cfg, pop, geo, group, in_cohort, school_truth["end_of_year11"], in_care, stage("justice")
    )
    convicted = justice_truth["first_offence"] != NO_DAY
    hospital = make_hospital(cfg, pop, in_care, convicted, stage("hospital"))
    rng = stage("employment")
    proficiency = english_proficiency(pop, rng)
    earnings, work_truth, employer_effects = make_earnings(cfg, pop, geo, proficiency, rng)
    census = make_census(cfg, pop, proficiency, rng)

    rng = stage("identifiers and files")
    summary = WorldSummary(out=out, people=cfg.people, seed=cfg.seed)
    (out / "provider").mkdir(parents=True, exist_ok=True)
    (out / "reference").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    children = child_ids(pop, geo, rngs[len(STAGES)])
    truth_parts: list[pa.Table] = []
    generated = (
        ("pupil_census", pupils),
        ("justice_offences", offences),
        ("cla_episodes", cla),
        ("cin_census", cin),
        ("hospital_admissions", hospital),
        ("earnings_survey", earnings),
        ("census_2021", census),
    )
    for k, (name, records) in enumerate(generated):
        report(f"writing {name}", (7 + k / len(generated)) / len(STAGES))
        ds_rng = rngs[len(STAGES) + 1 + k]
        truth_parts.append(
            _write_dataset(BY_NAME[name], records, cfg, pop, geo, children, ds_rng, out, summary)
        )

    report("truth", 8 / len(STAGES))
    _write_areas(geo, out, summary)
    _write_csv(pa.concat_tables(truth_parts), out / "truth" / "records.csv")
    _write_people(
        pop, geo, group, care_truth, school_truth, justice_truth, work_truth, proficiency, cfg, out
    )
    effects = _effects_summary(cfg, employer_effects)
    (out / "truth" / "effects.json").write_text(json.dumps(effects, indent=2, sort_keys=True))
    summary.seconds = time.perf_counter() - t0
    world = {
        "config": cfg.to_dict(),
        "datasets": summary.datasets,
        "files": summary.files,
        "layout": {
            "provider": "provider files, as providers send them",
            "reference": "public reference data",
            "truth": "the truth, for evaluation only: never ingest it",
        },
    }
    (out / "world.json").write_text(json.dumps(world, indent=2, sort_keys=True))
    report("done", 1.0)
    return summary


def _write_dataset(
    ds: Dataset,
    records: Records,
    cfg: WorldConfig,
    pop: Population,
    geo: Geography,
    children: np.ndarray,
    rng: np.random.Generator,
    out: Path,
    summary: WorldSummary,
) -> pa.Table:
    rates = cfg.errors
    # Duplicates: the same record sent twice, each copy with its own errors.
    m = rates.dataset_multiplier.get(ds.name, 1.0)
    dup = np.flatnonzero(rng.random(len(records)) < rates.duplicate * m)
    duplicate = np.concatenate([np.zeros(len(records), np.int8), np.ones(dup.size, np.int8)])
    records = records.take(np.concatenate([np.arange(len(records)), dup]))

    references = {c.name for c in ds.identifier_columns} & {
        "upn",
        "pnc_id",
        "nhs_number",
        "nino",
        "child_id",
    }
    primary = next((r for r in ("pnc_id", "nhs_number", "nino", "upn") if r in references), None)
    if "child_id" in references:
        primary = "upn"
    ref_values = None
    if primary is not None:
        ref_values = (
            records.columns[primary]
            if primary in records.columns
            else getattr(pop, primary)[records.pid]
        )
    ids, flags = recorded_identifiers(
        records.pid, records.day, ds.name, pop, geo, rates, rng, reference=ref_values
    )
    values: dict[str, Any] = dict(records.columns)
    values.update({k: v for k, v in ids.items() if k not in ("reference", "area")})
    if primary is not None:
        values[primary] = ids["reference"]
    if "child_id" in references:
        values["child_id"] = children[records.pid]
        # Local authorities often leave the UPN out of care returns.
        upn = values["upn"]
        upn[rng.random(len(records)) < UPN_MISSING_IN_CARE] = None
        flags["reference_missing"] = np.asarray([v is None for v in upn], dtype=bool)
        # A mistyped UPN that was then left out is missing, not mistyped.
        flags["reference_typo"] &= ~flags["reference_missing"]
    area = ids["area"]
    values["area_code"] = blank(area < 0, geo.code[np.maximum(area, 0)])

    order = rng.permutation(len(records))
    table = _arrow_table(ds, values, order)
    years = np.zeros(len(records), dtype=np.int64) if records.year is None else records.year[order]
    file_col = np.empty(len(records), dtype=object)
    row_col = np.zeros(len(records), dtype=np.int64)
    for y in np.unique(years):
        sel = np.flatnonzero(years == y)
        name = ds.file_name(int(y) if ds.yearly else None)
        _write_csv(table.take(pa.array(sel)), out / "provider" / name)
        summary.files[f"provider/{name}"] = int(sel.size)
        file_col[sel] = name
        row_col[sel] = np.arange(1, sel.size + 1)
    summary.datasets[ds.name] = len(records)
    truth = {
        "dataset": pa.array(np.full(len(records), ds.name, dtype=object), pa.string()),
        "file": pa.array(file_col, pa.string()),
        "row": pa.array(row_col),
        "person_id": pa.array(records.pid[order].astype(np.int64)),
        "duplicate": pa.array(duplicate[order]),
    }
    for flag in ERROR_FLAGS:
        truth[flag] = pa.array(flags[flag][order].astype(np.int8))
    return pa.table(truth).sort_by([("file", "ascending"), ("row", "ascending")])


def _arrow_table(ds: Dataset, values: dict[str, Any], order: np.ndarray) -> pa.Table:
    arrays = []
    for col in ds.columns:
        v = np.asarray(values[col.name])[order]
        arrays.append(_to_arrow(v, col.kind, col.date_format))
    return pa.table(arrays, names=list(ds.column_names))


def _to_arrow(v: np.ndarray, kind: str, date_format: str) -> pa.Array:
    if kind == "date":
        days = v.astype(np.int64)
        mask = days == NO_DAY
        arr = pa.array(np.where(mask, 0, days).astype(np.int32), pa.date32(), mask=mask)
        if date_format == "%Y-%m-%d":
            return arr.cast(pa.string())
        return pc.strftime(arr.cast(pa.timestamp("s")), format=date_format)
    if kind in ("integer", "flag"):
        if v.dtype.kind == "f":
            mask = np.isnan(v)
            return pa.array(np.where(mask, 0, v).astype(np.int64), mask=mask)
        return pa.array(v.astype(np.int64))
    if kind == "number":
        f = v.astype(float)
        return pa.array(f, mask=np.isnan(f))
    return pa.array(v, pa.string(), from_pandas=True)


def _write_csv(table: pa.Table, path: Path) -> None:
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    pacsv.write_csv(table, path, write_options=options)


def _write_areas(geo: Geography, out: Path, summary: WorldSummary) -> None:
    table = pa.table(
        {
            "area_code": geo.code,
            "area_name": geo.name,
            "la_code": geo.la_code[geo.la],
            "la_name": geo.la_name[geo.la],
            "deprivation_rank": geo.deprivation_rank,
            "deprivation_decile": geo.deprivation_decile,
            "x": geo.x,
            "y": geo.y,
            "neighbours": [";".join(geo.code[j] for j in nb) for nb in geo.neighbours],
        }
    )
    assert table.column_names == list(AREAS.column_names)
    _write_csv(table, out / "reference" / "areas.csv")
    summary.files["reference/areas.csv"] = geo.size


def _write_people(
    pop: Population,
    geo: Geography,
    group: np.ndarray,
    care: dict[str, np.ndarray],
    school: dict[str, np.ndarray],
    justice: dict[str, np.ndarray],
    work: dict[str, np.ndarray],
    proficiency: np.ndarray,
    cfg: WorldConfig,
    out: Path,
) -> None:
    def date(days: np.ndarray, never: int) -> pa.Array:
        d = np.asarray(days, dtype=np.int64)
        mask = d == never
        return pa.array(np.where(mask, 0, d).astype(np.int32), pa.date32(), mask=mask)

    groups = np.asarray(cfg.effects.trajectory_groups, dtype=object)
    cols: dict[str, Any] = {
        "person_id": np.arange(pop.size),
        "forename": pop.forename,
        "surname": pop.surname,
        "new_surname": pop.new_surname,
        "surname_change": date(pop.surname_change, NO_DATE),
        "sex": pop.sex,
        "date_of_birth": date(pop.dob, NO_DAY),
        "ethnicity": pop.ethnicity,
        "name_origin": pop.origin,
        "country_of_birth": pop.country_of_birth,
        "arrival_year": pa.array(pop.arrival_year, mask=pop.arrival_year == 0),
        "english_proficiency": proficiency,
        "area_code": geo.code[pop.area0],
        "postcode": pop.postcode0,
        "move_date": date(pop.move, NO_DATE),
        "area_code_after_move": geo.code[pop.area1],
        "postcode_after_move": pop.postcode1,
        "deprivation_quintile": geo.deprivation_quintile[pop.area0],
        "upn": pop.upn,
        "nhs_number": pop.nhs_number,
        "nino": pop.nino,
        "trajectory_group": np.where(school["in_pupil_census"] == 1, groups[group], None),
        "in_pupil_census": school["in_pupil_census"],
        "reception_year": school["reception_year"],
        "sen_level": school["sen_level"],
        "sen_type": school["sen_type"],
        "hotspot_area": school["hotspot_area"],
        "ever_looked_after": care["ever_looked_after"],
        "first_care_entry": date(care["first_care_entry"], NO_DAY),
        "child_in_need": care["child_in_need"],
        "first_offence": date(justice["first_offence"], NO_DAY),
        "convicted_by_year11": justice["convicted_by_year11"].astype(np.int8),
        "convicted_by_21": justice["convicted_by_21"].astype(np.int8),
        "in_earnings_panel": work["in_earnings_panel"],
        "occupation_skill": work["occupation_skill"],
        "employer_effect_first": work["employer_effect_first"],
    }
    table = pa.table(
        {
            k: (v if isinstance(v, pa.Array) else pa.array(v, from_pandas=True))
            for k, v in cols.items()
        }
    )
    _write_csv(table, out / "truth" / "people.csv")


def _effects_summary(cfg: WorldConfig, employer_effects: np.ndarray) -> dict[str, Any]:
    eff = cfg.effects
    return {
        "trajectories": {
            name: {
                "share": eff.trajectory_shares[i],
                "intercept_year2": eff.trajectory_intercept[i],
                "slope_per_year": eff.trajectory_slope[i],
                "curvature": eff.trajectory_curvature[i],
                "conviction_by_21_logodds": eff.conviction_logodds_by_group[i],
                "early_onset_share": eff.early_onset_share[i],
            }
            for i, name in enumerate(eff.trajectory_groups)
        },
        "conviction": {
            "male_logodds": eff.conviction_male_logodds,
            "deprivation_logodds_per_quintile": eff.conviction_deprivation_logodds,
            "care_logodds": eff.conviction_care_logodds,
        },
        "care": {
            "logodds": eff.care_logodds,
            "deprivation_logodds_per_quintile": eff.care_deprivation_logodds,
        },
        "pay": {
            "immigrant_gap_at_arrival": eff.immigrant_gap_at_arrival,
            "narrowing_per_year_of_residence": eff.immigrant_gap_narrowing_per_year,
            "english_proficiency_effect": eff.english_proficiency_effect,
            "female": eff.female_pay_logodds,
            "skill_step": eff.skill_pay_step,
            "employer_effect_sd": eff.employer_effect_sd,
            "employers": len(employer_effects),
            "age_per_year_from_16": AGE_PAY,
            "age_squared_from_16": AGE_SQUARED_PAY,
            "per_survey_year": YEAR_PAY,
        },
        # Exclusion from school marks who offends but does not cause it: no direct path.
        "exclusion": {"direct_offending_odds_ratio": 1.0},
        "spatial": {
            "sen_type": eff.hotspot_sen_type,
            "odds_ratio_in_hotspot": eff.hotspot_odds_ratio,
            "share_of_areas": eff.hotspot_share_of_areas,
        },
        "ethnicity_missing": eff.ethnicity_missing,
        "errors": {k: v for k, v in cfg.errors.__dict__.items()},
    }
