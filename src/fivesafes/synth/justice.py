"""Justice: cautions, convictions and custody (a Police National Computer extract).

Planted: the chance of a first proven offence by age 21 depends on the person's
attainment trajectory group, sex, deprivation and care experience
(``Effects.conviction_*``); pupils on the declining trajectory are far more often
convicted, and earlier (before the end of year 11). People outside the school
cohorts offend as adults at ``Effects.adult_conviction_probability``.
"""

from __future__ import annotations

import numpy as np

from fivesafes.datasets import ETHNICITY_18, OFFENCE_GROUPS
from fivesafes.synth.config import WorldConfig
from fivesafes.synth.geography import Geography
from fivesafes.synth.population import Population, unique_numbers
from fivesafes.synth.records import NO_DAY, Records, age_at, blank, day, expit, pick, years_of

OFFENCE_P = (0.22, 0.02, 0.03, 0.25, 0.08, 0.12, 0.04, 0.08, 0.04, 0.03, 0.09)
YOUTH_DISPOSALS = (("YCA", "DIS", "FIN", "COM", "CUS"), (0.45, 0.15, 0.05, 0.28, 0.07))
ADULT_DISPOSALS = (
    ("CAU", "DIS", "FIN", "COM", "SUS", "CUS"),
    (0.18, 0.10, 0.32, 0.20, 0.10, 0.10),
)


def make_justice(
    cfg: WorldConfig,
    pop: Population,
    geo: Geography,
    group: np.ndarray,
    in_school_cohort: np.ndarray,
    end_of_year11: np.ndarray,
    in_care: np.ndarray,
    rng: np.random.Generator,
) -> tuple[Records, dict[str, np.ndarray]]:
    eff = cfg.effects
    n = pop.size
    q = geo.deprivation_quintile[pop.area0]
    male = pop.sex == "M"
    logit = (
        np.asarray(eff.conviction_logodds_by_group)[group]
        + eff.conviction_male_logodds * male
        + eff.conviction_deprivation_logodds * (5 - q)
        + eff.conviction_care_logodds * in_care
    )
    by21 = (rng.random(n) < expit(logit)) & in_school_cohort
    early = by21 & (rng.random(n) < np.asarray(eff.early_onset_share)[group])
    tenth = pop.dob + int(10 * 365.25)
    age21 = pop.dob + int(21 * 365.25)
    first = np.full(n, NO_DAY, dtype=np.int64)
    span_early = np.maximum(end_of_year11 - tenth, 1)
    first[early] = tenth[early] + (rng.random(int(early.sum())) * span_early[early]).astype(
        np.int64
    )
    late = by21 & ~early
    span_late = np.maximum(age21 - end_of_year11, 1)
    first[late] = (
        end_of_year11[late] + 1 + (rng.random(int(late.sum())) * span_late[late]).astype(np.int64)
    )
    # Adult onset, for everyone not convicted by 21.
    adult = ~by21 & (rng.random(n) < eff.adult_conviction_probability * np.where(male, 1.6, 0.4))
    first[adult] = age21[adult] + (rng.random(int(adult.sum())) * 25 * 365.25).astype(np.int64)
    first[pop.immigrant & (years_of(np.where(first == NO_DAY, 0, first)) < pop.arrival_year)] = (
        NO_DAY
    )

    # Further offences: a geometric number, spaced by exponential gaps.
    offenders = np.flatnonzero(first != NO_DAY)
    extra = (
        rng.geometric(
            np.where(group[offenders] == eff.trajectory_groups.index("declining"), 0.3, 0.5)
        )
        - 1
    )
    extra = np.minimum(extra, 12)
    count = extra + 1
    pid = np.repeat(offenders, count)
    k = np.arange(pid.size) - np.repeat(np.cumsum(count) - count, count)
    gaps = rng.exponential(400, pid.size) * (k > 0)
    start = np.repeat(first[offenders], count)
    cum = np.zeros(pid.size)
    # cumulative gaps within each person's run
    cs = np.cumsum(gaps)
    run_start = np.repeat(np.cumsum(count) - count, count)
    cum = cs - np.concatenate([[0.0], cs])[run_start]
    offence = start + cum.astype(np.int64)
    window = (offence >= day(2000, 1, 1)) & (offence <= day(cfg.last_year + 1, 12, 31))
    pid, offence = pid[window], offence[window]
    rows = pid.size

    outcome = offence + rng.integers(7, 200, rows)
    youth = age_at(pop.dob[pid], offence) < 18
    disposal = np.where(
        youth,
        pick(YOUTH_DISPOSALS[0], YOUTH_DISPOSALS[1], rows, rng),
        pick(ADULT_DISPOSALS[0], ADULT_DISPOSALS[1], rows, rng),
    ).astype(object)
    la = geo.la[np.where(offence >= pop.move[pid], pop.area1[pid], pop.area0[pid])]
    court_kind = np.where(youth, "YC", np.where(np.isin(disposal, ["SUS", "CUS"]), "CC", "MC"))
    court = np.array([f"{c}{a + 1:03d}" for c, a in zip(court_kind, la, strict=True)], dtype=object)
    court[np.isin(disposal, ["CAU", "YCA"])] = None
    custody = disposal == "CUS"
    custody_start = np.where(custody, outcome, NO_DAY)
    custody_end = np.where(
        custody, outcome + rng.exponential(200, rows).astype(np.int64) + 14, NO_DAY
    )
    custody_end = np.where(custody_end > day(cfg.last_year + 1, 12, 31), NO_DAY, custody_end)

    group5 = np.array([ETHNICITY_18[c][1] for c in pop.ethnicity[pid]], dtype=object)
    p_missing = eff.ethnicity_missing["justice_offences"] * np.where(
        np.isin(group5, ["M", "O"]), eff.ethnicity_missing_minority_multiplier, 1.0
    )
    observed = blank(rng.random(rows) < p_missing, group5)
    # Officers see mixed-ethnicity people as another group half the time.
    mixed = (group5 == "M") & (rng.random(rows) < 0.5) & (observed != None)  # noqa: E711
    observed[mixed] = np.where(rng.random(int(mixed.sum())) < 0.5, "W", "B")

    pnc_number = unique_numbers(n, 10**7, rng)
    letters = np.array(list("ABCDEFGHJKLMNPQRTUVWXYZ"), dtype=object)
    first_year = years_of(np.where(first == NO_DAY, day(2000), first)) % 100
    pnc = np.array(
        [
            f"{y:02d}/{d:07d}{letters[d % len(letters)]}"
            for y, d in zip(first_year[pid], pnc_number[pid], strict=True)
        ],
        dtype=object,
    )
    records = Records(
        pid=pid,
        day=offence,
        columns={
            "pnc_id": pnc,
            "offence_date": offence,
            "outcome_date": outcome,
            "offence_group": pick(tuple(OFFENCE_GROUPS), OFFENCE_P, rows, rng),
            "disposal": disposal,
            "court": court,
            "custody_start": custody_start,
            "custody_end": custody_end,
            "ethnicity_observed": observed,
        },
        reference="pnc_id",
    )
    truth = {
        "first_offence": first,
        "convicted_by_21": (first != NO_DAY) & (first <= age21),
        "convicted_by_year11": (first != NO_DAY) & (first <= end_of_year11),
    }
    return records, {k: np.asarray(v) for k, v in truth.items()}
