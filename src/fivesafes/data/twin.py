"""The synthetic twin of a project workspace: the same tables, columns and types,
plausible values, and no real row, to develop analysis code on outside the TRE.

:func:`make_twin` reads a workspace (:mod:`fivesafes.data.provision`) and writes
a new DuckDB file in which:

- every person is new: a fresh random pseudonym (never one of the workspace's),
  and the same number of persons as the workspace holds;
- each person appears in a combination of tables drawn from how often each
  combination occurs among real persons, so a join across tables finds about
  as many persons in both as the real one does (combinations held by fewer
  persons than the policy's threshold are never drawn);
- each table gives a person a number of rows drawn from that table's
  distribution of rows per person, and time runs forward within a person: a
  first time (age at the first record) and the gaps between records;
- every value is drawn from a distribution conditioned on at most two other
  columns (chosen for how much they say about it, as in PrivBayes), and a
  person's values are correlated from one row to the next as much as in the
  real table (a Gaussian copula with a persistent per-person term);
- every category, and every coarsened number, held by fewer distinct persons
  than the disclosure policy's threshold (in its cell of the conditional
  distribution) is dropped, so nothing rare can appear;
- numbers are rounded to a step of about a sixth of their spread, then drawn
  uniformly within the step; years are kept as ages (years since birth), dates
  as months since birth (the first date of a row) or days after the row's first
  date, and drawn within their step.

Tables without persons (the ``areas`` reference data: public geography) are
copied unchanged so that codes join. Derived tables written by curation are
not copied: the twin holds the provisioned datasets (its ``_manifest``) and
``_twin``, one row saying what it is.

The twin keeps each column's distribution, the dependence on up to two others
and the within-person persistence; it does not keep finer structure (an effect
planted in the real data may be absent from the twin). Code that runs on the
twin runs on the workspace; its estimates on the twin mean nothing.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import norm

from fivesafes import __version__
from fivesafes.data.provision import MANIFEST_TABLE, PSEUDONYM, PSEUDONYM_BYTES
from fivesafes.errors import FivesafesError
from fivesafes.outputs.policy import Policy, tre_policy

TWIN_TABLE = "_twin"
#: A twin never keeps values shared by fewer persons than this, whatever the policy.
MIN_THRESHOLD = 2
#: Columns with more distinct values than this are not used as parents.
MAX_PARENT_VALUES = 40
#: A parent must keep this share of the rows its child keeps unconditioned.
MIN_KEPT = 0.8
#: A parent must tell at least this much (nats) about its child to be used.
MIN_GAIN = 0.02
NULL = "\x00null"
_BIRTH_YEAR, _BIRTH_MONTH = "birth_year", "birth_month"
_ROWS, _PATTERN, _TIME, _GAP = "\x00rows", "\x00pattern", "\x00time", "\x00gap"
_CONSTANT = 0.95  # share of persons with one value for a column to be the person's
_SHARED = 0.8  # the same, for sex and birth year and month (recorded with errors)
#: Birth years are drawn in bins of this many years (then a year within the bin).
_BIRTH_BIN = 5


@dataclass
class TwinSummary:
    workspace: Path
    out: Path
    policy: str
    threshold: int
    seed: int
    persons: int
    rows: dict[str, int] = field(default_factory=dict)
    copied: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "workspace": str(self.workspace),
            "out": str(self.out),
            "policy": self.policy,
            "threshold": self.threshold,
            "seed": self.seed,
            "persons": self.persons,
            "rows": self.rows,
            "copied": self.copied,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }


# --- columns: how a value is coarsened and drawn again --------------------------------


@dataclass
class _Column:
    name: str
    sql_type: str
    kind: str  # category | number | year | date
    step: float = 1.0
    integer: bool = False
    nonnegative: bool = False
    anchor: bool = False  # the row's first date: months since birth; later dates: days after


def _nice(x: float) -> float:
    """The largest of 1, 2, 5 × 10^k not above ``x``."""
    if not np.isfinite(x) or x <= 0:
        return 1.0
    k = np.floor(np.log10(x))
    for m in (5.0, 2.0, 1.0):
        if m * 10**k <= x:
            return float(m * 10**k)
    return float(10**k)


def _step(values: np.ndarray, integer: bool) -> float:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return 1.0
    q1, q3 = np.percentile(v, [25, 75])
    spread = q3 - q1 or float(np.std(v))
    step = _nice(spread / 6)
    return max(step, 1.0) if integer else step


def _kind(sql_type: str, name: str, values: pd.Series) -> str:
    t = sql_type.upper()
    if t == "DATE":
        return "date"
    if name in (_BIRTH_YEAR, _BIRTH_MONTH):
        return "category"
    if t in ("BOOLEAN", "VARCHAR") or t.startswith("VARCHAR"):
        return "category"
    if any(w in t for w in ("INT", "DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC")):
        v = pd.to_numeric(values, errors="coerce").dropna()
        if name.endswith("year") and len(v) and v.between(1800, 2200).all():
            return "year"
        if v.nunique() <= 12 and "INT" in t:
            return "category"
        return "number"
    return "category"


def _months(d: pd.Series) -> np.ndarray:
    dt = pd.to_datetime(d)
    return np.where(dt.isna(), np.nan, dt.dt.year * 12 + dt.dt.month - 1).astype(float)


def _code(col: _Column, values: pd.Series, birth: np.ndarray, anchor: np.ndarray) -> pd.Series:
    """Real values as coarse codes: categories as they are (NULL for none), numbers
    rounded to the column's step, years as years since birth, dates as months since
    birth (the anchor) or days after the row's anchor date."""
    if col.kind == "category":
        return values.astype(object).where(values.notna(), NULL)
    if col.kind == "number":
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    elif col.kind == "year":
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float) - np.floor(birth / 12)
    elif col.anchor:
        x = _months(values) - birth
    else:
        days = (pd.to_datetime(values) - pd.to_datetime(anchor)).dt.days
        x = days.to_numpy(dtype=float)
    coarse = np.round(x / col.step) * col.step
    out = pd.Series(coarse, index=values.index, dtype=object)
    return out.where(~np.isnan(coarse), NULL)


