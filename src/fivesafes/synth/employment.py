"""Employment: a yearly earnings survey panel and the census 2021 extract.

Planted (log hourly pay): an immigrant gap of ``Effects.immigrant_gap_at_arrival``
that narrows by ``immigrant_gap_narrowing_per_year`` for each year of residence
(up to 20), a penalty for limited English proficiency, and employer effects
(sd ``employer_effect_sd``) with immigrants sorted towards lower-paying employers,
so that part of the raw gap lies between employers and part within them.
"""

from __future__ import annotations

import numpy as np

from fivesafes.synth.config import WorldConfig
from fivesafes.synth.geography import Geography
from fivesafes.synth.population import ENGLISH_SPEAKING, Population
from fivesafes.synth.records import Records, age_at, blank, day, pick, year_start

NATIVE_SKILL_P = (0.20, 0.35, 0.25, 0.20)
IMMIGRANT_SKILL_P = (0.35, 0.35, 0.18, 0.12)
EU = {"POL", "ROU", "LTU"}
#: The pay equation's age and year terms (log hourly pay per year of age from 16,
#: per squared year of age from 16, and per survey year); written to effects.json.
AGE_PAY, AGE_SQUARED_PAY, YEAR_PAY = 0.035, -0.0006, 0.02


def english_proficiency(pop: Population, rng: np.random.Generator) -> np.ndarray:
    """Census 2021 proficiency code: '0' main language English, '1'..'4' very well..not at all."""
    n = pop.size
    out = np.full(n, "0", dtype=object)
    imm = np.flatnonzero(pop.immigrant)
    speaks = np.isin(pop.country_of_birth[imm], list(ENGLISH_SPEAKING)) & (
        rng.random(imm.size) < 0.7
    )
    years = np.clip(2021 - pop.arrival_year[imm], 0, 45)
    latent = rng.normal(0, 1, imm.size) + 0.08 * years
    level = np.where(
        latent > 0.8, "1", np.where(latent > -0.2, "2", np.where(latent > -1.2, "3", "4"))
    )
    out[imm] = np.where(speaks, "0", level)
    return out


