"""Returns of the adults', carers' and aggregate social care collections.

Beside the children's returns of :mod:`fivesafes.synth.returns`, the same 22
local authorities send:

- ``adults_census`` (yearly from 2023-24): one row per adult with a care and
  support plan open at some time in the year, with the main service and the
  last review of the plan;
- ``carers_census`` (yearly from 2025-26): one row per unpaid carer assessed in
  the year, with whether they are a young carer and the support given;
- ``pif_measures`` (yearly): the Performance and Improvement Framework's
  counts, one row per measure, totals the sums of their parts;
- ``ss_checkpoint`` (monthly, never published): capacity and demand, one row
  per measure and month.

Each authority's people persist from year to year, so the comparisons with the
previous return have something to compare; one authority's numbers jump
(:data:`~fivesafes.synth.returns.JUMP_LA`), a warning to explain. Clean
returns pass every rule; :func:`with_errors` plants the mistakes of each
collection and says where.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from fivesafes.synth.population import ETHNIC_CODES, ETHNIC_GROUPS
from fivesafes.synth.records import day, pick
from fivesafes.synth.returns import (
    JUMP_LA,
    YEAR_DAYS,
    Planted,
    ReturnsConfig,
    _dates,
    _shift,
    la_code,
)

#: The first collection year of each individual-level census (as the collections
#: began: adults 2023-24, carers 2025-26); each is written for two years.
FIRST_YEARS = {"adults_census": 2023, "carers_census": 2025}
SUPPORT_REASONS = ("PS", "SS", "MC", "LD", "MH", "SI")
SUPPORT_REASON_P = (0.52, 0.05, 0.14, 0.12, 0.12, 0.05)
SERVICES = ("RES", "NUR", "DOM", "DP", "DAY", "SL", "RE")
SERVICE_P = (0.16, 0.09, 0.38, 0.10, 0.08, 0.09, 0.10)
RELATIONSHIPS = ("PAR", "PTN", "CHD", "SIB", "REL", "FRD")
ADULT_CARER_REL_P = (0.18, 0.34, 0.30, 0.04, 0.08, 0.06)
YOUNG_CARER_REL = ("PAR", "SIB", "REL")
CARER_SUPPORT = ("IAA", "RES", "DP", "TRN", "EMO", "NSP")
CARER_SUPPORT_P = (0.35, 0.18, 0.10, 0.05, 0.12, 0.20)
#: The framework's measures: (code, mean a year for an authority of typical size),
#: and which are the sums of which.
PIF_MEASURES = {
    "AD01A": 600.0,
    "AD01B": 1400.0,
    "AD02": 3000.0,
    "AD03": 420.0,
    "CH01": 5200.0,
    "CH02": 1500.0,
    "CH03": 120.0,
    "CA01A": 480.0,
    "CA01B": 36.0,
}
CHECKPOINT_MEASURES = {
    "CP01": 140.0,
    "CP02": 45.0,
    "CP03": 900.0,
    "CP04A": 700.0,
    "CP04B": 380.0,
    "CP05": 60.0,
    "CP06": 25.0,
    "CP07": 430.0,
    "CP08": 9.0,
}


def _ethnicity_sex(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    shares = np.array([g[1] for g in ETHNIC_GROUPS])
    eth = ETHNIC_CODES[rng.choice(len(ETHNIC_GROUPS), n, p=shares / shares.sum())]
    eth = np.where(rng.random(n) < 0.02, "NOBT", eth).astype(object)
    sex = np.where(rng.random(n) < 0.45, "M", "F").astype(object)
    return eth, sex


def _anniversary_before(start: np.ndarray, limit: int) -> np.ndarray:
    """The latest yearly anniversary of ``start`` (to the day, 365 days a year) on or
    before ``limit``; -1 where the first has not come."""
    years = np.floor((limit - start) / 365).astype(np.int64)
    return np.where(years >= 1, start + years * 365, -1)


@dataclass
class Adults:
    """One authority's adults with a care and support plan (days since 1970)."""

    index: int
    person_id: np.ndarray
    dob: np.ndarray
    sex: np.ndarray
    ethnicity: np.ndarray
    start: np.ndarray
    end: np.ndarray
    reason: np.ndarray
    service: np.ndarray
    hours: np.ndarray