# --- conditional distributions ------------------------------------------------------


@dataclass
class _Conditional:
    """A column's distribution given up to two parents, every cell held by at least
    ``threshold`` persons (others dropped); a parent value never seen, or whose
    cells were all dropped, falls back to the column's own distribution."""

    parents: tuple[str, ...]
    cells: dict[Any, tuple[np.ndarray, np.ndarray]]
    marginal: tuple[np.ndarray, np.ndarray] | None
    rho: float = 0.0

    def sample(self, frame: pd.DataFrame, u: np.ndarray) -> np.ndarray:
        out = np.empty(len(frame), dtype=object)
        out[:] = NULL
        if self.parents:
            keys = (
                frame[self.parents[0]]
                if len(self.parents) == 1
                else pd.Series(list(zip(*(frame[p] for p in self.parents), strict=True)))
            )
            groups = pd.Series(np.arange(len(frame))).groupby(keys.to_numpy(), sort=False)
            for key, idx in groups:
                table = self.cells.get(key, self.marginal)
                if table is not None:
                    out[idx.to_numpy()] = _quantile(table, u[idx.to_numpy()])
        elif self.marginal is not None:
            out[:] = _quantile(self.marginal, u)
        return out


def _quantile(table: tuple[np.ndarray, np.ndarray], u: np.ndarray) -> np.ndarray:
    values, cum = table
    return values[np.minimum(np.searchsorted(cum, u, side="right"), len(values) - 1)]


def _sort_key(v: Any) -> tuple[int, Any]:
    if v == NULL:
        return (0, "")
    if isinstance(v, (int, float, np.integer, np.floating)):
        return (1, float(v))
    return (2, str(v))


