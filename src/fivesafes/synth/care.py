"""Social care: children looked after episodes and the children in need census.

Planted: the chance of ever being looked after rises with the deprivation of
the child's home area (``Effects.care_logodds`` and ``care_deprivation_logodds``).
"""

from __future__ import annotations

import numpy as np

from fivesafes.datasets import CATEGORIES_OF_NEED, LEGAL_STATUS, PLACEMENT_TYPES
from fivesafes.synth.config import WorldConfig
from fivesafes.synth.geography import Geography
from fivesafes.synth.population import Population
from fivesafes.synth.records import NO_DAY, Records, day, expit, pick, year_start

LEGAL_P = (0.10, 0.40, 0.08, 0.35, 0.04, 0.03)
PLACEMENT_P = (0.18, 0.52, 0.10, 0.04, 0.07, 0.03, 0.06)
NEED_P = (0.62, 0.03, 0.04, 0.08, 0.15, 0.02, 0.01, 0.05, 0.0)
CIN_NEED_P = (0.50, 0.10, 0.06, 0.10, 0.15, 0.03, 0.01, 0.03, 0.02)


def child_ids(pop: Population, geo: Geography, rng: np.random.Generator) -> np.ndarray:
    """A local authority's own child reference: LA number and a serial."""
    la = geo.la[pop.area0]
    serial = rng.permutation(pop.size) + 1_000_000
    return np.array(
        [f"{800 + a:03d}-{s:07d}" for a, s in zip(la, serial, strict=True)], dtype=object
    )


def make_care(
    cfg: WorldConfig, pop: Population, geo: Geography, rng: np.random.Generator
) -> tuple[Records, Records, dict[str, np.ndarray]]:
    """Children looked after episodes, the CIN census, and per-person truth."""
    eff = cfg.effects
    n = pop.size
    q = geo.deprivation_quintile[pop.area0]
    p_care = expit(eff.care_logodds + eff.care_deprivation_logodds * (5 - q))
    eighteenth = pop.dob + int(18 * 365.25)
    data_start, data_end = day(cfg.first_year, 4, 1), day(cfg.last_year + 1, 3, 31)
    in_care = (rng.random(n) < p_care) & ~pop.immigrant

    # Episodes: 1-4 per child, from a first entry between birth and 16.
    pid_l, start_l, end_l = [], [], []
    children = np.flatnonzero(in_care)
    entry = pop.dob[children] + (rng.random(children.size) * 16 * 365.25).astype(np.int64)
    n_ep = np.minimum(rng.geometric(0.55, children.size), 4)
    first_entry = np.full(n, NO_DAY, dtype=np.int64)
    first_entry[children] = entry
    for k in range(4):
        active = n_ep > k
        who = children[active]
        s = entry[active]
        length = np.maximum(7, rng.exponential(320, who.size)).astype(np.int64)
        e = np.minimum(s + length, eighteenth[who])
        pid_l.append(who)
        start_l.append(s)
        end_l.append(e)
        entry = entry.copy()
        entry[active] = e + np.maximum(1, rng.exponential(200, who.size)).astype(np.int64)
    pid = np.concatenate(pid_l)
    start = np.concatenate(start_l)
    end = np.concatenate(end_l)
    keep = (start < eighteenth[pid]) & (end >= data_start) & (start <= data_end)
    pid, start, end = pid[keep], start[keep], end[keep]
    open_end = end > data_end
    la = geo.la[pop.area0[pid]]
    cla = Records(
        pid=pid,
        day=start,
        columns={
            "la_code": geo.la_code[la],
            "episode_start": start,
            "episode_end": np.where(open_end, NO_DAY, end),
            "legal_status": pick(tuple(LEGAL_STATUS), LEGAL_P, pid.size, rng),
            "placement_type": pick(tuple(PLACEMENT_TYPES), PLACEMENT_P, pid.size, rng),
            "reason_for_entry": pick(tuple(CATEGORIES_OF_NEED), NEED_P, pid.size, rng),
        },
        reference="child_id",
    )

    # Children in need: every child in care, plus others (more in deprived areas).
    p_cin = eff.children_in_need_probability * (0.6 + 0.2 * (5 - q))
    cin_child = (in_care | (rng.random(n) < p_cin)) & ~pop.immigrant
    who = np.flatnonzero(cin_child)
    referral = pop.dob[who] + (rng.random(who.size) * 16 * 365.25).astype(np.int64)
    fe = first_entry[who]
    referral = np.where(fe != NO_DAY, fe - 60, referral)
    closure = referral + np.maximum(30, rng.exponential(500, who.size)).astype(np.int64)
    closure = np.minimum(closure, eighteenth[who])
    need = pick(tuple(CATEGORIES_OF_NEED), CIN_NEED_P, who.size, rng)
    disability = (rng.random(who.size) < 0.1).astype(np.int8)
    rows_pid, rows_year, rows_ref, rows_close, rows_need, rows_dis = [], [], [], [], [], []
    for year in range(max(cfg.first_year, 2008), cfg.last_year + 1):
        ys, ye = day(year, 4, 1), day(year + 1, 3, 31)
        on = (referral <= ye) & (closure >= ys)
        idx = np.flatnonzero(on)
        rows_pid.append(who[idx])
        rows_year.append(np.full(idx.size, year))
        rows_ref.append(referral[idx])
        rows_close.append(np.where(closure[idx] > ye, NO_DAY, closure[idx]))
        rows_need.append(need[idx])
        rows_dis.append(disability[idx])
    cpid = np.concatenate(rows_pid)
    cyear = np.concatenate(rows_year)
    cin = Records(
        pid=cpid,
        day=year_start(cyear + 1) + 89,  # 31 March
        columns={
            "census_year": cyear,
            "la_code": geo.la_code[geo.la[pop.area0[cpid]]],
            "referral_date": np.concatenate(rows_ref),
            "primary_need": np.concatenate(rows_need),
            "disability": np.concatenate(rows_dis),
            "cin_closure_date": np.concatenate(rows_close),
        },
        reference="child_id",
        year=cyear,
    )
    truth = {
        "ever_looked_after": in_care.astype(np.int8),
        "first_care_entry": first_entry,
        "child_in_need": cin_child.astype(np.int8),
    }
    return cla, cin, truth