def make_adults(cfg: ReturnsConfig, index: int) -> Adults:
    rng = np.random.default_rng([cfg.seed, index, 2])
    first = FIRST_YEARS["adults_census"]
    scale = rng.uniform(0.5, 1.5) * cfg.children / 900
    lo, hi = day(first - 6, 4, 1), day(first + 2, 3, 31)
    n = max(40, int(1500 * scale))
    start = lo + (rng.random(n) * (hi - lo)).astype(np.int64)
    if index == JUMP_LA:  # many more plans from the second year
        extra = int(n * 0.6)
        jump_lo = day(first + 1, 4, 1)
        start = np.concatenate([start, jump_lo + (rng.random(extra) * (hi - jump_lo)).astype(int)])
        n = start.size
    old = rng.random(n) < 0.7
    age = np.where(old, 65 + rng.gamma(3.0, 5.0, n), 19 + rng.random(n) * 45)
    age = np.minimum(age, 98)  # under 110 at every census the plan is in
    dob = start - (age * YEAR_DAYS).astype(np.int64)
    end = start + np.maximum(30, rng.exponential(3 * 365, n)).astype(np.int64)
    eth, sex = _ethnicity_sex(rng, n)
    reason = pick(SUPPORT_REASONS, SUPPORT_REASON_P, n, rng)
    service = pick(SERVICES, SERVICE_P, n, rng)
    hours = np.where(np.isin(service, ("DOM", "SL")), rng.integers(2, 61, n), -1)
    serial = rng.permutation(n) + 1_000_000
    ids = np.array([f"{800 + index:03d}-A{v:07d}" for v in serial], dtype=object)
    return Adults(index, ids, dob, sex, eth, start, end, reason, service, hours)


def adults_return(a: Adults, year: int) -> pa.Table:
    """Every adult whose plan was open at some time in the census year."""
    ps, pe = day(year, 4, 1), day(year + 1, 3, 31)
    idx = np.flatnonzero((a.start <= pe) & (a.end >= ps))
    idx = idx[np.argsort(a.person_id[idx], kind="stable")]
    open_ = a.end[idx] > pe
    review = _anniversary_before(a.start[idx], pe)
    review = np.where(review >= 0, np.minimum(review, a.end[idx]), -1)
    hours = a.hours[idx]
    return pa.table(
        {
            "person_id": a.person_id[idx],
            "dob": _dates(a.dob[idx]),
            "sex": a.sex[idx],
            "ethnicity": a.ethnicity[idx],
            "la_code": np.full(idx.size, la_code(a.index), dtype=object),
            "census_year": np.full(idx.size, str(year), dtype=object),
            "plan_start": _dates(a.start[idx]),
            "plan_end": np.where(open_, "", _dates(a.end[idx])).astype(object),
            "primary_support_reason": a.reason[idx],
            "service_type": a.service[idx],
            "weekly_hours": np.where(hours >= 0, hours.astype(str), "").astype(object),
            "last_review": np.where(review >= 0, _dates(np.maximum(review, 0)), "").astype(object),
        }
    )


@dataclass
class Carers:
    """One authority's unpaid carers: who they are and when they are assessed."""

    index: int
    carer_id: np.ndarray
    dob: np.ndarray
    sex: np.ndarray
    ethnicity: np.ndarray
    relationship: np.ndarray
    hours: np.ndarray
    seed: int


def make_carers(cfg: ReturnsConfig, index: int) -> Carers:
    rng = np.random.default_rng([cfg.seed, index, 3])
    first = FIRST_YEARS["carers_census"]
    scale = rng.uniform(0.5, 1.5) * cfg.children / 900
    n = max(30, int(600 * scale))
    young = rng.random(n) < 0.12
    # Ages at 1 April of the first year: young carers 6 to 14 (under 18 at every
    # assessment of the two years), adult carers 20 to 90 (never near 18).
    age = np.where(young, 6 + rng.random(n) * 8, 20 + rng.random(n) * 70)
    dob = day(first, 4, 1) - (age * YEAR_DAYS).astype(np.int64)
    eth, sex = _ethnicity_sex(rng, n)
    relationship = pick(RELATIONSHIPS, ADULT_CARER_REL_P, n, rng)
    relationship = np.where(
        young, pick(YOUNG_CARER_REL, (0.7, 0.2, 0.1), n, rng), relationship
    ).astype(object)
    hours = np.where(young, rng.integers(2, 25, n), rng.integers(5, 101, n))
    serial = rng.permutation(n) + 1_000_000
    ids = np.array([f"{800 + index:03d}-C{v:07d}" for v in serial], dtype=object)
    return Carers(index, ids, dob, sex, eth, relationship, hours, cfg.seed)