def _table(counts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """Values (ordered) and cumulative shares from rows of ``value``, ``rows``."""
    if counts.empty:
        return None
    order = sorted(range(len(counts)), key=lambda i: _sort_key(counts["value"].iloc[i]))
    values = np.empty(len(order), dtype=object)
    values[:] = [counts["value"].iloc[i] for i in order]
    w = counts["rows"].to_numpy(dtype=float)[order]
    return values, np.cumsum(w) / w.sum()


def _cells(
    frame: pd.DataFrame, child: str, parents: list[str], threshold: int
) -> tuple[pd.DataFrame, int]:
    """Rows and persons per (parents, child) cell, the cells held by at least
    ``threshold`` persons; and the rows they hold."""
    g = frame.groupby([*parents, child], dropna=False, sort=False)
    c = g.agg(rows=(PSEUDONYM, "size"), persons=(PSEUDONYM, "nunique")).reset_index()
    c = c[c["persons"] >= threshold]
    return c, int(c["rows"].sum())


def _mi(cells: pd.DataFrame, child: str, parents: list[str]) -> float:
    if cells.empty or not parents:
        return 0.0
    n = cells["rows"].sum()
    p_xy = cells["rows"].to_numpy(dtype=float) / n
    p_x = cells.groupby(parents, dropna=False)["rows"].transform("sum").to_numpy() / n
    p_y = cells.groupby(child, dropna=False)["rows"].transform("sum").to_numpy() / n
    return float(np.sum(p_xy * np.log(p_xy / (p_x * p_y))))


def _fit(
    frame: pd.DataFrame, child: str, candidates: list[str], threshold: int, rho: float = 0.0
) -> _Conditional:
    """The child's conditional on up to two of ``candidates`` (greedily, by mutual
    information, among those that keep most rows above the threshold)."""
    base, kept = _cells(frame, child, [], threshold)
    usable = [
        c for c in candidates if c != child and frame[c].nunique(dropna=False) <= MAX_PARENT_VALUES
    ]
    chosen: list[str] = []
    best_cells, best_mi = base, 0.0
    for _ in range(2):
        pick = None
        for cand in usable:
            if cand in chosen:
                continue
            cells, rows = _cells(frame, child, [*chosen, cand], threshold)
            if rows < MIN_KEPT * kept:
                continue
            mi = _mi(cells, child, [*chosen, cand])
            if mi > best_mi + MIN_GAIN:
                pick, best_cells, best_mi = cand, cells, mi
        if pick is None:
            break
        chosen.append(pick)
    marginal = _table(base.rename(columns={child: "value"})[["value", "rows"]])
    cells_by: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
    if chosen:
        key: Any = chosen[0] if len(chosen) == 1 else chosen
        for k, part in best_cells.groupby(key, dropna=False, sort=False):
            t = _table(part.rename(columns={child: "value"})[["value", "rows"]])
            if t is not None:
                cells_by[k if len(chosen) > 1 else (k[0] if isinstance(k, tuple) else k)] = t
    return _Conditional(tuple(chosen), cells_by, marginal, rho)


def _persistence(frame: pd.DataFrame, col: str) -> float:
    """How alike a person's consecutive rows are in ``col``: the correlation of the
    normal scores of consecutive values, rounded to 0.05, in [0, 0.95]."""
    if len(frame) < 3:
        return 0.0
    rank = frame[col].map(_sort_key).rank(method="average", pct=True).to_numpy()
    z = norm.ppf(np.clip(rank - 0.5 / len(rank), 1e-6, 1 - 1e-6))
    same = frame[PSEUDONYM].to_numpy()[1:] == frame[PSEUDONYM].to_numpy()[:-1]
    if same.sum() < 3:
        return 0.0
    a, b = z[:-1][same], z[1:][same]
    if np.std(a) == 0 or np.std(b) == 0:
        return 0.95 if np.all(a == b) else 0.0
    r = float(np.corrcoef(a, b)[0, 1])
    return float(np.clip(np.round(r / 0.05) * 0.05, 0.0, 0.95))


# --- the twin -----------------------------------------------------------------------


def _pseudonyms(rng: np.random.Generator, n: int, real: set[str]) -> list[str]:
    """``n`` new pseudonyms shaped like provisioning's (16 base32 characters), none
    of them a real one and no two alike."""
    out: list[str] = []
    seen = set(real)
    while len(out) < n:
        raw = rng.bytes(PSEUDONYM_BYTES * (n - len(out)))
        text = base64.b32encode(raw).decode("ascii").lower()
        for k in range(0, len(text), 16):
            p = text[k : k + 16]
            if p not in seen:
                seen.add(p)
                out.append(p)
    return out


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [
        (str(r[0]), str(r[1]))
        for r in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]


def _datasets(con: duckdb.DuckDBPyConnection, workspace: Path) -> list[str]:
    tables = {str(r[0]) for r in con.execute("SHOW TABLES").fetchall()}
    if MANIFEST_TABLE not in tables:
        raise FivesafesError(
            f"{workspace} has no {MANIFEST_TABLE} table: it is not a provisioned workspace "
            "(make one with `fivesafes provision`)"
        )
    names = [str(r[0]) for r in con.execute(f"SELECT dataset FROM {MANIFEST_TABLE}").fetchall()]
    missing = [n for n in names if n not in tables]
    if missing:
        raise FivesafesError(f"{workspace}: {', '.join(missing)} in the manifest but not held")
    return names


def _modal(frame: pd.DataFrame, col: str) -> pd.Series:
    """Each person's most frequent code of ``col`` (ties: the first in order)."""
    c = frame.groupby([PSEUDONYM, col], dropna=False, sort=True).size().reset_index(name="n")
    c = c.sort_values([PSEUDONYM, "n"], ascending=[True, False], kind="stable")
    return c.drop_duplicates(PSEUDONYM).set_index(PSEUDONYM)[col]


def _constant_share(frame: pd.DataFrame, col: str) -> float:
    n = frame.groupby(PSEUDONYM, sort=False)[col].nunique(dropna=False)
    many = frame.groupby(PSEUDONYM, sort=False).size() > 1
    return float((n[many] == 1).mean()) if many.any() else 1.0


def make_twin(
    workspace: Path,
    out: Path,
    policy: Policy | None = None,
    seed: int | None = None,
) -> TwinSummary:
    """Write the synthetic twin of ``workspace`` to ``out`` (see the module's
    docstring). ``policy`` gives the threshold below which nothing is kept (default:
    the TRE's policy); ``seed`` makes the twin reproducible (default: random)."""
    t0 = time.perf_counter()
    workspace, out = Path(workspace), Path(out)
    if not workspace.is_file():
        raise FivesafesError(f"no workspace file {workspace}")
    if out.exists() and out.resolve() == workspace.resolve():
        raise FivesafesError(f"{out} is the workspace itself; give a new file for the twin")
    policy = policy or tre_policy()
    threshold = max(policy.minimum_count, MIN_THRESHOLD)
    seed = int(seed if seed is not None else np.random.SeedSequence().entropy % 2**32)  # type: ignore[operator]
    rng = np.random.default_rng(seed)
    notes: list[str] = []

    con = duckdb.connect(str(workspace), read_only=True)
    try:
        datasets = _datasets(con, workspace)
        schema = {t: _columns(con, t) for t in datasets}
        person_tables = [t for t in datasets if PSEUDONYM in dict(schema[t])]
        reference = [t for t in datasets if t not in person_tables]
        frames = {t: con.table(t).df() for t in person_tables}
        manifest = con.table(MANIFEST_TABLE).df()
    finally:
        con.close()

    real = (
        set().union(*(set(frames[t][PSEUDONYM].dropna()) for t in person_tables))
        if frames
        else set()
    )
    # Person-level: the tables each person is in, and the attributes that are the
    # same in every table (sex, birth year and month), as the person's.
    persons = pd.DataFrame(index=pd.Index(sorted(real), name=PSEUDONYM))
    persons[_PATTERN] = ""
    for t in person_tables:
        held = persons.index.isin(frames[t][PSEUDONYM])
        persons.loc[held, _PATTERN] += f"{t};"
    shared_names = [
        name
        for name in dict.fromkeys(c for t in person_tables for c, _ in schema[t] if c != PSEUDONYM)
        if sum(name in dict(schema[t]) for t in person_tables) >= 1
        and all(
            _constant_share(frames[t], name) >= _SHARED
            for t in person_tables
            if name in dict(schema[t])
        )
        and name in (_BIRTH_YEAR, _BIRTH_MONTH, "sex")
    ]
    for name in shared_names:
        parts = [
            frames[t][[PSEUDONYM, name]].assign(**{name: lambda f, n=name: _cat(f[n])})
            for t in person_tables
            if name in dict(schema[t])
        ]
        persons[name] = _modal(pd.concat(parts), name).reindex(persons.index).fillna(NULL)
    pframe = persons.reset_index()

    pattern = _fit(pframe, _PATTERN, [], threshold)
    if pattern.marginal is None:
        raise FivesafesError(
            f"{workspace} is too small for a twin: no combination of tables is held by "
            f"{threshold} or more persons (the policy's threshold)"
        )
    n = len(pframe)
    twin = pd.DataFrame({PSEUDONYM: _pseudonyms(rng, n, real)})
    twin[_PATTERN] = pattern.sample(twin, rng.random(n))
    if _BIRTH_YEAR in shared_names:  # in bins, so that the cells are not too small
        binned = pframe[_BIRTH_YEAR].map(
            lambda y: y if y == NULL else int(y) // _BIRTH_BIN * _BIRTH_BIN
        )
        pframe = pframe.assign(**{_BIRTH_YEAR: binned})
    for i, name in enumerate(shared_names):
        cond = _fit(pframe, name, [_PATTERN, *shared_names[:i]], threshold)
        twin[name] = cond.sample(twin, rng.random(n))
        if name == _BIRTH_YEAR:
            within = rng.integers(0, _BIRTH_BIN, n)
            twin[name] = [
                y if y == NULL else int(y) + int(d) for y, d in zip(twin[name], within, strict=True)
            ]

    tables: dict[str, pd.DataFrame] = {}
    for t in person_tables:
        tables[t] = _twin_table(
            t, schema[t], frames[t], persons, twin, shared_names, threshold, rng, notes
        )

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    rows: dict[str, int] = {}
    try:
        w = duckdb.connect(str(tmp))
        try:
            w.execute(f"ATTACH '{_sql(workspace)}' AS real (READ_ONLY)")
            for t in datasets:
                cols = ", ".join(f'"{c}" {ty}' for c, ty in schema[t])
                w.execute(f'CREATE TABLE "{t}" ({cols})')
                if t in reference:
                    w.execute(f'INSERT INTO "{t}" SELECT * FROM real."{t}"')
                else:
                    w.register("twin_rows", tables[t])
                    sel = ", ".join(f'CAST("{c}" AS {ty})' for c, ty in schema[t])
                    w.execute(f'INSERT INTO "{t}" SELECT {sel} FROM twin_rows')
                    w.unregister("twin_rows")
                ((rows[t],),) = w.execute(f'SELECT count(*) FROM "{t}"').fetchall()
            w.execute("DETACH real")
            m = manifest.copy()
            m["rows"] = m["dataset"].map(rows).astype("int64")
            m["created_at"] = datetime.now(UTC).replace(tzinfo=None)
            w.register("m", m)
            w.execute(f"CREATE TABLE {MANIFEST_TABLE} AS SELECT * FROM m")
            w.unregister("m")
            w.execute(
                f"CREATE TABLE {TWIN_TABLE} (made_from VARCHAR, policy VARCHAR, "
                "threshold INTEGER, seed BIGINT, created_at TIMESTAMP, fivesafes_version VARCHAR, "
                "note VARCHAR)"
            )
            w.execute(
                f"INSERT INTO {TWIN_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    str(manifest["project"].iloc[0]) if len(manifest) else "",
                    policy.label,
                    threshold,
                    seed,
                    datetime.now(UTC).replace(tzinfo=None),
                    __version__,
                    "synthetic twin: no row and no pseudonym is real; estimates mean nothing",
                ],
            )
            w.execute("CHECKPOINT")
        finally:
            w.close()
        os.replace(tmp, out)
        with contextlib.suppress(FileNotFoundError):
            out.with_name(out.name + ".wal").unlink()
    except BaseException:
        for p in (tmp, tmp.with_name(tmp.name + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        raise
    return TwinSummary(
        workspace=workspace,
        out=out,
        policy=policy.label,
        threshold=threshold,
        seed=seed,
        persons=int((twin[_PATTERN] != NULL).sum()),
        rows=rows,
        copied=reference,
        notes=notes,
        seconds=time.perf_counter() - t0,
    )


def _numbers(codes: pd.Series) -> pd.Series:
    return pd.to_numeric(codes.where(codes != NULL), errors="coerce")


def _sql(path: Path) -> str:
    return str(path).replace("'", "''")


def _cat(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), NULL)


def _twin_table(
    name: str,
    schema: list[tuple[str, str]],
    real: pd.DataFrame,
    persons: pd.DataFrame,
    twin: pd.DataFrame,
    shared: list[str],
    threshold: int,
    rng: np.random.Generator,
    notes: list[str],
) -> pd.DataFrame:
    """One table of the twin: its persons' rows, coded, fitted and drawn again."""
    own = [(c, ty) for c, ty in schema if c != PSEUDONYM and c not in shared]
    has_birth = _BIRTH_YEAR in dict(schema)
    real = real.reset_index(drop=True)
    if has_birth:
        by = pd.to_numeric(real[_BIRTH_YEAR], errors="coerce").to_numpy(dtype=float)
        bm = (
            pd.to_numeric(real[_BIRTH_MONTH], errors="coerce").fillna(1).to_numpy(dtype=float)
            if _BIRTH_MONTH in real
            else np.ones(len(real))
        )
        birth = by * 12 + bm - 1
        birth = np.where(np.isnan(birth), np.nanmedian(birth) if len(birth) else 0, birth)
    else:
        birth = np.zeros(len(real))
    cols: list[_Column] = []
    anchor_col: str | None = None
    for cname, ty in own:
        kind = _kind(ty, cname, real[cname])
        col = _Column(cname, ty, kind)
        if kind == "number":
            v = pd.to_numeric(real[cname], errors="coerce").to_numpy(dtype=float)
            col.integer = "INT" in ty.upper()
            col.step = _step(v, col.integer)
            col.nonnegative = bool(np.nanmin(v) >= 0) if np.isfinite(v).any() else False
        elif kind == "date" and anchor_col is None:
            col.anchor, anchor_col = True, cname
        cols.append(col)
    anchor = pd.to_datetime(real[anchor_col]) if anchor_col else pd.Series(pd.NaT, index=real.index)
    for col in cols:
        if col.kind == "date":
            if col.anchor:
                col.step = _step(_months(real[col.name]) - birth, True)
            else:
                d = (pd.to_datetime(real[col.name]) - anchor).dt.days.to_numpy(dtype=float)
                col.step = _step(d, True)
    for col in cols:  # coarser, where the step leaves most values rarer than the threshold
        if col.kind != "category":
            _coarsen(col, real, birth, anchor, threshold)
    # The row's time: the first year or date column; rows in time order per person.
    time_col = next(
        (c for c in cols if c.kind in ("year", "date") and (c.kind == "year" or c.anchor)), None
    )
    coded = pd.DataFrame({PSEUDONYM: real[PSEUDONYM]})
    for s in shared:
        coded[s] = persons[s].reindex(real[PSEUDONYM]).to_numpy()
    for col in cols:
        coded[col.name] = _code(col, real[col.name], birth, anchor.to_numpy()).to_numpy()
    coded[_PATTERN] = persons[_PATTERN].reindex(real[PSEUDONYM]).to_numpy()
    if time_col is not None:
        tnum = pd.to_numeric(
            coded[time_col.name].where(coded[time_col.name] != NULL), errors="coerce"
        )
        coded = coded.assign(_t=tnum).sort_values([PSEUDONYM, "_t"], kind="stable")
        gaps = coded.groupby(PSEUDONYM, sort=False)["_t"].diff()
        coded[_GAP] = gaps.astype(object).where(gaps.notna(), NULL)
        coded = coded.drop(columns="_t").reset_index(drop=True)
    # Person level: rows in this table, the first time, columns constant per person.
    per_person = [
        c for c in cols if _constant_share(coded, c.name) >= _CONSTANT and c is not time_col
    ]
    first = coded.groupby(PSEUDONYM, sort=False).head(1).set_index(PSEUDONYM)
    pf = pd.DataFrame({PSEUDONYM: first.index})
    pf[_ROWS] = coded.groupby(PSEUDONYM, sort=False).size().reindex(first.index).to_numpy()
    for s in [_PATTERN, *shared]:
        pf[s] = first[s].to_numpy()
    if time_col is not None:
        pf[_TIME] = first[time_col.name].to_numpy()
    for c in per_person:
        pf[c.name] = _modal(coded, c.name).reindex(first.index).to_numpy()

    members = twin[twin[_PATTERN].astype(str).str.contains(f"(?:^|;){name};", regex=True)]
    tp = members.reset_index(drop=True).copy()
    m = len(tp)
    context = [_PATTERN, *shared]
    k_cond = _fit(pf, _ROWS, context, threshold)
    tp[_ROWS] = k_cond.sample(tp, rng.random(m))
    tp.loc[tp[_ROWS] == NULL, _ROWS] = 1
    pcols = [_ROWS, *shared]
    if time_col is not None:
        tp[_TIME] = _fit(pf, _TIME, [_ROWS, *shared], threshold).sample(tp, rng.random(m))
        pcols.append(_TIME)
    for c in per_person:
        tp[c.name] = _fit(pf, c.name, pcols, threshold).sample(tp, rng.random(m))
        pcols.append(c.name)

    # Rows: each person's rows, the time running on by drawn gaps.
    counts = tp[_ROWS].astype(int).to_numpy()
    rows = tp.loc[np.repeat(np.arange(m), counts)].reset_index(drop=True)
    person_idx = np.repeat(np.arange(m), counts)
    first_row = (
        np.r_[True, person_idx[1:] != person_idx[:-1]] if len(person_idx) else np.array([], bool)
    )
    latent: dict[str, np.ndarray] = {}

    def u_for(col: str, rho: float) -> np.ndarray:
        zp = latent.setdefault(col, rng.standard_normal(m))[person_idx]
        z = np.sqrt(rho) * zp + np.sqrt(1 - rho) * rng.standard_normal(len(rows))
        return np.asarray(norm.cdf(z))

    row_cols = [c for c in cols if c not in per_person and c is not time_col]
    parents = [*shared, *[c.name for c in per_person]]
    if time_col is not None:
        gap = _fit(coded[coded[_GAP] != NULL], _GAP, [], threshold)
        g = gap.sample(rows, rng.random(len(rows)))
        g = np.where((g == NULL) | first_row, 0.0, g).astype(float)
        start = pd.to_numeric(rows[_TIME].where(rows[_TIME] != NULL), errors="coerce").to_numpy()
        cum = pd.Series(g).groupby(person_idx).cumsum().to_numpy()
        t = start + cum
        seen, _ = _cells(coded, time_col.name, [], threshold)
        times = pd.to_numeric(
            seen[time_col.name].where(seen[time_col.name] != NULL), errors="coerce"
        )
        if times.notna().any():  # never past the times the real table holds:
            # a person's rows move back together, then any still too early are cut
            last = pd.Series(t).groupby(person_idx).transform("max").to_numpy()
            t = np.clip(t - np.maximum(last - times.max(), 0), times.min(), times.max())
        rows[time_col.name] = pd.Series(t, dtype=object).where(~np.isnan(t), NULL)
        parents.append(time_col.name)
    for c in row_cols:
        rho = _persistence(coded, c.name)
        cond = _fit(coded, c.name, parents, threshold, rho)
        if cond.marginal is None:
            notes.append(f"{name}.{c.name}: every value is rarer than the threshold; left empty")
        rows[c.name] = cond.sample(rows, u_for(c.name, rho))
        parents.append(c.name)
    return _decode(rows, schema, cols, shared, rng)


def _coarsen(
    col: _Column, real: pd.DataFrame, birth: np.ndarray, anchor: pd.Series, threshold: int
) -> None:
    """Widen the column's step (×2, ×5, ×10, ...) until its values held by at least
    ``threshold`` persons hold half its rows."""
    base = col.step
    present = int(real[col.name].notna().sum())
    for factor in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
        col.step = base * factor
        codes = _code(col, real[col.name], birth, anchor.to_numpy())
        frame = pd.DataFrame({PSEUDONYM: real[PSEUDONYM], "v": codes})
        frame = frame[frame["v"] != NULL]
        _, kept = _cells(frame, "v", [], threshold)
        if kept >= 0.5 * present:
            return


def _decode(
    rows: pd.DataFrame,
    schema: list[tuple[str, str]],
    cols: list[_Column],
    shared: list[str],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Coarse codes back to values of the column's type, drawn within their step."""
    out = pd.DataFrame({PSEUDONYM: rows[PSEUDONYM].to_numpy()})
    for s in shared:
        out[s] = rows[s].where(rows[s] != NULL, None).to_numpy()
    n = len(rows)
    if _BIRTH_YEAR in out:
        by = pd.to_numeric(out[_BIRTH_YEAR], errors="coerce").to_numpy(dtype=float)
        bm = (
            pd.to_numeric(out[_BIRTH_MONTH], errors="coerce").fillna(1).to_numpy(dtype=float)
            if _BIRTH_MONTH in out
            else np.ones(n)
        )
        birth = by * 12 + bm - 1
    else:
        birth = np.zeros(n)
    anchor_dates: list[date | None] = [None] * n
    for col in cols:
        v = rows[col.name]
        missing = (v == NULL).to_numpy()
        if col.kind == "category":
            out[col.name] = v.where(~missing, None).to_numpy()
            continue
        x = pd.to_numeric(v.where(~missing), errors="coerce").to_numpy(dtype=float)
        jitter = rng.uniform(-0.5, 0.5, n) * col.step
        if col.kind == "number":
            x = x + (jitter if col.step > 0 else 0)
            if col.nonnegative:
                x = np.maximum(x, 0)
            if col.integer:
                x = np.round(x)
            out[col.name] = pd.Series(x).where(~np.isnan(x), None).to_numpy()
        elif col.kind == "year":
            y = np.floor(birth / 12) + x
            out[col.name] = pd.Series(y).where(~np.isnan(y), None).to_numpy()
        else:
            if col.anchor:
                months = birth + x + (np.round(jitter) if col.step > 1 else 0)
                anchor_dates = _dates(months, rng.integers(0, 28, n))
                out[col.name] = anchor_dates
            else:
                base = anchor_dates
                shift = x + np.round(jitter) if col.step > 1 else x
                vals = [
                    None if (b is None or np.isnan(s)) else b + pd.Timedelta(days=float(s))
                    for b, s in zip(base, shift, strict=True)
                ]
                out[col.name] = vals
    return out[[c for c, _ in schema]]


def _dates(months: np.ndarray, days: np.ndarray) -> list[date | None]:
    out: list[date | None] = []
    for mo, d in zip(months, days, strict=True):
        if np.isnan(mo) or not (0 < mo < 2200 * 12):
            out.append(None)
        else:
            out.append(date(int(mo // 12), int(mo % 12) + 1, int(d) + 1))
    return out


__all__ = ["TWIN_TABLE", "TwinSummary", "make_twin"]
