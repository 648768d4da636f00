"""Provider returns: the yearly files 22 local authorities send to a collection.

Each authority has its own children (child reference ``8NN-NNNNNNN``, as in the
world's social care data), drawn with the world's distributions: ethnic groups
from :mod:`fivesafes.synth.population`, legal status, placement type and
category of need from :mod:`fivesafes.synth.care`, care episodes of the same
lengths (one to four in a row, each at least a week, about 320 days on
average). From them come, for every authority and collection year (1 April to
31 March):

- ``cla_episodes``: every episode of care open at some time in the year, the
  end date and the reason for leaving blank while the episode is still open at
  the end of the year;
- ``cin_census``: one row per child in need at some time in the year (every
  child looked after in the year, and three times as many others).

Clean returns pass every rule of the collections. :func:`with_errors` plants
the mistakes real returns have (a missing field, an invalid code, a date in
the wrong form, an episode ending before it starts, overlapping episodes, the
same child twice or with two dates of birth, a child too old, another
authority's code), and says where; one authority's numbers jump between two
years (a warning about the change to explain). Kept apart from
:func:`~fivesafes.synth.make_world` so that returns of a realistic size for 22
authorities do not need a world of millions of people.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from fivesafes.datasets import CATEGORIES_OF_NEED, LEGAL_STATUS, PLACEMENT_TYPES
from fivesafes.synth.care import CIN_NEED_P, LEGAL_P, NEED_P, PLACEMENT_P
from fivesafes.synth.geography import LA_NAMES
from fivesafes.synth.population import ETHNIC_CODES, ETHNIC_GROUPS
from fivesafes.synth.records import day, pick

N_LAS = 22
FIRST_YEAR = 2019
LAST_YEAR = 2023
#: The authority (index) whose numbers jump, and the year they jump in.
JUMP_LA = 4
JUMP_YEAR = 2022
JUMP_FACTOR = 1.45
REASONS_FOR_LEAVING = ("E11", "E12", "E13", "E2", "E3", "E41", "E45", "E5", "E8")
LEAVING_P = (0.03, 0.08, 0.30, 0.005, 0.04, 0.05, 0.10, 0.12, 0.275)
YEAR_DAYS = 365.25

CLA_COLUMNS = (
    "child_id",
    "dob",
    "sex",
    "ethnicity",
    "la_code",
    "episode_start",
    "episode_end",
    "legal_status",
    "placement_type",
    "reason_for_entry",
    "reason_for_leaving",
)
CIN_COLUMNS = (
    "child_id",
    "dob",
    "sex",
    "ethnicity",
    "la_code",
    "census_year",
    "referral_date",
    "primary_need",
    "disability",
    "closure_date",
)


def la_code(i: int) -> str:
    return f"X06{i + 1:06d}"


def la_name(i: int) -> str:
    return LA_NAMES[i % len(LA_NAMES)]


def _dates(days: np.ndarray) -> np.ndarray:
    """ISO text of days since 1970-01-01."""
    return np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype(object)


@dataclass
class Authority:
    """One local authority's children and their episodes (days since 1970)."""

    index: int
    child_id: np.ndarray
    dob: np.ndarray
    sex: np.ndarray
    ethnicity: np.ndarray
    need: np.ndarray
    disability: np.ndarray
    # Episodes of care (parallel arrays; ``child`` indexes the children).
    child: np.ndarray
    start: np.ndarray
    end: np.ndarray
    legal: np.ndarray
    placement: np.ndarray
    leaving: np.ndarray
    # Children in need who were never looked after: referral and closure.
    cin_child: np.ndarray
    referral: np.ndarray
    closure: np.ndarray


@dataclass
class ReturnsConfig:
    seed: int = 1
    authorities: int = N_LAS
    first_year: int = FIRST_YEAR
    last_year: int = LAST_YEAR
    #: Children ever looked after per authority (each draws its own size around this).
    children: int = 900

    @property
    def years(self) -> range:
        return range(self.first_year, self.last_year + 1)