def carers_return(c: Carers, year: int) -> pa.Table:
    """The carers assessed in the census year, each once (their latest assessment)."""
    rng = np.random.default_rng([c.seed, c.index, year, 4])
    ps, pe = day(year, 4, 1), day(year + 1, 3, 31)
    n = c.carer_id.size
    second = year > FIRST_YEARS["carers_census"]
    # The jump authority assesses many more of its carers in the second year.
    share = (0.8 if second else 0.5) if c.index == JUMP_LA else 0.6
    assessed = rng.random(n) < share
    idx = np.flatnonzero(assessed)
    idx = idx[np.argsort(c.carer_id[idx], kind="stable")]
    when = ps + rng.integers(0, pe - ps + 1, idx.size)
    age = (when - c.dob[idx]) / YEAR_DAYS
    return pa.table(
        {
            "carer_id": c.carer_id[idx],
            "dob": _dates(c.dob[idx]),
            "sex": c.sex[idx],
            "ethnicity": c.ethnicity[idx],
            "la_code": np.full(idx.size, la_code(c.index), dtype=object),
            "census_year": np.full(idx.size, str(year), dtype=object),
            "assessment_date": _dates(when),
            "relationship": c.relationship[idx],
            "young_carer": np.where(age < 18, "1", "0").astype(object),
            "support_type": pick(CARER_SUPPORT, CARER_SUPPORT_P, idx.size, rng),
            "hours_caring": c.hours[idx].astype(str).astype(object),
        }
    )


def _authority_scale(cfg: ReturnsConfig, index: int) -> float:
    rng = np.random.default_rng([cfg.seed, index, 5])
    return float(rng.uniform(0.5, 1.5) * cfg.children / 900)


def pif_values(cfg: ReturnsConfig, index: int, year: int) -> dict[str, int]:
    """The framework's counts for one authority and year (totals as sums)."""
    rng = np.random.default_rng([cfg.seed, index, year, 6])
    growth = 1.02 ** (year - cfg.first_year)
    jump = 1.6 if (index == JUMP_LA and year >= cfg.last_year - 1) else 1.0
    scale = _authority_scale(cfg, index) * growth
    # Smooth from year to year (a few per cent), so that only the planted jump is
    # out of line with the previous year.
    v = {k: round(m * scale * rng.uniform(0.96, 1.04)) for k, m in PIF_MEASURES.items()}
    v["AD03"] = round(v["AD03"] * jump)
    v["AD01"] = v["AD01A"] + v["AD01B"]
    v["AD04"] = round(v["AD03"] * rng.uniform(0.8, 0.84))
    v["CH02A"] = round(v["CH02"] * rng.uniform(0.85, 0.87))
    v["CH02B"] = v["CH02"] - v["CH02A"]
    v["CA01"] = v["CA01A"] + v["CA01B"]
    return v


def checkpoint_values(cfg: ReturnsConfig, index: int, month: int) -> dict[str, int]:
    """The checkpoint's measures for one authority and month (YYYYMM)."""
    rng = np.random.default_rng([cfg.seed, index, month, 7])
    m = month % 100
    winter = 1.15 if m in (12, 1, 2) else 1.0
    jump = 1.8 if (index == JUMP_LA and m == 1) else 1.0
    scale = _authority_scale(cfg, index)
    v = {
        k: round(mean * scale * rng.uniform(0.97, 1.03)) for k, mean in CHECKPOINT_MEASURES.items()
    }
    for k in ("CP01", "CP02", "CP06"):
        v[k] = round(v[k] * winter * jump)
    v["CP04"] = v["CP04A"] + v["CP04B"]
    v["CP05"] = min(v["CP05"], v["CP04"])
    return v


