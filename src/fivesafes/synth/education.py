"""Schooling: attainment trajectories and the yearly pupil census.

Planted: five attainment trajectory groups (``Effects.trajectory_*``) whose
membership shifts towards the low and declining groups with deprivation and
care experience; ethnic shifts in attainment; free school meals by deprivation;
a cluster of one special-needs type (ASD) in the hotspot areas; exclusions and
absence rising on the declining trajectory; ethnicity missing more often for
mixed and other groups, and sometimes recorded differently by the school.
"""

from __future__ import annotations

import numpy as np

from fivesafes.datasets import ETHNICITY_18, YEAR_GROUPS
from fivesafes.synth.config import WorldConfig
from fivesafes.synth.geography import Geography
from fivesafes.synth.population import Population
from fivesafes.synth.records import Records, blank, months_of, year_start, years_of

SEN_WEIGHTS = {
    "SPLD": 0.14,
    "MLD": 0.20,
    "SLD": 0.02,
    "PMLD": 0.01,
    "SEMH": 0.18,
    "SLCN": 0.20,
    "HI": 0.02,
    "VI": 0.01,
    "MSI": 0.005,
    "PD": 0.02,
    "ASD": 0.10,
    "OTH": 0.05,
}
STATE_SCHOOL_SHARE = 0.93


def reception_year(pop: Population) -> np.ndarray:
    """Academic year (start) in which each person enters reception."""
    return years_of(pop.dob) + 4 + (months_of(pop.dob) >= 9)