def make_authority(cfg: ReturnsConfig, index: int) -> Authority:
    """An authority's children, episodes and children in need, from the seed."""
    rng = np.random.default_rng([cfg.seed, index])
    scale = rng.uniform(0.5, 1.5)
    lo, hi = day(cfg.first_year - 3, 4, 1), day(cfg.last_year + 1, 3, 31)
    span = hi - lo

    def cohort(n: int, entry: np.ndarray) -> tuple[np.ndarray, ...]:
        age = rng.random(n) * 17.5
        dob = entry - (age * YEAR_DAYS).astype(np.int64) - rng.integers(0, 30, n)
        shares = np.array([g[1] for g in ETHNIC_GROUPS])
        eth = ETHNIC_CODES[rng.choice(len(ETHNIC_GROUPS), n, p=shares / shares.sum())]
        eth = np.where(rng.random(n) < 0.02, "NOBT", eth).astype(object)
        sex = np.where(rng.random(n) < 0.55, "M", "F").astype(object)
        return dob, sex, eth

    # Children looked after: arrivals spread evenly, more from JUMP_YEAR in one authority.
    n = max(20, int(cfg.children * scale))
    entry = lo + (rng.random(n) * span).astype(np.int64)
    if index == JUMP_LA:
        extra = int(n * (JUMP_FACTOR - 1))
        jump_lo = day(JUMP_YEAR, 4, 1)
        entry = np.concatenate([entry, jump_lo + (rng.random(extra) * (hi - jump_lo)).astype(int)])
        n = entry.size
    dob, sex, eth = cohort(n, entry)
    eighteenth = dob + int(18 * YEAR_DAYS)
    n_ep = np.minimum(rng.geometric(0.55, n), 4)
    child_l, start_l, end_l = [], [], []
    s = entry.copy()
    for k in range(4):
        active = np.flatnonzero((n_ep > k) & (s < eighteenth))
        length = np.maximum(7, rng.exponential(320, active.size)).astype(np.int64)
        e = np.minimum(s[active] + length, eighteenth[active] - 1)
        child_l.append(active)
        start_l.append(s[active])
        end_l.append(e)
        s = s.copy()
        s[active] = e  # the next episode starts the day this one ends
        n_ep[active[e >= eighteenth[active] - 1]] = k + 1
    child = np.concatenate(child_l)
    start = np.concatenate(start_l)
    end = np.concatenate(end_l)
    order = np.lexsort((start, child))
    child, start, end = child[order], start[order], end[order]
    last = np.r_[child[1:] != child[:-1], True]
    m = child.size
    leaving = np.where(last, pick(REASONS_FOR_LEAVING, LEAVING_P, m, rng), "X1").astype(object)
    at_18 = last & (end >= eighteenth[child] - 1)
    leaving[at_18] = "E8"
    placement = pick(tuple(PLACEMENT_TYPES), PLACEMENT_P, m, rng)
    legal = pick(tuple(LEGAL_STATUS), LEGAL_P, m, rng)
    age_at_start = (start - dob[child]) / YEAR_DAYS
    placement = np.where((placement == "H5") & (age_at_start < 16), "U4", placement)
    legal = np.where(placement == "A3", "E1", legal).astype(object)
    needs = tuple(CATEGORIES_OF_NEED)
    need_cla = pick(needs[:8], NEED_P[:8], n, rng)

    # Children in need who were never looked after: three for each child looked after.
    k = 3 * n
    referral = lo + (rng.random(k) * span).astype(np.int64)
    cdob, csex, ceth = cohort(k, referral)
    closure = referral + np.maximum(30, rng.exponential(500, k)).astype(np.int64)
    closure = np.minimum(closure, cdob + int(18 * YEAR_DAYS) - 1)
    need_cin = pick(needs, CIN_NEED_P, k, rng)

    serial = rng.permutation(n + k) + 1_000_000
    ids = np.array([f"{800 + index:03d}-{v:07d}" for v in serial], dtype=object)
    return Authority(
        index=index,
        child_id=ids,
        dob=np.concatenate([dob, cdob]),
        sex=np.concatenate([sex, csex]),
        ethnicity=np.concatenate([eth, ceth]),
        need=np.concatenate([need_cla, need_cin]),
        disability=(rng.random(n + k) < 0.1).astype(np.int8),
        child=child,
        start=start,
        end=end,
        legal=legal,
        placement=placement,
        leaving=leaving,
        cin_child=np.arange(n, n + k),
        referral=referral,
        closure=closure,
    )


def _period(year: int) -> tuple[int, int]:
    return day(year, 4, 1), day(year + 1, 3, 31)