def pif_return(cfg: ReturnsConfig, index: int, year: int) -> pa.Table:
    values = pif_values(cfg, index, year)
    codes = sorted(values)
    return pa.table(
        {
            "la_code": [la_code(index)] * len(codes),
            "year": [str(year)] * len(codes),
            "measure": codes,
            "value": [str(values[c]) for c in codes],
        }
    )


def checkpoint_months(cfg: ReturnsConfig) -> list[int]:
    """The months of the checkpoint written: the last collection year's twelve."""
    y = cfg.last_year
    return [y * 100 + m for m in range(4, 13)] + [(y + 1) * 100 + m for m in range(1, 4)]


def checkpoint_return(cfg: ReturnsConfig, index: int, month: int) -> pa.Table:
    values = checkpoint_values(cfg, index, month)
    codes = sorted(values)
    y, m = divmod(month, 100)
    return pa.table(
        {
            "la_code": [la_code(index)] * len(codes),
            "period": [f"{y:04d}-{m:02d}"] * len(codes),
            "measure": codes,
            "value": [str(values[c]) for c in codes],
        }
    )


# --- planted mistakes ------------------------------------------------------------------

Columns = dict[str, np.ndarray]
#: Per collection, each kind of mistake: it changes row ``r`` of the columns and
#: returns the field the rules should report.
_Planter = Callable[[Columns, int], str]


def _set(fld: str, value: str) -> _Planter:
    def plant(cols: Columns, r: int) -> str:
        cols[fld][r] = value
        return fld

    return plant


def _european_date(fld: str) -> _Planter:
    def plant(cols: Columns, r: int) -> str:
        y, m, d = str(cols[fld][r]).split("-")
        cols[fld][r] = f"{d}/{m}/{y}"
        return fld

    return plant


def _before(fld: str, other: str, days: int) -> _Planter:
    def plant(cols: Columns, r: int) -> str:
        cols[fld][r] = _shift(str(cols[other][r]), -days)
        return fld

    return plant


def _year_back(fld: str) -> _Planter:
    def plant(cols: Columns, r: int) -> str:
        cols[fld][r] = str(int(cols[fld][r]) - 1)
        return fld

    return plant


def _flip(fld: str) -> _Planter:
    def plant(cols: Columns, r: int) -> str:
        cols[fld][r] = "0" if cols[fld][r] == "1" else "1"
        return fld

    return plant


def _too_young(cols: Columns, r: int) -> str:
    # Born sixteen years before the plan started: too young for an adult's plan.
    cols["dob"][r] = _shift(str(cols["plan_start"][r]), -16 * 365)
    return "dob"


def _add_one(cols: Columns, r: int) -> str:
    cols["value"][r] = str(int(cols["value"][r]) + 1)
    return "value"


PLANTERS: dict[str, dict[str, _Planter]] = {
    "adults_census": {
        "missing_required": _set("service_type", ""),
        "invalid_code": _set("primary_support_reason", "PX"),
        "bad_date": _european_date("plan_start"),
        "end_before_start": _before("plan_end", "plan_start", 3),
        "too_young": _too_young,
        "other_authority": _set("la_code", "X06000099"),
        "wrong_year": _year_back("census_year"),
    },
    "carers_census": {
        "missing_required": _set("relationship", ""),
        "invalid_code": _set("support_type", "XX"),
        "bad_date": _european_date("assessment_date"),
        "young_carer_wrong": _flip("young_carer"),
        "other_authority": _set("la_code", "X06000099"),
        "wrong_year": _year_back("census_year"),
    },
}
#: Mistakes made by sending a row twice (the copy is the row reported).
DUPLICATED = {"adults_census": "person_id", "carers_census": "carer_id"}
AGGREGATE_PARTS = {"pif_measures": "AD01A", "ss_checkpoint": "CP04A"}
#: The measures of each aggregate collection's sums (totals and parts): a mistake
#: planted elsewhere must not also break a sum.
IN_SUMS = {
    "pif_measures": {"AD01", "AD01A", "AD01B", "CH02", "CH02A", "CH02B", "CA01", "CA01A", "CA01B"},
    "ss_checkpoint": {"CP04", "CP04A", "CP04B"},
}