def make_trajectories(
    cfg: WorldConfig,
    pop: Population,
    geo: Geography,
    in_care: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """True trajectory group (index into ``Effects.trajectory_groups``) of each person."""
    eff = cfg.effects
    q = geo.deprivation_quintile[pop.area0]
    logits = np.log(np.asarray(eff.trajectory_shares))[None, :].repeat(pop.size, axis=0)
    low = [eff.trajectory_groups.index("stable_low"), eff.trajectory_groups.index("declining")]
    shift = eff.deprivation_low_attainment_logodds * (5 - q) + eff.care_low_attainment_logodds * (
        in_care
    )
    logits[:, low] += shift[:, None]
    # Centre the shift so that the overall shares stay near the configured ones.
    logits[:, low] -= eff.deprivation_low_attainment_logodds * 2
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    u = rng.random(pop.size)[:, None]
    return np.minimum((p.cumsum(axis=1) < u).sum(axis=1), len(eff.trajectory_groups) - 1)


def make_pupil_census(
    cfg: WorldConfig,
    pop: Population,
    geo: Geography,
    group: np.ndarray,
    in_care: np.ndarray,
    rng: np.random.Generator,
) -> tuple[Records, dict[str, np.ndarray]]:
    eff = cfg.effects
    n = pop.size
    rec = reception_year(pop)
    in_state = (rng.random(n) < STATE_SCHOOL_SHARE) & ~pop.immigrant
    first = np.maximum(cfg.first_year - rec, 0)
    last = np.minimum(cfg.last_year - rec, 11)
    count = np.where(in_state, np.maximum(last - first + 1, 0), 0)
    pid = np.repeat(np.arange(n), count)
    offset = np.arange(pid.size) - np.repeat(np.cumsum(count) - count, count)
    g = first[pid] + offset  # year group, 0 = reception
    ay = rec[pid] + g
    census_day = year_start(ay + 1) + 17  # 18 January
    rows = pid.size

    # Home area at census day (the truth, not the recorded postcode).
    area = np.where(census_day >= pop.move[pid], pop.area1[pid], pop.area0[pid])
    la = geo.la[area]
    estab = np.where(g <= 6, 2000 + geo.index_in_la[area], 4000 + geo.index_in_la[area] // 4)
    school = np.array(
        [f"{800 + a:03d}{e:04d}" for a, e in zip(la, estab, strict=True)], dtype=object
    )

    # Attainment: group curve + ethnic shift + person effect + noise.
    names = eff.trajectory_groups
    intercept = np.asarray(eff.trajectory_intercept)[group]
    slope = np.asarray(eff.trajectory_slope)[group]
    curve = np.asarray(eff.trajectory_curvature)[group]
    shift = np.zeros(n)
    for code, s in eff.ethnic_attainment_shift.items():
        shift[pop.ethnicity == code] = s
    person = rng.normal(0, eff.trajectory_person_sd, n) + shift
    t = (g - 2).astype(float)
    mean = intercept[pid] + slope[pid] * t + curve[pid] * t * t + person[pid]
    score = np.clip(mean + rng.normal(0, eff.trajectory_noise_sd, rows), 0, 100).round(1)
    score = np.where((g >= 2) & (rng.random(rows) > 0.03), score, np.nan)
    ks1 = np.where(g == 2, np.clip(15 + (score - 50) / 4, 3, 21).round(1), np.nan)
    ks2 = np.where(g == 6, np.clip(104 + (score - 50) * 0.6, 80, 120).round(0), np.nan)
    ks4 = np.where(g == 11, np.clip(46 + (score - 50) * 1.5, 0, 90).round(1), np.nan)

    # Free school meals: a persistent family propensity, more in deprived areas.
    q = geo.deprivation_quintile[pop.area0]
    fsm_person = -2.6 + 0.45 * (5 - q) + rng.normal(0, 1.2, n)
    fsm = (fsm_person[pid] + rng.normal(0, 0.7, rows) > 0).astype(np.int8)

    # Special educational needs: more on low trajectories; ASD clustered in space.
    low_group = np.isin(group, [names.index("stable_low"), names.index("declining")])
    u = rng.random(n)
    p_e = 0.03 * np.where(low_group, 1.8, 1.0)
    p_k = 0.12 * np.where(low_group, 1.8, 1.0)
    level = np.where(u < p_e, "E", np.where(u < p_e + p_k, "K", "N")).astype(object)
    types = list(SEN_WEIGHTS)
    base = np.array([SEN_WEIGHTS[k] for k in types])
    hot = geo.hotspot[pop.area0]
    sen_type = np.empty(n, dtype=object)
    for is_hot in (False, True):
        w = base.copy()
        if is_hot:
            w[types.index(eff.hotspot_sen_type)] *= eff.hotspot_odds_ratio
        idx = np.flatnonzero(hot == is_hot)
        sen_type[idx] = np.array(types, dtype=object)[
            rng.choice(len(types), idx.size, p=w / w.sum())
        ]
    sen_start = rng.integers(0, 8, n)
    has_sen = (level[pid] != "N") & (g >= sen_start[pid])
    sen_provision = np.where(has_sen, level[pid], "N").astype(object)
    sen_recorded = blank(~has_sen, sen_type[pid])

    # Absence and exclusions rise on the declining trajectory in secondary school.
    declining = group[pid] == names.index("declining")
    low = group[pid] == names.index("stable_low")
    secondary = g >= 7
    male = pop.sex[pid] == "M"
    care = in_care[pid]
    absent_mean = 12 * (1 + 0.4 * low + declining * np.maximum(t, 0) * 0.15 + 0.3 * care)
    sessions = rng.poisson(absent_mean * rng.gamma(2.0, 0.5, rows)).clip(0, 380)
    ft_rate = np.where(secondary, 0.08, 0.02) * (1 + 4 * (declining & secondary) + low)
    ft_rate = ft_rate * np.where(male, 1.6, 0.6) * np.where(care, 2.0, 1.0)
    fixed_term = rng.poisson(ft_rate).clip(0, 60)
    perm_rate = np.where(secondary, 0.0008, 0.0001) * (1 + 12 * (declining & secondary))
    permanent = (rng.random(rows) < perm_rate).astype(np.int8)

    recorded_ethnicity = school_ethnicity(cfg, pop, rng)[pid]
    records = Records(
        pid=pid,
        day=census_day,
        columns={
            "academic_year": ay,
            "school_id": school,
            "la_code": geo.la_code[la],
            "year_group": np.asarray(YEAR_GROUPS, dtype=object)[g],
            "fsm": fsm,
            "sen_provision": sen_provision,
            "sen_type": sen_recorded,
            "ethnicity": recorded_ethnicity,
            "attainment_score": score,
            "ks1_points": ks1,
            "ks2_scaled_score": ks2,
            "ks4_attainment8": ks4,
            "sessions_absent": sessions,
            "fixed_term_exclusions": fixed_term,
            "permanent_exclusion": permanent,
        },
        reference="upn",
        year=ay,
    )
    in_census = np.zeros(n, dtype=np.int8)
    in_census[pid] = 1
    end_year11 = year_start(rec + 12) + 242  # 31 August at the end of year 11
    truth = {
        "reception_year": rec,
        "in_pupil_census": in_census,
        "end_of_year11": end_year11,
        "sen_level": level,
        "sen_type": np.where(level != "N", sen_type, "").astype(object),
        "hotspot_area": hot.astype(np.int8),
    }
    return records, truth


def school_ethnicity(cfg: WorldConfig, pop: Population, rng: np.random.Generator) -> np.ndarray:
    """Ethnicity as a school records it: missing more for mixed and other groups,
    and sometimes a different code from the person's own."""
    eff = cfg.effects
    n = pop.size
    true = pop.ethnicity
    group5 = np.array([ETHNICITY_18[c][1] for c in true], dtype=object)
    out = true.copy()
    differ = rng.random(n) < eff.ethnicity_recorded_differently
    codes = np.array(list(ETHNICITY_18), dtype=object)
    same5 = {g: codes[[ETHNICITY_18[c][1] == g for c in codes]] for g in "WMABO"}
    mixed_parts = {"MWBC": ("WBRI", "BCRB"), "MWBA": ("WBRI", "BAFR"), "MWAS": ("WBRI", "AIND")}
    for i in np.flatnonzero(differ):
        parts = mixed_parts.get(true[i])
        pool = parts if parts else same5[group5[i]]
        out[i] = pool[int(rng.integers(len(pool)))]
    p_missing = eff.ethnicity_missing["pupil_census"] * np.where(
        np.isin(group5, ["M", "O"]), eff.ethnicity_missing_minority_multiplier, 1.0
    )
    missing = rng.random(n) < p_missing
    how = rng.random(n)
    out[missing & (how < 0.6)] = None
    out[missing & (how >= 0.6) & (how < 0.8)] = "REFU"
    out[missing & (how >= 0.8)] = "NOBT"
    return out