def cla_return(a: Authority, year: int) -> pa.Table:
    """The authority's children looked after return for ``year``: every episode
    open at some time in the year, in the order the authority's system lists them."""
    ps, pe = _period(year)
    idx = np.flatnonzero((a.start <= pe) & (a.end >= ps))
    c = a.child[idx]
    open_ = a.end[idx] > pe
    end_text = np.where(open_, "", _dates(a.end[idx])).astype(object)
    return pa.table(
        {
            "child_id": a.child_id[c],
            "dob": _dates(a.dob[c]),
            "sex": a.sex[c],
            "ethnicity": a.ethnicity[c],
            "la_code": np.full(idx.size, la_code(a.index), dtype=object),
            "episode_start": _dates(a.start[idx]),
            "episode_end": end_text,
            "legal_status": a.legal[idx],
            "placement_type": a.placement[idx],
            "reason_for_entry": a.need[c],
            "reason_for_leaving": np.where(open_, "", a.leaving[idx]).astype(object),
        }
    )


def cin_return(a: Authority, year: int) -> pa.Table:
    """The authority's children in need census for ``year``: one row per child."""
    ps, pe = _period(year)
    # Children looked after in the year: referred 60 days before their first episode.
    on = (a.start <= pe) & (a.end >= ps)
    cla_children = np.unique(a.child[on])
    first = np.full(a.child_id.size, np.iinfo(np.int64).max)
    np.minimum.at(first, a.child, a.start)
    last = np.full(a.child_id.size, np.iinfo(np.int64).min)
    np.maximum.at(last, a.child, a.end)
    ref_cla = first[cla_children] - 60
    close_cla = last[cla_children]
    sel = (a.referral <= pe) & (a.closure >= ps)
    others = a.cin_child[sel]
    child = np.concatenate([cla_children, others])
    referral = np.concatenate([ref_cla, a.referral[sel]])
    closure = np.concatenate([close_cla, a.closure[sel]])
    referral = np.maximum(referral, a.dob[child])
    # Referrals more than ten years before the year are rare: brought forward.
    referral = np.maximum(referral, ps - int(10 * YEAR_DAYS) + 1)
    order = np.argsort(a.child_id[child], kind="stable")
    child, referral, closure = child[order], referral[order], closure[order]
    open_ = closure > pe
    return pa.table(
        {
            "child_id": a.child_id[child],
            "dob": _dates(a.dob[child]),
            "sex": a.sex[child],
            "ethnicity": a.ethnicity[child],
            "la_code": np.full(child.size, la_code(a.index), dtype=object),
            "census_year": np.full(child.size, str(year), dtype=object),
            "referral_date": _dates(referral),
            "primary_need": a.need[child],
            "disability": a.disability[child].astype(str).astype(object),
            "closure_date": np.where(open_, "", _dates(closure)).astype(object),
        }
    )


@dataclass
class Planted:
    """One mistake planted in a return: its kind, the data row (1 = first) and field."""

    kind: str
    row: int
    field: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "row": self.row, "field": self.field}


def with_errors(
    table: pa.Table, collection: str, rng: np.random.Generator, per_kind: int = 1
) -> tuple[pa.Table, list[Planted]]:
    """A copy of a clean return with ``per_kind`` mistakes of each kind planted in
    distinct rows, and where the rules should find them (row 1 = first data row;
    a row sent twice is added at the end, and it is the copy that is wrong)."""
    cols = {
        name: np.array(table.column(name).to_pylist(), dtype=object) for name in table.schema.names
    }
    n = table.num_rows
    kinds = CLA_ERROR_KINDS if collection == "cla_episodes" else CIN_ERROR_KINDS
    rows = rng.choice(n, size=min(n, per_kind * len(kinds)), replace=False)
    planted: list[Planted] = []
    copies: list[dict[str, Any]] = []
    for j, r in enumerate(rows):
        kind = kinds[j % len(kinds)]
        if kind in APPENDED:
            copy = {name: v[int(r)] for name, v in cols.items()}
            fld = _plant_copy(kind, copy)
            copies.append(copy)
            planted.append(Planted(kind, n + len(copies), fld))
        else:
            fld = _plant(kind, cols, int(r), collection)
            planted.append(Planted(kind, int(r) + 1, fld))
    if copies:
        for name in cols:
            cols[name] = np.concatenate([cols[name], np.array([c[name] for c in copies])])
    return pa.table({k: pa.array(v.tolist(), pa.string()) for k, v in cols.items()}), planted