def with_errors(
    table: pa.Table, collection: str, rng: np.random.Generator
) -> tuple[pa.Table, list[Planted]]:
    """A copy of a clean return with one mistake of each kind of its collection, and
    where the rules should find them (row 1 = first data row; ``row`` 0 for a
    mistake of the whole return, such as a measure left out)."""
    cols = {n: np.array(table.column(n).to_pylist(), dtype=object) for n in table.schema.names}
    n = table.num_rows
    planted: list[Planted] = []
    if collection in PLANTERS:
        kinds = PLANTERS[collection]
        rows = rng.choice(n, size=min(n, len(kinds) + 1), replace=False)
        for (kind, plant), r in zip(kinds.items(), rows, strict=False):
            planted.append(Planted(kind, int(r) + 1, plant(cols, int(r))))
        copy_of = int(rows[-1])
        for name in cols:
            cols[name] = np.append(cols[name], cols[name][copy_of])
        planted.append(Planted("duplicate_person", n + 1, DUPLICATED[collection]))
    else:
        _aggregate_errors(cols, collection, rng, planted)
    return pa.table({k: pa.array(v.tolist(), pa.string()) for k, v in cols.items()}), planted


def _aggregate_errors(
    cols: Columns, collection: str, rng: np.random.Generator, planted: list[Planted]
) -> None:
    measures = list(cols["measure"])
    part = measures.index(AGGREGATE_PARTS[collection])
    _add_one(cols, part)  # the total no longer equals the sum of its parts
    total = measures.index(AGGREGATE_PARTS[collection][:-1])
    planted.append(Planted("total_not_sum", total + 1, "value"))
    others = [i for i, m in enumerate(measures) if m not in IN_SUMS[collection]]
    negative, dropped = (int(i) for i in rng.choice(others, 2, replace=False))
    cols["value"][negative] = str(-1 - int(cols["value"][negative]))
    planted.append(Planted("negative_value", negative + 1, "value"))
    # A measure left out: the rows after it move up one.
    planted.append(Planted("missing_measure", 0, "measure"))
    for name in cols:
        cols[name] = np.delete(cols[name], dropped)
    for p in planted:
        if p.row > dropped + 1:
            p.row -= 1


def error_kinds(collection: str) -> tuple[str, ...]:
    """The kinds of mistake :func:`with_errors` plants in a collection's returns."""
    if collection in PLANTERS:
        return (*PLANTERS[collection], "duplicate_person")
    return ("total_not_sum", "negative_value", "missing_measure")


def returns_of(cfg: ReturnsConfig) -> list[tuple[str, str, Callable[[], pa.Table]]]:
    """Every return of these collections: (collection, file name, maker)."""
    out: list[tuple[str, str, Callable[[], pa.Table]]] = []
    for i in range(cfg.authorities):
        adults, carers = make_adults(cfg, i), make_carers(cfg, i)
        code = la_code(i)
        for k in range(2):
            y = FIRST_YEARS["adults_census"] + k
            out.append(("adults_census", f"{code}_{y}.csv", _bind(adults_return, adults, y)))
            y = FIRST_YEARS["carers_census"] + k
            out.append(("carers_census", f"{code}_{y}.csv", _bind(carers_return, carers, y)))
        for y in cfg.years:
            out.append(("pif_measures", f"{code}_{y}.csv", _bind3(pif_return, cfg, i, y)))
        for m in checkpoint_months(cfg):
            label = f"{m // 100:04d}-{m % 100:02d}"
            out.append(
                ("ss_checkpoint", f"{code}_{label}.csv", _bind3(checkpoint_return, cfg, i, m))
            )
    return out


def _bind(f: Callable[[Any, int], pa.Table], a: Any, y: int) -> Callable[[], pa.Table]:
    return lambda: f(a, y)


def _bind3(
    f: Callable[[ReturnsConfig, int, int], pa.Table], cfg: ReturnsConfig, i: int, p: int
) -> Callable[[], pa.Table]:
    return lambda: f(cfg, i, p)
