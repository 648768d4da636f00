"""Health: hospital admissions (an HES-like admitted patient care extract).

Planted: admissions for intentional self-harm are more frequent for teenage
girls and young women, for care-experienced people and for people with a
conviction; hospital-recorded ethnicity is missing more often than the school's,
and more often again for mixed and other groups.
"""

from __future__ import annotations

import numpy as np

from fivesafes.datasets import DIAGNOSIS_CHAPTERS, ETHNICITY_18
from fivesafes.synth.config import WorldConfig
from fivesafes.synth.population import Population
from fivesafes.synth.records import Records, age_at, blank, day, pick, year_start

CHAPTER_P = (2, 6, 1, 3, 4, 3, 1, 1, 8, 10, 11, 2, 6, 5, 8, 1, 1, 12, 12, 0, 3, 0)
FIRST_YEAR = 2008
ADMISSION_RATE = 0.05  # per person-year, at age 40
SELF_HARM_RATE = 0.003  # per person-year, ages 12 to 30


def make_hospital(
    cfg: WorldConfig,
    pop: Population,
    in_care: np.ndarray,
    convicted: np.ndarray,
    rng: np.random.Generator,
) -> Records:
    eff = cfg.effects
    n = pop.size
    start = np.maximum(pop.dob, day(FIRST_YEAR))
    arrival_day = year_start(np.maximum(pop.arrival_year, 1970)) + 180
    start = np.where(pop.immigrant, np.maximum(start, arrival_day), start)
    end = day(cfg.last_year + 1, 12, 31)
    years = np.maximum(end - start, 0) / 365.25
    age_mid = age_at(pop.dob, (start + end) // 2)
    rate = ADMISSION_RATE * np.exp(0.025 * (age_mid - 40))
    count = rng.poisson(rate * years)
    female = pop.sex == "F"
    young_from = np.maximum(start, pop.dob + int(12 * 365.25))
    young_to = np.minimum(end, pop.dob + int(30 * 365.25))
    young_years = np.maximum(young_to - young_from, 0) / 365.25
    sh_rate = (
        SELF_HARM_RATE
        * np.where(female, 2.0, 1.0)
        * np.where(in_care, 3.0, 1.0)
        * (np.where(convicted, 2.5, 1.0))
    )
    sh_count = rng.poisson(sh_rate * young_years)

    pid = np.repeat(np.arange(n), count)
    adm = start[pid] + (rng.random(pid.size) * (end - start[pid])).astype(np.int64)
    sh_pid = np.repeat(np.arange(n), sh_count)
    sh_adm = young_from[sh_pid] + (
        rng.random(sh_pid.size) * (young_to[sh_pid] - young_from[sh_pid])
    ).astype(np.int64)
    pid = np.concatenate([pid, sh_pid])
    adm = np.concatenate([adm, sh_adm])
    self_harm = np.concatenate([np.zeros(count.sum(), np.int8), np.ones(sh_count.sum(), np.int8)])
    rows = pid.size
    chapter = pick(tuple(DIAGNOSIS_CHAPTERS), CHAPTER_P, rows, rng)
    chapter[self_harm == 1] = "19"
    los = rng.geometric(0.35, rows) - 1
    discharge = adm + los
    group5 = np.array([ETHNICITY_18[c][1] for c in pop.ethnicity[pid]], dtype=object)
    p_missing = eff.ethnicity_missing["hospital_admissions"] * np.where(
        np.isin(group5, ["M", "O"]), eff.ethnicity_missing_minority_multiplier, 1.0
    )
    ethnicity = blank(rng.random(rows) < p_missing, pop.ethnicity[pid])
    return Records(
        pid=pid,
        day=adm,
        columns={
            "admission_date": adm,
            "discharge_date": discharge,
            "diagnosis_chapter": chapter,
            "self_harm": self_harm,
            "ethnicity": ethnicity,
        },
        reference="nhs_number",
    )
