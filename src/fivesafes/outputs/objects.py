"""Output objects the disclosure rules can read.

A researcher builds these from microdata (a pandas DataFrame, e.g. from a
DuckDB query) or from numbers already aggregated: frequency tables of any
number of dimensions with every margin (``Total``), magnitude tables that keep
their largest contributions, regression results, group summaries, series,
histograms, bar charts and area tables. Each exposes :meth:`cells` (what the
rules read, one array entry per cell) and :meth:`linear` (the
:class:`~fivesafes.outputs.linear.LinearTable` an attacker would solve).
Everything is computed with vectorised pandas/numpy group-bys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from fivesafes.outputs.linear import LinearTable

TOTAL = "Total"
STATISTICS = ("sum", "mean", "median", "min", "max", "mode")
FREQUENCY_KINDS = ("frequency", "series", "histogram", "bar chart", "area table")


@dataclass
class Cells:
    """What the rules read: one entry per cell, as arrays."""

    kind: str  # one of FREQUENCY_KINDS, "magnitude", "regression", "group summary"
    labels: pd.DataFrame  # one column per dimension, strings; TOTAL in margins
    values: np.ndarray  # the published value of each cell
    counts: np.ndarray  # units behind each cell (people when persons); nan if unknown
    constraints: list[tuple[int, list[int]]] = field(default_factory=list)
    persons: bool = False  # counts are distinct people
    statistic: str = "count"
    top: np.ndarray | None = None  # cells × K largest contributions, descending, 0-padded
    total: np.ndarray | None = None  # sum of contributions per cell
    negative: np.ndarray | None = None  # number of negative contributions per cell
    #: sum of the negative contributions per cell (0 when there are none, <= 0)
    negative_sum: np.ndarray | None = None
    #: cells × K largest *absolute* contributions, descending, 0-padded (the
    #: dominance rules' input for cells with negative contributions)
    abs_top: np.ndarray | None = None
    support: np.ndarray | None = None  # units sharing the published min/max/mode
    dof: float | None = None  # a model's residual degrees of freedom
    outer: np.ndarray | None = None  # bool: a histogram's outer bins
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.values)

    @property
    def margin(self) -> np.ndarray:
        if self.labels.shape[1] == 0:
            return np.zeros(self.size, dtype=bool)
        return (self.labels == TOTAL).any(axis=1).to_numpy()

    def label(self, cell: int) -> str:
        return " × ".join(str(v) for v in self.labels.iloc[cell])


def constraints_from_labels(
    labels: pd.DataFrame,
    total: str = TOTAL,
    hierarchies: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
) -> list[tuple[int, list[int]]]:
    """Additive constraints implied by the labels: a cell whose category in one
    dimension is ``total`` is the sum of the cells that match it elsewhere and
    have a real category there; ``hierarchies[dim][parent]`` lists the children
    a parent category totals (nested totals)."""
    labels = labels.reset_index(drop=True)
    dims = list(labels.columns)
    out: list[tuple[int, list[int]]] = []
    groups: list[tuple[str, str, list[str]]] = [(d, total, []) for d in dims]
    for d, tree in (hierarchies or {}).items():
        groups += [(d, parent, list(children)) for parent, children in tree.items()]
    parents = {d: set(tree) for d, tree in (hierarchies or {}).items()}
    for d, parent, children in groups:
        others = [x for x in dims if x != d]
        is_parent = labels[d] == parent
        if children:
            is_part = labels[d].isin(children)
        else:
            is_part = (labels[d] != total) & ~labels[d].isin(parents.get(d, set()))
        parts = labels[is_part]
        totals = labels[is_parent]
        if parts.empty or totals.empty:
            continue
        if not others:
            for pos in totals.index:
                out.append((int(pos), [int(i) for i in parts.index]))
            continue
        members = parts.groupby(others, sort=False).indices
        keys = totals[others].itertuples(index=False, name=None)
        for pos, key in zip(totals.index, keys, strict=True):
            found = members.get(key[0] if len(others) == 1 else key)
            if found is not None and len(found):
                out.append((int(pos), [int(i) for i in parts.index[found]]))
    return out


def additive(values: np.ndarray, total: int, parts: Sequence[int]) -> bool:
    """Whether ``values[total]`` can be the sum of ``values[parts]``.

    With every value known: whether it is (to rounding). A missing value (NaN) is
    withheld and its true value unknown here, so the equation is kept (the attacker
    still knows it) when the known parts do not already exceed a known total.
    """
    v = np.asarray(values, dtype=float)
    t, ps = float(v[total]), v[list(parts)]
    if not np.isnan(t) and not np.isnan(ps).any():
        return bool(np.isclose(t, ps.sum()))
    if np.isnan(t):
        return True
    known = float(np.nansum(ps))
    return bool(known <= t or np.isclose(known, t))


def _subsets(dims: Sequence[str]) -> list[list[str]]:
    return [list(c) for r in range(len(dims), -1, -1) for c in combinations(dims, r)]


@dataclass
class _Grid:
    """The full grid of cells (every category of every dimension, plus ``Total``)
    and, per row of microdata, its cell's index in each margin (vectorised)."""

    dims: list[str]
    labels: pd.DataFrame
    codes: list[np.ndarray]  # per dimension, the row's category code
    sizes: list[int]  # categories per dimension (Total is code == size)
    strides: list[int]

    @classmethod
    def build(cls, df: pd.DataFrame, dims: Sequence[str]) -> _Grid:
        dims = list(dims)
        codes, cats = [], []
        for d in dims:
            c, u = pd.factorize(df[d], sort=True)
            if (c < 0).any():
                raise ValueError(f"the column {d!r} has missing values")
            names = [str(x) for x in u]
            if TOTAL in names:
                raise ValueError(f"the category {TOTAL!r} is reserved for margins (in {d!r})")
            codes.append(c.astype(np.int64))
            cats.append([*names, TOTAL])
        sizes = [len(c) - 1 for c in cats]
        strides = [int(np.prod([n + 1 for n in sizes[j + 1 :]])) for j in range(len(dims))]
        index = pd.MultiIndex.from_product(cats, names=dims)
        return cls(dims, index.to_frame(index=False), codes, sizes, strides)

    @property
    def size(self) -> int:
        return int(np.prod([n + 1 for n in self.sizes]))

    def cell(self, subset: Sequence[str]) -> np.ndarray:
        """Each row's cell in the margin over ``subset`` (other dimensions Total)."""
        n = len(self.codes[0]) if self.codes else 0
        idx = np.zeros(n, dtype=np.int64)
        for d, c, size, stride in zip(self.dims, self.codes, self.sizes, self.strides, strict=True):
            idx += (c if d in subset else size) * stride
        return idx

    def interior(self) -> np.ndarray:
        return ~(self.labels == TOTAL).any(axis=1).to_numpy()