def make_earnings(
    cfg: WorldConfig,
    pop: Population,
    geo: Geography,
    proficiency: np.ndarray,
    rng: np.random.Generator,
) -> tuple[Records, dict[str, np.ndarray], np.ndarray]:
    """Earnings survey records, person truth, and the true employer effects."""
    eff = cfg.effects
    n = pop.size
    n_emp = max(20, n // 60)
    emp_effect = np.sort(rng.normal(0, eff.employer_effect_sd, n_emp))
    imm = pop.immigrant
    u = rng.random((n, 2))
    skew = np.where(imm, 1.0 + eff.immigrant_employer_sorting, 1.0)[:, None]
    employers = np.minimum((n_emp * u**skew).astype(np.int64), n_emp - 1)
    switch_year = rng.integers(cfg.first_year, cfg.last_year + 1, n)
    skill = np.where(
        imm,
        pick(("1", "2", "3", "4"), IMMIGRANT_SKILL_P, n, rng),
        pick(("1", "2", "3", "4"), NATIVE_SKILL_P, n, rng),
    ).astype(object)
    full_time = rng.random(n) < np.where(pop.sex == "F", 0.65, 0.88)
    propensity = rng.random(n)
    panel = rng.random(n) < cfg.earnings_panel_share
    person_noise = rng.normal(0, 0.15, n)

    pids, yrs = [], []
    for y in range(cfg.first_year, cfg.last_year + 1):
        age_y = age_at(pop.dob, day(y, 4, 15))
        here = ~imm | (pop.arrival_year <= y)
        employed = (propensity < 0.78) & (age_y >= 16) & (age_y <= 66) & here & panel
        idx = np.flatnonzero(employed)
        pids.append(idx)
        yrs.append(np.full(idx.size, y))
    pid = np.concatenate(pids)
    year = np.concatenate(yrs)
    rows = pid.size
    april = year_start(year) + 104
    age = age_at(pop.dob[pid], april).astype(float)
    emp = np.where(year < switch_year[pid], employers[pid, 0], employers[pid, 1])
    residence = np.clip(year - pop.arrival_year[pid], 0, 20)
    prof_effect = np.array([eff.english_proficiency_effect[p] for p in proficiency], dtype=float)
    log_pay = (
        2.2
        + AGE_PAY * (age - 16)
        + AGE_SQUARED_PAY * (age - 16) ** 2
        + eff.skill_pay_step * (skill[pid].astype(int) - 1)
        + emp_effect[emp]
        + eff.female_pay_logodds * (pop.sex[pid] == "F")
        + imm[pid]
        * (eff.immigrant_gap_at_arrival + eff.immigrant_gap_narrowing_per_year * residence)
        + prof_effect[pid]
        + YEAR_PAY * (year - 2010)
        + person_noise[pid]
        + rng.normal(0, eff.pay_noise_sd, rows)
    )
    hours = np.where(full_time[pid], rng.normal(37.5, 2.0, rows), rng.normal(20, 4, rows))
    hours = np.clip(hours, 4, 70).round(1)
    weekly = (np.exp(log_pay) * hours).round(2)
    temp_p = np.where(imm[pid], 0.12, 0.05)
    contract = np.where(rng.random(rows) < temp_p, "T", "P").astype(object)
    records = Records(
        pid=pid,
        day=april,
        columns={
            "survey_year": year,
            "employer_id": np.array([f"EMP{e + 1:06d}" for e in emp], dtype=object),
            "weekly_pay": weekly,
            "paid_hours": hours,
            "occupation_skill": skill[pid],
            "contract": contract,
        },
        reference="nino",
        year=year,
        extra_truth={"log_hourly_pay": log_pay.round(4)},
    )
    truth = {
        "in_earnings_panel": panel.astype(np.int8),
        "occupation_skill": skill,
        "employer_effect_first": emp_effect[employers[:, 0]].round(4),
    }
    return records, truth, emp_effect


def make_census(
    cfg: WorldConfig, pop: Population, proficiency: np.ndarray, rng: np.random.Generator
) -> Records:
    """Census 2021: every usual resident aged 16 or over (96% respond)."""
    census_day = day(2021, 3, 21)
    age = age_at(pop.dob, census_day)
    here = pop.arrival_year <= 2021
    pid = np.flatnonzero((age >= 16) & here & (rng.random(pop.size) < 0.96))
    rows = pid.size
    imm = pop.immigrant[pid]
    cob = pop.country_of_birth[pid]
    years = np.where(imm, 2021 - pop.arrival_year[pid], 0)
    passport = np.where(
        imm,
        np.where(
            rng.random(rows) < np.minimum(0.8, years / 15),
            "UK",
            np.where(np.isin(cob, list(EU)), "EU", np.where(cob == "IRL", "IE", "OT")),
        ),
        np.where(rng.random(rows) < 0.8, "UK", "NO"),
    ).astype(object)
    welsh = cob == "WAL"
    native_identity = np.where(
        rng.random(rows) < 0.45,
        np.where(welsh, "WEL", "ENG"),
        np.where(rng.random(rows) < 0.8, "BRI", "OUK"),
    )
    identity = np.where(
        imm, np.where((years > 10) & (rng.random(rows) < 0.5), "BRI", "NUK"), native_identity
    ).astype(object)
    missing = rng.random(rows) < cfg.effects.ethnicity_missing["census_2021"]
    ethnicity = blank(missing, pop.ethnicity[pid])
    return Records(
        pid=pid,
        day=np.full(rows, census_day, dtype=np.int64),
        columns={
            "country_of_birth": cob,
            "english_proficiency": proficiency[pid],
            "year_of_arrival": np.where(imm, pop.arrival_year[pid], np.nan),
            "passport_held": passport,
            "national_identity": identity,
            "ethnicity": ethnicity,
        },
    )