APPENDED = ("overlapping_episodes", "duplicate_child", "dob_differs")


def _plant_copy(kind: str, row: dict[str, Any]) -> str:
    if kind == "overlapping_episodes":
        # The episode sent twice, the copy starting a day later: the two overlap.
        row["episode_start"] = _shift(str(row["episode_start"]), 1)
        return "episode_start"
    if kind == "duplicate_child":
        return "child_id"
    if kind == "dob_differs":
        # The same child again with another date of birth.
        row["dob"] = _shift(str(row["dob"]), 1)
        return "dob"
    raise AssertionError(kind)


CLA_ERROR_KINDS = (
    "missing_required",
    "invalid_code",
    "bad_date",
    "end_before_start",
    "overlapping_episodes",
    "duplicate_child",
    "age_inconsistent",
    "other_authority",
    "dob_differs",
)
CIN_ERROR_KINDS = (
    "missing_required",
    "invalid_code",
    "bad_date",
    "end_before_start",
    "duplicate_child",
    "age_inconsistent",
    "other_authority",
    "wrong_year",
)


def _shift(text: str, days: int) -> str:
    return str(np.datetime64(text) + np.timedelta64(days, "D"))


def _plant(kind: str, cols: dict[str, np.ndarray], r: int, collection: str) -> str:
    cla = collection == "cla_episodes"
    if kind == "missing_required":
        fld = "placement_type" if cla else "primary_need"
        cols[fld][r] = ""
        return fld
    if kind == "invalid_code":
        fld = "legal_status" if cla else "primary_need"
        cols[fld][r] = "C9" if cla else "N0"
        return fld
    if kind == "bad_date":
        fld = "episode_start" if cla else "referral_date"
        y, m, d = str(cols[fld][r]).split("-")
        cols[fld][r] = f"{d}/{m}/{y}"
        return fld
    if kind == "end_before_start":
        start, end = ("episode_start", "episode_end") if cla else ("referral_date", "closure_date")
        cols[end][r] = _shift(str(cols[start][r]), -3)
        if cla:
            cols["reason_for_leaving"][r] = cols["reason_for_leaving"][r] or "E13"
        return end
    if kind == "age_inconsistent":
        # A date of birth after the episode (or referral) began.
        fld = "episode_start" if cla else "referral_date"
        cols["dob"][r] = _shift(str(cols[fld][r]), 200)
        return fld
    if kind == "other_authority":
        cols["la_code"][r] = "X06000099"
        return "la_code"
    if kind == "wrong_year":
        cols["census_year"][r] = str(int(cols["census_year"][r]) - 1)
        return "census_year"
    raise AssertionError(kind)


@dataclass
class ReturnsSummary:
    out: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "files": self.files}


def authorities(cfg: ReturnsConfig) -> list[tuple[str, str]]:
    """(code, name) of every authority."""
    return [(la_code(i), la_name(i)) for i in range(cfg.authorities)]


def write_csv(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))


def make_returns(
    out: Path,
    cfg: ReturnsConfig | None = None,
    error_share: float = 0.0,
) -> ReturnsSummary:
    """Write every authority's returns for every year under ``out``:
    ``<collection>/<la code>_<year>.csv``; with ``error_share`` > 0, that share of
    files (chosen at random) has mistakes planted, listed in ``planted.json``."""
    cfg = cfg or ReturnsConfig()
    rng = np.random.default_rng([cfg.seed, 9999])
    summary = ReturnsSummary(out=out)
    planted_all: dict[str, list[dict[str, Any]]] = {}
    for i in range(cfg.authorities):
        a = make_authority(cfg, i)
        for year in cfg.years:
            for collection, table in (
                ("cla_episodes", cla_return(a, year)),
                ("cin_census", cin_return(a, year)),
            ):
                rel = f"{collection}/{la_code(i)}_{year}.csv"
                if error_share > 0 and rng.random() < error_share:
                    table, planted = with_errors(table, collection, rng)
                    planted_all[rel] = [p.to_dict() for p in planted]
                write_csv(table, out / rel)
                summary.files[rel] = {"rows": table.num_rows, "errors_planted": rel in planted_all}
    if planted_all:
        (out / "planted.json").write_text(json.dumps(planted_all, indent=1, sort_keys=True))
    return summary