def _distinct(cell: np.ndarray, person: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (cell, person) pairs: their cells and inverse positions."""
    pair = cell * (int(person.max()) + 1 if len(person) else 1) + person
    uniq, inverse = np.unique(pair, return_inverse=True)
    return uniq // (int(person.max()) + 1 if len(person) else 1), inverse


@dataclass
class FrequencyTable:
    """Counts per cell (of distinct people where the person key is known), with
    margins labelled ``Total`` in any number of dimensions."""

    labels: pd.DataFrame
    values: np.ndarray
    persons: bool = False
    kind: str = "frequency"
    hierarchies: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    edges: np.ndarray | None = None  # a histogram's bin edges
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_microdata(
        cls,
        df: pd.DataFrame,
        dims: Sequence[str],
        person: str | None = None,
        kind: str = "frequency",
        margins: bool = True,
        hierarchies: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    ) -> FrequencyTable:
        """Every combination of the categories of ``dims`` (zeros included) and,
        with ``margins``, every margin; counts of distinct ``person`` values when
        a person key is given, else of rows. ``hierarchies[dim][parent]`` lists
        the categories (or other parents) a parent totals: nested totals."""
        if hierarchies:
            return _with_hierarchies(df, list(dims), person, kind, hierarchies)
        grid = _Grid.build(df, dims)
        pcode = pd.factorize(df[person])[0].astype(np.int64) if person is not None else None
        values = np.zeros(grid.size)
        for subset in _subsets(dims) if margins else [list(dims)]:
            cell = grid.cell(subset)
            if pcode is not None:
                cell, _ = _distinct(cell, pcode)
            values += np.bincount(cell, minlength=grid.size)
        labels = grid.labels
        if not margins:
            keep = grid.interior()
            labels, values = labels[keep].reset_index(drop=True), values[keep]
        table = cls(labels, values, persons=person is not None, kind=kind)
        bad = [(t, p) for t, p in table.constraints() if not np.isclose(values[t], values[p].sum())]
        if bad:
            table.notes.append(
                f"{len(bad)} margin(s) count a person once though the person is in several "
                "cells, so they are not the sum of their cells; those margins are not "
                "treated as additive"
            )
        return table

    @classmethod
    def from_long(
        cls,
        df: pd.DataFrame,
        dims: Sequence[str],
        value: str,
        persons: bool = False,
        kind: str = "frequency",
        hierarchies: dict[str, dict[str, list[str]]] | None = None,
    ) -> FrequencyTable:
        """A table already aggregated, one row per cell; margins are rows with
        ``Total`` in a category and carry their true values."""
        labels = pd.DataFrame({d: df[d].astype(str).to_numpy() for d in dims})
        values = pd.to_numeric(df[value]).to_numpy(dtype=float)
        return cls(labels, values, persons=persons, kind=kind, hierarchies=hierarchies or {})

    def constraints(self) -> list[tuple[int, list[int]]]:
        return constraints_from_labels(self.labels, hierarchies=self.hierarchies)

    def cells(self) -> Cells:
        cons = [(t, p) for t, p in self.constraints() if additive(self.values, t, p)]
        outer = None
        if self.kind == "histogram" and self.size:
            outer = np.zeros(self.size, dtype=bool)
            interior = np.flatnonzero(~(self.labels == TOTAL).any(axis=1).to_numpy())
            if len(interior):
                outer[[interior[0], interior[-1]]] = True
        return Cells(
            kind=self.kind,
            labels=self.labels,
            values=self.values,
            counts=self.values,
            constraints=cons,
            persons=self.persons,
            outer=outer,
            notes=list(self.notes),
        )

    @property
    def size(self) -> int:
        return len(self.values)

    def linear(self) -> LinearTable:
        return _linear(self.cells())


def _leaves(tree: Mapping[str, Sequence[str]], parent: str) -> list[str]:
    out: list[str] = []
    for child in tree[parent]:
        out += _leaves(tree, child) if child in tree else [str(child)]
    return out


def _with_hierarchies(
    df: pd.DataFrame,
    dims: list[str],
    person: str | None,
    kind: str,
    hierarchies: Mapping[str, Mapping[str, Sequence[str]]],
) -> FrequencyTable:
    """The leaf table plus, for each parent category, its rows (counted from the
    microdata of its leaves, so distinct people stay distinct)."""
    base = FrequencyTable.from_microdata(df, dims, person=person, kind=kind)
    frames = [base.labels.assign(__v=base.values)]
    for d, tree in hierarchies.items():
        others = [x for x in dims if x != d]
        skeleton = base.labels[base.labels[d] == TOTAL][others]
        for parent in tree:
            sub = df[df[d].astype(str).isin(_leaves(tree, parent))].copy()
            rows = skeleton.assign(**{d: parent})
            if len(sub):
                sub[d] = "__parent"
                part = FrequencyTable.from_microdata(sub, dims, person=person)
                got = part.labels.assign(__v=part.values)
                got = got[got[d] == "__parent"].drop(columns=d)
                rows = (
                    rows.merge(got, on=others, how="left")
                    if others
                    else rows.assign(__v=float(got["__v"].iloc[0]))
                )
            frames.append(rows.assign(__v=rows.get("__v", 0.0)).fillna({"__v": 0.0}))
    long = pd.concat(frames, ignore_index=True)
    table = FrequencyTable(
        long[dims].reset_index(drop=True),
        long["__v"].to_numpy(dtype=float),
        persons=person is not None,
        kind=kind,
        hierarchies={
            d: {p: [str(c) for c in ch] for p, ch in t.items()} for d, t in hierarchies.items()
        },
        notes=list(base.notes),
    )
    return table


def _linear(cells: Cells) -> LinearTable:
    labels = [tuple(str(v) for v in row) for row in cells.labels.itertuples(index=False)]
    return LinearTable(
        values=np.asarray(cells.values, dtype=float),
        constraints=cells.constraints,
        labels=labels,
    )


def series(
    df: pd.DataFrame, time: str, person: str | None = None, by: Sequence[str] = ()
) -> FrequencyTable:
    """Counts over time (optionally by other dimensions), with totals."""
    return FrequencyTable.from_microdata(df, [*by, time], person=person, kind="series")


def bar_chart(df: pd.DataFrame, category: str, person: str | None = None) -> FrequencyTable:
    """The counts behind a bar chart, one bar per category, with the total."""
    return FrequencyTable.from_microdata(df, [category], person=person, kind="bar chart")


def area_table(
    df: pd.DataFrame, area: str, person: str | None = None, by: Sequence[str] = ()
) -> FrequencyTable:
    """Counts per area (for a map), optionally by other dimensions, with totals."""
    return FrequencyTable.from_microdata(df, [area, *by], person=person, kind="area table")


def histogram(
    values: Sequence[float] | np.ndarray, bins: int | Sequence[float] = 10
) -> FrequencyTable:
    """The counts behind a histogram; its outer bins' edges may show a minimum or
    maximum, so they are flagged for review when the policy says so."""
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    counts, edges = np.histogram(arr, bins=bins)
    labels = pd.DataFrame(
        {"bin": [f"[{edges[i]:g}, {edges[i + 1]:g})" for i in range(len(counts))] + [TOTAL]}
    )
    vals = np.append(counts.astype(float), counts.sum())
    return FrequencyTable(labels, vals, kind="histogram", edges=edges)


@dataclass
class MagnitudeTable:
    """A statistic of a magnitude per cell, with what dominance rules need: the
    number of contributors, their total and the largest contributions (sorted
    descending). A contributor is a person when the person key is known (their
    rows summed), else a row."""

    labels: pd.DataFrame
    values: np.ndarray
    counts: np.ndarray
    total: np.ndarray
    top: np.ndarray
    statistic: str = "sum"
    negative: np.ndarray | None = None
    support: np.ndarray | None = None
    persons: bool = False
    notes: list[str] = field(default_factory=list)
    #: sum of the negative contributions per cell (<= 0; 0 when all are non-negative)
    negative_sum: np.ndarray | None = None
    #: the largest absolute contributions, descending (as ``top``, of ``|x|``)
    abs_top: np.ndarray | None = None

    @classmethod
    def from_microdata(
        cls,
        df: pd.DataFrame,
        dims: Sequence[str],
        value: str,
        statistic: str = "sum",
        person: str | None = None,
        keep_top: int = 10,
    ) -> MagnitudeTable:
        if statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}, not {statistic!r}")
        grid = _Grid.build(df, dims)
        x = pd.to_numeric(df[value]).to_numpy(dtype=float)
        if np.isnan(x).any():
            raise ValueError(f"the column {value!r} has missing values")
        pcode = pd.factorize(df[person])[0].astype(np.int64) if person is not None else None
        n = grid.size
        values = np.full(n, np.nan)
        support = np.full(n, np.nan)
        counts = np.zeros(n)
        total = np.zeros(n)
        negative = np.zeros(n)
        negative_sum = np.zeros(n)
        top = np.zeros((n, keep_top))
        abs_top = np.zeros((n, keep_top))
        row_order = np.argsort(-x, kind="stable")
        abs_order = np.argsort(-np.abs(x), kind="stable")
        for subset in _subsets(dims):
            cell = grid.cell(subset)
            stat, sup = _statistic(cell, x, statistic)
            values[stat.index] = stat.to_numpy()
            if sup is not None:
                support[sup.index] = sup.to_numpy()
            total += np.bincount(cell, weights=x, minlength=n)
            # contributors: people (their rows summed) or rows
            if pcode is not None:
                ccell, inverse = _distinct(cell, pcode)
                cx = np.bincount(inverse, weights=x, minlength=len(ccell))
            else:
                ccell, cx = cell, x
            counts += np.bincount(ccell, minlength=n)
            negative += np.bincount(ccell, weights=cx < 0, minlength=n)
            negative_sum += np.bincount(ccell, weights=np.minimum(cx, 0.0), minlength=n)
            order = row_order if pcode is None else np.argsort(-cx, kind="stable")
            _keep_largest(top, ccell[order], cx[order], keep_top)
            order = abs_order if pcode is None else np.argsort(-np.abs(cx), kind="stable")
            _keep_largest(abs_top, ccell[order], np.abs(cx[order]), keep_top)
        if statistic == "sum":
            # A combination with no records sums to 0 (the empty sum), so its margins
            # still add up; other statistics of no records stay undefined (NaN).
            values[counts == 0] = 0.0
        return cls(
            labels=grid.labels,
            values=values,
            counts=counts,
            total=total,
            top=top,
            statistic=statistic,
            negative=negative,
            support=support,
            persons=person is not None,
            negative_sum=negative_sum,
            abs_top=abs_top,
        )

    @classmethod
    def from_contributions(
        cls,
        labels: Sequence[str],
        contributions: Sequence[Sequence[float]],
        statistic: str = "sum",
        dim: str = "cell",
    ) -> MagnitudeTable:
        """A one-dimensional table from each cell's list of contributions (the
        form handbook examples are given in)."""
        k = max((len(c) for c in contributions), default=0)
        top = np.zeros((len(contributions), max(k, 2)))
        abs_top = np.zeros_like(top)
        for i, c in enumerate(contributions):
            s = sorted((float(x) for x in c), reverse=True)
            top[i, : len(s)] = s
            abs_top[i, : len(s)] = sorted((abs(x) for x in s), reverse=True)
        totals = np.array([float(sum(c)) for c in contributions])
        counts = np.array([float(len(c)) for c in contributions])
        values = {
            "sum": totals,
            "mean": totals / np.maximum(counts, 1),
        }.get(statistic)
        if values is None:
            raise ValueError("from_contributions supports sum and mean")
        return cls(
            labels=pd.DataFrame({dim: list(labels)}),
            values=values,
            counts=counts,
            total=totals,
            top=top,
            statistic=statistic,
            negative=np.array([float(sum(x < 0 for x in c)) for c in contributions]),
            negative_sum=np.array([float(sum(min(x, 0.0) for x in c)) for c in contributions]),
            abs_top=abs_top,
        )

    def cells(self) -> Cells:
        cons: list[tuple[int, list[int]]] = []
        if self.statistic == "sum":
            equations = constraints_from_labels(self.labels)
            cons = [(t, p) for t, p in equations if additive(self.values, t, p)]
        return Cells(
            kind="magnitude",
            labels=self.labels,
            values=self.values,
            counts=self.counts,
            constraints=cons,
            persons=self.persons,
            statistic=self.statistic,
            top=self.top,
            total=self.total,
            negative=self.negative,
            negative_sum=self.negative_sum,
            abs_top=self.abs_top,
            support=self.support,
            notes=list(self.notes),
        )

    def linear(self) -> LinearTable:
        return _linear(self.cells())


def _keep_largest(out: np.ndarray, cells: np.ndarray, x: np.ndarray, keep: int) -> None:
    """Write each cell's first ``keep`` contributions (``x``, already in descending
    order within each cell) into ``out[cell, rank]``."""
    rank = pd.Series(cells).groupby(cells, sort=False).cumcount().to_numpy()
    kept = rank < keep
    out[cells[kept], rank[kept]] = x[kept]


def _statistic(
    cell: np.ndarray, x: np.ndarray, statistic: str
) -> tuple[pd.Series, pd.Series | None]:
    """The published statistic per cell (over rows) and, for min/max/mode, how
    many rows share it (a value only one or two people have is theirs)."""
    g = pd.Series(x).groupby(cell, sort=False)
    if statistic == "mode":
        # runs of equal (cell, value) pairs; the longest run per cell (smallest value on ties)
        order = np.lexsort((x, cell))
        sc, sx = cell[order], x[order]
        new = np.r_[True, (sc[1:] != sc[:-1]) | (sx[1:] != sx[:-1])]
        start = np.flatnonzero(new)
        runs = pd.DataFrame({"c": sc[start], "x": sx[start], "n": np.diff(np.r_[start, len(sc)])})
        runs = runs.sort_values(["c", "n", "x"], ascending=[True, False, True], kind="stable")
        first = runs.drop_duplicates("c").set_index("c")
        return first["x"], first["n"].astype(float)
    value = g.agg(statistic)
    if statistic in ("min", "max"):
        hit = pd.Series(x == g.transform(statistic).to_numpy())
        return value, hit.groupby(cell, sort=False).sum().astype(float)
    return value, None


@dataclass
class RegressionResult:
    """Coefficients with the model's residual degrees of freedom and the number
    of people behind each categorical level's coefficient."""

    names: list[str]
    coefficients: np.ndarray
    dof: float
    level_counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_statsmodels(
        cls, result: Any, level_counts: Mapping[str, int] | None = None
    ) -> RegressionResult:
        """From a fitted statsmodels result; counts for 0/1 columns of the design
        matrix (dummy-coded levels) are taken from the data unless given."""
        names = [str(n) for n in getattr(result.model, "exog_names", None) or result.params.index]
        coefs = np.asarray(result.params, dtype=float)
        counts = dict(level_counts or {})
        exog = getattr(result.model, "exog", None)
        if exog is not None and not level_counts:
            x = np.asarray(exog)
            binary = np.all((x == 0) | (x == 1), axis=0) & ~np.all(x == 1, axis=0)
            for j in np.flatnonzero(binary):
                counts[names[j]] = int(x[:, j].sum())
        return cls(names, coefs, float(result.df_resid), counts)

    def cells(self) -> Cells:
        counts = np.array([self.level_counts.get(n, np.nan) for n in self.names], dtype=float)
        return Cells(
            kind="regression",
            labels=pd.DataFrame({"term": self.names}),
            values=np.asarray(self.coefficients, dtype=float),
            counts=counts,
            statistic="coefficient",
            dof=self.dof,
        )

    def linear(self) -> LinearTable:
        return _linear(self.cells())


@dataclass
class GroupSummary:
    """Groups (e.g. trajectory groups) with their sizes and statistics; a group
    smaller than the policy's minimum group size cannot be described."""

    groups: list[str]
    sizes: np.ndarray
    statistics: pd.DataFrame | None = None  # one row per group
    persons: bool = True

    def cells(self) -> Cells:
        return Cells(
            kind="group summary",
            labels=pd.DataFrame({"group": [str(g) for g in self.groups]}),
            values=np.asarray(self.sizes, dtype=float),
            counts=np.asarray(self.sizes, dtype=float),
            persons=self.persons,
        )

    def linear(self) -> LinearTable:
        return _linear(self.cells())


OutputObject = FrequencyTable | MagnitudeTable | RegressionResult | GroupSummary
