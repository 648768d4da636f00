"""Secondary suppression: withhold enough further cells that no primary can be worked out.

After primary suppression some cells are withheld, but margins are published with
their true values, so an attacker can often recover a withheld cell from the others
(a row with one gap gives it away exactly; several tables sharing a margin can give it
away together). :func:`protect` chooses further cells to withhold so that, for every
primary cell, the attacker's feasible interval (see :mod:`fivesafes.outputs.audit_lp`)
reaches at least as far as its protection interval.

Methods
-------
``"optimal"``
    The Fischetti–Salazar model solved by cut generation: one binary per cell (1 =
    withhold), minimise the total cost of what is withheld, subject to protection.
    Start from the single-equation cuts (every equation through a primary must hold
    enough other withheld capacity to let it move by its protection level both ways),
    solve the integer program (:func:`scipy.optimize.milp`, HiGHS), solve the
    attacker's linear program for every primary and direction over the chosen pattern,
    and turn each one that falls short into a cut from its dual solution
    (``Σ_j (α_j·U_j + β_j·L_j)·y_j ≥ protection level``). Repeat until no cut is
    violated. For small tables (a few hundred cells).
``"heuristic"``
    For large tables. First, equation by equation: every equation through a primary
    cell gets the cheapest further cells it needs so that, by that equation alone, the
    primary can move by its protection level both ways (and a threshold cell down to
    0). Then the attacker's programs are solved
    (:func:`~fivesafes.outputs.audit_lp.audit_intervals`) and for each primary still
    short a "cheapest cycle" linear program finds a deviation of the
    table that moves it by its protection level while moving published cells as little
    (by cost) as possible; the cells that move are withheld too.
``"auto"``
    ``"optimal"`` up to :data:`OPTIMAL_MAX_CELLS` cells, ``"heuristic"`` above.

Whatever the method, the answer is audited with the attacker's linear programs
before it is returned; a failed audit adds cells (cheapest cycle) and audits again.
A table that cannot be protected raises :class:`SuppressionInfeasible`.

Choices
-------
* Margins keep their true values. They may be withheld as secondaries, but every cell
  costs its value (``cost="value"``), so an interior cell is nearly always cheaper
  than the margin that contains it; with ``cost="count"`` an interior cell costs 1
  and a margin 2.
* Protection levels come from :func:`fivesafes.outputs.linear.required_protection`
  with the policy's percentages. For counts (every value a whole number, or
  ``counts=True``) every primary must also be able to move by at least 1 either way,
  as in sdcTable's defaults (``LPL = UPL = 1``): a count an attacker can pin down is
  disclosed whatever the percentage. For magnitudes the minimum is a millionth of the
  largest value, which rules out exact derivation. ``minimum=`` overrides both. The
  interval is then clipped to the cell's a priori bounds (a count of 0 cannot be
  protected below 0: the attacker knows that already).
* The threshold rule's safety range: a count withheld for being under the policy's
  threshold (``threshold_cells=``) must also have an attacker interval reaching 0
  *or* reaching the threshold (:func:`frequency_for`); otherwise the attacker learns
  that the group exists and is small, which is what the rule hides. Either end will
  do: the optimal method chooses one per cell with a binary, the heuristic the
  cheaper (docs/disclosure-control.md says why, beside tau-Argus's levels).
* Singleton and coalition attacks (sdcTable's ``detectSingletons``) are not modelled.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import highspy
import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from fivesafes.errors import FivesafesError
from fivesafes.outputs.audit_lp import (
    attacker_intervals,
    audit_intervals,
    equality_matrix_sparse,
    frequency_ok,
    interval_ok,
    silent_highs,
)
from fivesafes.outputs.linear import LinearTable, ProtectionResult, required_protection

__all__ = [
    "OPTIMAL_MAX_CELLS",
    "ProtectionPolicy",
    "SuppressionInfeasible",
    "complete_missing",
    "frequency_for",
    "link_tables",
    "protect",
    "published_values",
    "required_for",
    "table_from_array",
]

#: ``method="auto"`` solves tables up to this many cells optimally.
OPTIMAL_MAX_CELLS = 400
#: Rounds of cut generation before "optimal" gives up and finishes heuristically.
MAX_CUT_ROUNDS = 200


class ProtectionPolicy(Protocol):
    """What :func:`protect` reads from a policy (e.g. ``fivesafes.outputs.policy.Policy``).

    The threshold rule's safety range also needs the policy's threshold: its
    ``minimum_count`` if it has one, else its ``threshold`` (only read when some
    cells are withheld by that rule, see :func:`frequency_for`).
    """

    @property
    def protection_upper_percent(self) -> float: ...

    @property
    def protection_lower_percent(self) -> float: ...


class SuppressionInfeasible(FivesafesError):
    """No pattern of withheld cells protects a primary cell (e.g. its bounds are too tight)."""


# ---------------------------------------------------------------------------------------
# Builders


def table_from_array(
    values: np.ndarray,
    labels: Sequence[Sequence[str]] | None = None,
    hierarchies: Sequence[Mapping[int, Sequence[int]] | None] | None = None,
) -> LinearTable:
    """An n-dimensional table with margins as a :class:`LinearTable`.

    ``values`` holds every cell, margins included: on each axis the last entry is the
    Total of the others. Cell ids are flat (C-order) indices into ``values``.
    ``labels[k]`` names the entries of axis ``k`` (default ``"0", "1", …, "Total"``).
    ``hierarchies[k]``, when given, replaces the flat rule on axis ``k`` with nested
    totals: a mapping ``{total_index: [child indices]}`` (e.g. ``{4: [0, 1], 5: [2, 3],
    6: [4, 5]}`` for two subtotals under a grand total).
    """
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 0:
        raise ValueError("values must have at least one axis")
    shape = arr.shape
    ndim = arr.ndim
    if labels is None:
        labels = [[*(str(i) for i in range(s - 1)), "Total"] for s in shape]
    if len(labels) != ndim or any(len(lab) != s for lab, s in zip(labels, shape, strict=True)):
        raise ValueError("labels must name every entry of every axis")
    hier: list[Mapping[int, Sequence[int]]] = []
    for k, s in enumerate(shape):
        h = hierarchies[k] if hierarchies is not None and k < len(hierarchies) else None
        hier.append(h if h is not None else {s - 1: list(range(s - 1))})
    ids = np.arange(arr.size).reshape(shape)
    constraints: list[tuple[int, list[int]]] = []
    for k in range(ndim):
        moved = np.moveaxis(ids, k, -1).reshape(-1, shape[k])
        for total, children in hier[k].items():
            kids = list(children)
            for line in moved:
                constraints.append((int(line[total]), [int(line[c]) for c in kids]))
    cell_labels = [
        tuple(str(labels[k][i]) for k, i in enumerate(idx)) for idx in np.ndindex(*shape)
    ]
    table = LinearTable(values=arr.ravel().copy(), constraints=constraints, labels=cell_labels)
    table.check()
    return table


def link_tables(*tables: LinearTable) -> LinearTable:
    """Several tables as one: cells with the same label are the same cell.

    Every table needs labels. Shared cells must have the same value in every table;
    their a priori bounds are intersected. Constraints are kept from every table
    (duplicates once).
    """
    index: dict[tuple[str, ...], int] = {}
    labels: list[tuple[str, ...]] = []
    values: list[float] = []
    lows: list[float] = []
    highs: list[float] = []
    constraints: list[tuple[int, list[int]]] = []
    seen: set[tuple[int, tuple[int, ...]]] = set()
    for t in tables:
        if len(t.labels) != t.size:
            raise ValueError("link_tables needs a label for every cell of every table")
        lo = np.zeros(t.size) if t.lower_bounds is None else np.asarray(t.lower_bounds, float)
        hi = np.full(t.size, np.inf) if t.upper_bounds is None else np.asarray(t.upper_bounds)
        remap = np.empty(t.size, dtype=np.int64)
        for i, lab in enumerate(t.labels):
            lab = tuple(lab)
            v = float(t.values[i])
            if lab in index:
                j = index[lab]
                if not np.isclose(values[j], v):
                    raise ValueError(
                        f"cell {' × '.join(lab)} is {values[j]:g} in one table, {v:g} in another"
                    )
                lows[j] = max(lows[j], float(lo[i]))
                highs[j] = min(highs[j], float(hi[i]))
            else:
                j = index[lab] = len(values)
                labels.append(lab)
                values.append(v)
                lows.append(float(lo[i]))
                highs.append(float(hi[i]))
            remap[i] = j
        for total, parts in t.constraints:
            new_parts = [int(remap[p]) for p in parts]
            key = (int(remap[total]), tuple(sorted(new_parts)))
            if key not in seen:
                seen.add(key)
                constraints.append((key[0], new_parts))
    return LinearTable(
        values=np.array(values, dtype=float),
        constraints=constraints,
        labels=labels,
        lower_bounds=np.array(lows, dtype=float),
        upper_bounds=np.array(highs, dtype=float),
    )


# ---------------------------------------------------------------------------------------
# Shared pieces


def _is_counts(values: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))


def required_for(
    table: LinearTable,
    primary: set[int],
    policy: ProtectionPolicy,
    counts: bool | None = None,
    minimum: float | None = None,
) -> dict[int, tuple[float, float]]:
    """The protection interval every primary cell needs (see the module's Choices)."""
    values = np.asarray(table.values, dtype=float)
    if counts is None:
        counts = _is_counts(values)
    if minimum is None:
        scale = float(np.max(np.abs(values))) if len(values) else 0.0
        minimum = 1.0 if counts else 1e-6 * max(scale, 1e-12)
    req = required_protection(
        values,
        sorted(primary),
        float(policy.protection_upper_percent),
        float(policy.protection_lower_percent),
        minimum=minimum,
    )
    # An attacker knows the a priori bounds anyway: asking for more is impossible.
    n = table.size
    lo = np.zeros(n) if table.lower_bounds is None else np.asarray(table.lower_bounds, float)
    hi = np.full(n, np.inf) if table.upper_bounds is None else np.asarray(table.upper_bounds, float)
    return {c: (max(a, float(lo[c])), min(b, float(hi[c]))) for c, (a, b) in req.items()}


def policy_threshold(policy: ProtectionPolicy | Any) -> float:
    """The policy's threshold: ``minimum_count`` (e.g. OpenSAFELY's redaction, ``≤ 7``
    gives 8) when it has one, else ``threshold``."""
    for name in ("minimum_count", "threshold"):
        value = getattr(policy, name, None)
        if value is not None:
            return float(value)
    raise ValueError("the policy has no threshold (minimum_count or threshold)")


def frequency_for(
    table: LinearTable, threshold_cells: set[int], threshold: float
) -> dict[int, tuple[float, float]]:
    """The threshold rule's safety range of every cell it withheld: ``(0, threshold)``.

    The attacker's interval of such a cell must reach 0 *or* reach the threshold
    (see the module's Choices). Cells whose true value is not strictly between 0 and
    the threshold are not small counts and get no range.
    """
    values = np.asarray(table.values, dtype=float)
    if threshold <= 0:
        return {}
    out: dict[int, tuple[float, float]] = {}
    for c in sorted(threshold_cells):
        if not 0 <= c < table.size:
            raise ValueError(f"threshold cell {c} is not a cell of the table (0..{table.size - 1})")
        if 0 < values[c] < threshold:
            out[int(c)] = (0.0, float(threshold))
    return out


def complete_missing(table: LinearTable) -> tuple[LinearTable, set[int]]:
    """The table with its missing values (NaN) filled in, and which cells they were.

    A missing value is withheld (there is nothing to publish) and nobody, the
    attacker included, knows it; but the attacker still knows the equations it is
    in. Their feasible set (every table consistent with the published cells, the
    equations and the a priori bounds) does not depend on the withheld cells'
    values, so any one table in it will do as the "true" table the search and the
    audit start from: one is found by a linear program. Raises
    :class:`SuppressionInfeasible` when there is none (the published cells and
    margins contradict each other whatever the missing values are).
    """
    values = np.asarray(table.values, dtype=float).copy()
    missing = np.flatnonzero(np.isnan(values))
    if not len(missing):
        return table, set()
    n = table.size
    lo = np.zeros(n) if table.lower_bounds is None else np.asarray(table.lower_bounds, float)
    hi = np.full(n, np.inf) if table.upper_bounds is None else np.asarray(table.upper_bounds, float)
    a = equality_matrix_sparse(table).tocsc()
    known = np.setdiff1d(np.arange(n), missing)
    a_m = a[:, missing]
    rows = np.flatnonzero(a_m.getnnz(axis=1) > 0)
    if len(rows):
        b = -(a[:, known] @ values[known])[rows]
        res = linprog(
            np.zeros(len(missing)),
            A_eq=a_m[rows],
            b_eq=b,
            bounds=np.column_stack([lo[missing], hi[missing]]),
            method="highs",
        )
        if res.status != 0:
            names = ", ".join(table.label(int(c)) for c in missing[:5])
            raise SuppressionInfeasible(
                f"no values of the missing cells ({names}) make the margins add up"
            )
        values[missing] = np.asarray(res.x, dtype=float)
    else:  # in no equation: any value within its bounds
        values[missing] = lo[missing]
    done = LinearTable(
        values=values,
        constraints=table.constraints,
        labels=table.labels,
        lower_bounds=table.lower_bounds,
        upper_bounds=table.upper_bounds,
    )
    return done, {int(c) for c in missing}


def published_values(table: LinearTable, suppressed: set[int]) -> np.ndarray:
    """The table as published: true values, NaN where a cell is withheld."""
    out = np.asarray(table.values, dtype=float).copy()
    out[sorted(suppressed)] = np.nan
    return out


@dataclass
class _Problem:
    table: LinearTable
    values: np.ndarray
    a: sp.csr_matrix  # constraints × cells
    up_room: np.ndarray  # U_j = ub_j - v_j (how far a cell can rise)
    down_room: np.ndarray  # L_j = v_j - lb_j (how far it can fall)
    cost: np.ndarray
    primary: list[int]
    need_up: dict[int, float]
    need_down: dict[int, float]
    required: dict[int, tuple[float, float]]
    # The threshold rule's safety range: cell -> (0, threshold); either end will do.
    frequency: dict[int, tuple[float, float]]
    freq_up: dict[int, float]  # how far such a cell must rise to reach the threshold
    freq_down: dict[int, float]  # ... or fall to reach 0 (its value)
    audited: frozenset[int] = frozenset()  # the last pattern an audit passed
    cycles: _CycleModel | None = None  # the cheapest-cycle program, built once

    def local_needs(self, p: int) -> tuple[float, float]:
        """(up, down) the equation pass aims for: the protection interval, and for a
        threshold cell its safety range's lower end (see :func:`_local_pass`)."""
        up, down = self.need_up[p], self.need_down[p]
        if p in self.frequency:
            down = max(down, self.freq_down[p])
        return up, down


def _problem(
    table: LinearTable,
    primary: set[int],
    required: dict[int, tuple[float, float]],
    cost: str | np.ndarray,
    frequency: dict[int, tuple[float, float]] | None = None,
) -> _Problem:
    values = np.asarray(table.values, dtype=float)
    n = table.size
    lo = np.zeros(n) if table.lower_bounds is None else np.asarray(table.lower_bounds, float)
    hi = np.full(n, np.inf) if table.upper_bounds is None else np.asarray(table.upper_bounds, float)
    if np.any(values < lo - 1e-9) or np.any(values > hi + 1e-9):
        raise ValueError("some cells lie outside their a priori bounds")
    is_total = np.zeros(n, dtype=bool)
    for t, _ in table.constraints:
        is_total[t] = True
    if isinstance(cost, str):
        if cost == "value":
            scale = float(np.mean(np.abs(values))) if n else 1.0
            c = np.abs(values) + 1e-3 * max(scale, 1e-9) * (1.0 + is_total)
        elif cost == "count":
            c = 1.0 + is_total.astype(float)
        else:
            raise ValueError(f"unknown cost {cost!r}: use 'value', 'count' or an array")
    else:
        c = np.asarray(cost, dtype=float)
        if c.shape != (n,) or np.any(c < 0):
            raise ValueError("cost must give a non-negative number per cell")
    prim = sorted(primary)
    need_up = {p: max(required[p][1] - values[p], 0.0) for p in prim}
    need_down = {p: max(values[p] - required[p][0], 0.0) for p in prim}
    frequency = dict(frequency or {})
    if not set(frequency) <= set(prim):
        raise ValueError("cells with a safety range must be primary cells")
    freq_up = {p: max(hi - values[p], 0.0) for p, (_, hi) in frequency.items()}
    freq_down = {p: max(values[p] - lo, 0.0) for p, (lo, _) in frequency.items()}
    return _Problem(
        table=table,
        values=values,
        a=equality_matrix_sparse(table),
        up_room=np.maximum(hi - values, 0.0),
        down_room=np.maximum(values - lo, 0.0),
        cost=c,
        primary=prim,
        need_up=need_up,
        need_down=need_down,
        required=required,
        frequency=frequency,
        freq_up=freq_up,
        freq_down=freq_down,
    )


def _equation_helpers(prob: _Problem, p: int, eq: int, up: bool) -> tuple[list[int], np.ndarray]:
    """Cells of equation ``eq`` that can absorb a move of ``p`` (up or down), with room."""
    total, parts = prob.table.constraints[eq]
    cells: list[int] = []
    rooms: list[float] = []
    if p == total:
        for j in parts:
            if j != p:
                cells.append(j)
                rooms.append(prob.up_room[j] if up else prob.down_room[j])
    else:
        for j in parts:
            if j != p:
                cells.append(j)
                rooms.append(prob.down_room[j] if up else prob.up_room[j])
        if total != p:
            cells.append(total)
            rooms.append(prob.up_room[total] if up else prob.down_room[total])
    return cells, np.array(rooms, dtype=float)


def _equations_of(table: LinearTable) -> list[list[int]]:
    eqs: list[list[int]] = [[] for _ in range(table.size)]
    for r, (t, parts) in enumerate(table.constraints):
        eqs[t].append(r)
        for p in set(parts):
            if p != t:
                eqs[p].append(r)
    return eqs


# ---------------------------------------------------------------------------------------
# Heuristic


def _already_enough(prob: _Problem, suppressed: set[int]) -> set[tuple[int, int, bool]]:
    """The (primary, equation, up) triples whose equation already holds enough withheld
    room, computed for a whole equation at once (numpy). Withholding more only adds
    room, so these stay satisfied for the rest of the pass."""
    n = prob.table.size
    mask = np.zeros(n, dtype=bool)
    mask[list(suppressed)] = True
    is_primary = np.zeros(n, dtype=bool)
    is_primary[prob.primary] = True
    need_up = np.zeros(n)
    need_down = np.zeros(n)
    for p in prob.primary:
        need_up[p], need_down[p] = prob.local_needs(p)
    out: set[tuple[int, int, bool]] = set()
    for eq, (total, parts_list) in enumerate(prob.table.constraints):
        parts = np.asarray(parts_list, dtype=np.int64)
        if len(parts) == 0 or len(np.unique(parts)) != len(parts) or total in parts_list:
            continue  # unusual equations take the slow path
        on = mask[parts].astype(float)
        t_on = float(mask[total])
        prim_parts = parts[is_primary[parts]]
        for up in (True, False):
            need = (need_up if up else need_down)[prim_parts]
            # A part moving up is balanced by other parts moving down or the total up.
            part_room = prob.down_room[parts] if up else prob.up_room[parts]
            total_room = prob.up_room[total] if up else prob.down_room[total]
            if len(prim_parts):
                caps = np.minimum(part_room[None, :], need[:, None]) * on[None, :]
                have = caps.sum(axis=1) - np.minimum(part_room[is_primary[parts]], need)
                have += t_on * np.minimum(total_room, need)
                ok = have >= need - 1e-9 * np.maximum(need, 1.0)
                out.update((int(p), eq, up) for p in prim_parts[ok | (need <= 0)])
            if is_primary[total]:
                t_need = need_up[total] if up else need_down[total]
                # The total moving up is balanced by parts moving up.
                room = prob.up_room[parts] if up else prob.down_room[parts]
                t_have = float((np.minimum(room, t_need) * on).sum())
                if t_have >= t_need - 1e-9 * max(t_need, 1.0) or t_need <= 0:
                    out.add((int(total), eq, up))
    return out


def _local_pass(prob: _Problem, suppressed: set[int]) -> None:
    """Give every equation through a primary enough withheld room (cheapest cells)."""
    eqs = _equations_of(prob.table)
    done = _already_enough(prob, suppressed)
    for p in prob.primary:
        need_up, need_down = prob.local_needs(p)
        for eq in eqs[p]:
            for up in (True, False):
                need = need_up if up else need_down
                if need <= 0 or (p, eq, up) in done:
                    continue
                cells, rooms = _equation_helpers(prob, p, eq, up)
                if not cells:
                    continue
                caps = np.minimum(rooms, need)
                have = sum(c for j, c in zip(cells, caps, strict=True) if j in suppressed)
                rest = need - have
                if rest <= 1e-9 * max(need, 1.0):
                    continue
                cand = [
                    (j, c)
                    for j, c in zip(cells, caps, strict=True)
                    if j not in suppressed and c > 0
                ]
                if not cand:
                    continue  # left to the cheapest-cycle step, which raises if hopeless
                enough = [(prob.cost[j], j) for j, c in cand if c >= rest - 1e-12]
                if enough:
                    suppressed.add(min(enough)[1])
                    continue
                cand.sort(key=lambda jc: prob.cost[jc[0]] / jc[1])
                for j, c in cand:
                    suppressed.add(j)
                    rest -= c
                    if rest <= 0:
                        break


def _audited_pattern_is(prob: _Problem, suppressed: set[int]) -> bool:
    return prob.audited == frozenset(suppressed)


def _cheapest_cycle(
    prob: _Problem, suppressed: set[int], p: int, up: bool, need: float | None = None
) -> set[int]:
    """Cells to withhold so that ``p`` can move by ``need`` (default: its protection
    level) one way.

    Minimise the cost of the published cells a feasible deviation of the table moves
    (per unit of room), with ``p`` moved by ``need``; every cell that moves must be
    withheld. The deviation itself shows the result is protected.
    """
    n = prob.table.size
    if need is None:
        need = prob.need_up[p] if up else prob.need_down[p]
    mask = np.zeros(n, dtype=bool)
    mask[list(suppressed)] = True
    usable_up = np.minimum(prob.up_room, need)
    usable_down = np.minimum(prob.down_room, need)
    w_up = np.where(mask, 0.0, prob.cost / np.maximum(usable_up, 1e-12))
    w_down = np.where(mask, 0.0, prob.cost / np.maximum(usable_down, 1e-12))
    if prob.cycles is None:
        prob.cycles = _CycleModel(prob)
    x = prob.cycles.solve(np.concatenate([w_up, w_down]), p, up, need)
    if x is None:
        raise SuppressionInfeasible(
            f"cell {p} ({prob.table.label(p)}) cannot be protected: no pattern of withheld "
            f"cells lets it move {'up' if up else 'down'} by {need:g} within the cells' bounds"
        )
    dev = np.abs(x[:n] - x[n:])
    tol = 1e-9 * max(1.0, need)
    return {int(j) for j in np.flatnonzero(dev > tol)}


class _CycleModel:
    """The cheapest-cycle program of one table in one HiGHS model, warm-started.

    Variables: each cell's rise ``d+`` and fall ``d-`` (within its room), with
    ``A (d+ - d-) = 0``. A solve fixes the primary's move and sets the costs; the
    structure stays, so each solve starts from the previous basis.
    """

    def __init__(self, prob: _Problem) -> None:
        n = prob.table.size
        a = sp.hstack([prob.a, -prob.a]).tocsc()
        inf = highspy.kHighsInf
        self.n = n
        self.ub = np.concatenate([prob.up_room, prob.down_room])
        self.ub = np.where(np.isinf(self.ub), inf, self.ub)
        lp = highspy.HighsLp()
        lp.num_col_ = 2 * n
        lp.num_row_ = a.shape[0]
        lp.col_cost_ = np.zeros(2 * n)
        lp.col_lower_ = np.zeros(2 * n)
        lp.col_upper_ = self.ub.copy()
        lp.row_lower_ = np.zeros(a.shape[0])
        lp.row_upper_ = np.zeros(a.shape[0])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data.astype(float)
        self.h = silent_highs()
        self.h.passModel(lp)

    def solve(self, cost: np.ndarray, p: int, up: bool, need: float) -> np.ndarray | None:
        """Cheapest deviation moving ``p`` by ``need`` (up or down); None if none."""
        n, h = self.n, self.h
        h.changeColsCost(2 * n, np.arange(2 * n, dtype=np.int32), cost.astype(float))
        move, still = (p, n + p) if up else (n + p, p)
        cols = np.array([move, still], dtype=np.int32)
        h.changeColsBounds(2, cols, np.array([need, 0.0]), np.array([need, 0.0]))
        try:
            h.run()
            status = h.getModelStatus()
            if status != highspy.HighsModelStatus.kOptimal:
                return None
            return np.asarray(h.getSolution().col_value, dtype=float)
        finally:
            h.changeColsBounds(2, cols, np.zeros(2), self.ub[cols])


def _short(prob: _Problem, found: dict[int, tuple[float, float]]) -> list[int]:
    """The primaries whose intervals fall short (protection interval or safety range)."""
    return [
        p
        for p in prob.primary
        if not interval_ok(found[p], prob.required[p], float(prob.values[p]))
        or (p in prob.frequency and not frequency_ok(found[p], prob.frequency[p]))
    ]


def _cheaper_side(prob: _Problem, suppressed: set[int], p: int) -> tuple[bool, set[int]]:
    """The cheaper of the two ways to give ``p`` its safety range: down to 0 or up to
    the threshold, each by a cheapest cycle (a way that cannot be done is skipped; if
    the way down needs no cell not already withheld, the way up is not tried).
    Returns (whether the way is up, the cells that move)."""
    options: list[tuple[float, int, bool, set[int]]] = []
    for k, up in enumerate((False, True)):
        need = prob.freq_up[p] if up else prob.freq_down[p]
        try:
            cells = _cheapest_cycle(prob, suppressed, p, up=up, need=need)
        except SuppressionInfeasible:
            continue
        added = float(prob.cost[sorted(cells - suppressed)].sum())
        options.append((added, k, up, cells))
        if added == 0:
            break
    if not options:
        raise SuppressionInfeasible(
            f"cell {p} ({prob.table.label(p)}) cannot be protected: no pattern of withheld "
            "cells lets it reach 0 or the threshold within the cells' bounds"
        )
    best = min(options, key=lambda o: (o[0], o[1]))
    return best[2], best[3]


def _repair(
    prob: _Problem, suppressed: set[int], max_rounds: int = 50
) -> tuple[list[str], dict[int, tuple[float, float]]]:
    """Audit; add cheapest-cycle cells for every primary short of protection; repeat.

    Returns the messages and the audit of the final pattern (every primary passes).
    """
    messages: list[str] = []
    for _ in range(max_rounds):
        found = audit_intervals(prob.table, suppressed, prob.required, prob.frequency)
        short = _short(prob, found)
        if not short:
            prob.audited = frozenset(suppressed)
            return messages, found
        messages.append(f"audit: {len(short)} primary cell(s) short of protection; repairing")
        for p in short:
            lo, hi = found[p]
            req_lo, req_hi = prob.required[p]
            tol = 1e-7 * max(1.0, abs(float(prob.values[p])))
            up_short, down_short = hi < req_hi - tol, lo > req_lo + tol
            if p in prob.frequency and not frequency_ok((lo, hi), prob.frequency[p]):
                # Reaching the threshold (or 0) also gives the protection interval's
                # upper (lower) end, which is then not sought on its own.
                way_up, cells = _cheaper_side(prob, suppressed, p)
                suppressed |= cells
                if way_up:
                    up_short = False
                else:
                    down_short = False
            if up_short:
                suppressed |= _cheapest_cycle(prob, suppressed, p, up=True)
            if down_short:
                suppressed |= _cheapest_cycle(prob, suppressed, p, up=False)
    raise RuntimeError("secondary suppression did not converge")  # pragma: no cover


def _heuristic(prob: _Problem) -> tuple[set[int], list[str], dict[int, tuple[float, float]]]:
    suppressed = set(prob.primary)
    _local_pass(prob, suppressed)
    messages = [f"heuristic: {len(suppressed) - len(prob.primary)} cell(s) after equation pass"]
    more, found = _repair(prob, suppressed)
    return suppressed, messages + more, found


# ---------------------------------------------------------------------------------------
# Optimal (Fischetti–Salazar by cut generation)


def _attacker_dual_cut(
    prob: _Problem, y: np.ndarray, p: int, up: bool, need: float | None = None
) -> tuple[float, np.ndarray | None]:
    """Solve the attacker's program for ``p`` over pattern ``y``; return (reach, cut).

    ``reach`` is how far ``p`` can move (up or down). When it falls short of ``need``
    (default: the protection level), ``cut`` holds the coefficients of the violated
    Fischetti–Salazar inequality ``cut @ y >= need``.
    """
    n = prob.table.size
    if need is None:
        need = prob.need_up[p] if up else prob.need_down[p]
    upper = np.where(y > 0.5, prob.up_room, 0.0)
    lower = np.where(y > 0.5, -prob.down_room, 0.0)
    c = np.zeros(n)
    c[p] = -1.0 if up else 1.0  # minimise -d_p (up) or d_p (down)
    res = linprog(
        c,
        A_eq=prob.a,
        b_eq=np.zeros(prob.a.shape[0]),
        bounds=np.column_stack([lower, upper]),
        method="highs",
    )
    if res.status == 3:
        return np.inf, None
    if res.status != 0:
        raise RuntimeError(f"attacker linear program failed: {res.message}")
    reach = float(-res.fun)
    if reach >= need - 1e-7 * max(1.0, need):
        return reach, None
    alpha = np.maximum(-np.asarray(res.upper.marginals, dtype=float), 0.0)
    beta = np.maximum(np.asarray(res.lower.marginals, dtype=float), 0.0)
    with np.errstate(invalid="ignore"):
        coef = np.where(alpha > 0, alpha * prob.up_room, 0.0) + np.where(
            beta > 0, beta * prob.down_room, 0.0
        )
    coef = np.minimum(np.nan_to_num(coef, nan=need, posinf=need), need)
    coef[coef < 1e-9 * max(1.0, need)] = 0.0
    return reach, coef


# A cut over (y, z): ``row @ (y, z) >= rhs``. ``z_p`` (one per cell with a safety
# range) is 1 when that cell is to reach the threshold, 0 when it is to reach 0: the
# cut for a side then binds only when its side is chosen.
_Cut = tuple[np.ndarray, float]


def _side_cut(
    prob: _Problem, coef: np.ndarray, need: float, p: int, up: bool | None, zi: dict[int, int]
) -> _Cut:
    """``coef @ y >= need`` for the protection interval (``up is None``), or for a
    safety-range side: ``coef @ y >= need·z_p`` (up) / ``>= need·(1 - z_p)`` (down)."""
    n = prob.table.size
    row = np.zeros(n + len(zi))
    row[:n] = coef
    if up is None:
        return row, need
    if up:
        row[n + zi[p]] = -need
        return row, 0.0
    row[n + zi[p]] = need
    return row, need


def _sides(prob: _Problem, p: int) -> list[tuple[bool, float, bool | None]]:
    """Every (direction, need, safety-range side) ``p`` must satisfy."""
    out: list[tuple[bool, float, bool | None]] = [
        (True, prob.need_up[p], None),
        (False, prob.need_down[p], None),
    ]
    if p in prob.frequency:
        out += [(True, prob.freq_up[p], True), (False, prob.freq_down[p], False)]
    return [o for o in out if o[1] > 0]


def _single_equation_cuts(prob: _Problem, zi: dict[int, int]) -> list[_Cut]:
    cuts: list[_Cut] = []
    eqs = _equations_of(prob.table)
    n = prob.table.size
    for p in prob.primary:
        for eq in eqs[p]:
            for up, need, side in _sides(prob, p):
                cells, rooms = _equation_helpers(prob, p, eq, up)
                row = np.zeros(n)
                np.add.at(row, cells, np.minimum(rooms, need))
                row[p] = 0.0
                cuts.append(_side_cut(prob, np.minimum(row, need), need, p, side, zi))
    return cuts


def _optimal(
    prob: _Problem, time_limit: float
) -> tuple[set[int], list[str], dict[int, tuple[float, float]]]:
    """Cut generation from a heuristic upper bound, within ``time_limit`` seconds.

    The heuristic pattern is computed first; its cost bounds the integer program
    (``cost @ y <= heuristic cost``). If that program becomes infeasible the heuristic
    pattern is optimal; if time runs out the cheaper of the heuristic pattern and the
    repaired current solution is returned (and the messages say so). A cell with a
    safety range has a binary ``z`` choosing which end it must reach (0 or the
    threshold): the program is exact for the "either end" rule, not one side of it.
    """
    deadline = time.monotonic() + time_limit
    best, messages, best_found = _heuristic(prob)
    best_cost = float(prob.cost[sorted(best)].sum())
    n = prob.table.size
    zi = {p: k for k, p in enumerate(sorted(prob.frequency))}
    m = len(zi)
    lb = np.zeros(n + m)
    lb[prob.primary] = 1.0
    cuts = _single_equation_cuts(prob, zi)
    cutoff = LinearConstraint(
        np.concatenate([prob.cost, np.zeros(m)]).reshape(1, -1), -np.inf, best_cost
    )
    x: np.ndarray | None = None
    for rnd in range(MAX_CUT_ROUNDS):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            messages.append("optimal: time limit reached; finishing heuristically")
            break
        cons = [cutoff]
        if cuts:
            mat = sp.csr_matrix(np.vstack([c for c, _ in cuts]))
            rhs = np.array([r for _, r in cuts])
            cons.append(LinearConstraint(mat, rhs, np.inf))
        res = milp(
            np.concatenate([prob.cost, np.zeros(m)]),
            integrality=np.ones(n + m),
            bounds=Bounds(lb, np.ones(n + m)),
            constraints=cons,
            options={"time_limit": remaining},
        )
        if res.status == 2:  # nothing cheaper than the heuristic pattern is protected
            messages.append(f"optimal: heuristic pattern proved optimal after {rnd} round(s)")
            return best, messages, best_found
        if res.x is None:
            messages.append(f"optimal: solver stopped ({res.message}); finishing heuristically")
            break
        x = np.round(np.asarray(res.x))
        y = x[:n]
        new = 0
        for p in prob.primary:
            reached: dict[bool | None, bool] = {}
            pending: list[_Cut] = []
            for up, need, side in _sides(prob, p):
                _, cut = _attacker_dual_cut(prob, y, p, up, need)
                reached[side] = reached.get(side, True) and cut is None
                if cut is not None:
                    row, bound = _side_cut(prob, cut, need, p, side, zi)
                    if row @ x < bound - 1e-9:
                        if side is None:
                            cuts.append((row, bound))
                            new += 1
                        else:
                            pending.append((row, bound))
            # A safety-range cut counts only when neither end is reached.
            if pending and not (reached.get(True, False) or reached.get(False, False)):
                cuts.extend(pending)
                new += len(pending)
        if new == 0:
            messages.append(f"optimal: {rnd + 1} round(s), {len(cuts)} cut(s)")
            if res.status != 0:
                messages.append(f"optimal: integer program not proved optimal ({res.message})")
            break
    else:
        messages.append("optimal: cut rounds exhausted; finishing heuristically")
    if x is None:
        return best, messages, best_found
    suppressed = {int(j) for j in np.flatnonzero(x[:n] > 0.5)} | set(prob.primary)
    more, found = _repair(prob, suppressed)
    messages += more
    if float(prob.cost[sorted(suppressed)].sum()) > best_cost:
        messages.append("optimal: kept the cheaper heuristic pattern")
        return best, messages, best_found
    return suppressed, messages, found


# ---------------------------------------------------------------------------------------
# Entry point


def protect(
    table: LinearTable,
    primary: set[int],
    policy: ProtectionPolicy | Any,
    method: str = "auto",
    *,
    counts: bool | None = None,
    minimum: float | None = None,
    cost: str | np.ndarray = "value",
    time_limit: float = 30.0,
    intervals: str = "all",
    threshold_cells: set[int] | None = None,
    threshold: float | None = None,
    withheld: set[int] | None = None,
) -> ProtectionResult:
    """Choose secondary suppressions protecting every primary cell; audit them.

    ``method`` is ``"optimal"``, ``"heuristic"`` or ``"auto"`` (see the module
    docstring). ``counts``/``minimum`` set the least protection (see Choices); ``cost``
    is ``"value"`` (default), ``"count"`` or one non-negative number per cell;
    ``time_limit`` bounds the optimal method's search (seconds; past it the
    best protected pattern found is returned and the messages say so). ``intervals`` is ``"all"``
    (exact attacker interval for every withheld cell), ``"primary"`` (primaries only:
    much faster on large tables) or ``"audit"`` (each primary's interval only as far
    as the audit needs: fastest, and still audited).

    ``threshold_cells`` are the primaries withheld by the threshold (minimum
    frequency) rule: each must also keep its safety range, an attacker's interval
    reaching 0 or reaching ``threshold`` (default: the policy's, see
    :func:`policy_threshold`).

    ``withheld`` are cells withheld for a reason of their own that need no protection
    (a missing value, see :func:`complete_missing`): they stay withheld, and an
    attacker's interval for them is not required to reach anywhere.

    The pattern returned is always the one the last audit passed: the audit is part
    of the search (it decides when to stop), and it is run again here if the pattern
    differs from the one it passed.

    Raises :class:`SuppressionInfeasible` when no pattern can protect a primary, and
    ``RuntimeError`` if the final audit fails (it never returns an unprotected table).
    """
    primary = {int(p) for p in primary}
    if any(p < 0 or p >= table.size for p in primary):
        raise ValueError("primary cell ids must be in 0..table.size-1")
    if method == "auto":
        method = "optimal" if table.size <= OPTIMAL_MAX_CELLS else "heuristic"
    if method not in ("optimal", "heuristic"):
        raise ValueError(f"unknown method {method!r}: use 'optimal', 'heuristic' or 'auto'")
    if intervals not in ("all", "primary", "audit"):
        raise ValueError("intervals must be 'all', 'primary' or 'audit'")
    withheld = {int(c) for c in withheld or ()} - primary
    if any(c < 0 or c >= table.size for c in withheld):
        raise ValueError("withheld cell ids must be in 0..table.size-1")
    required = required_for(table, primary, policy, counts=counts, minimum=minimum)
    if withheld:
        # Withheld, protection not sought: any interval holding the value will do.
        required |= {c: (float(table.values[c]), float(table.values[c])) for c in withheld}
    sensitive = len(primary)
    primary = primary | withheld
    threshold_cells = {int(c) for c in threshold_cells or ()}
    if not threshold_cells <= primary:
        raise ValueError("threshold_cells must be among the primary cells")
    frequency: dict[int, tuple[float, float]] = {}
    if threshold_cells:
        t = policy_threshold(policy) if threshold is None else float(threshold)
        frequency = frequency_for(table, threshold_cells, t)
    if not primary:
        return ProtectionResult(set(), set(), {}, method, True, ["no primary cells"])
    prob = _problem(table, primary, required, cost, frequency)
    if method == "optimal":
        suppressed, messages, audited = _optimal(prob, time_limit)
    else:
        suppressed, messages, audited = _heuristic(prob)
    # The audit, which cannot be skipped: the search's last audit if it was of this
    # very pattern (every cell's interval as far as needed), else a new one.
    if set(audited) != primary or not _audited_pattern_is(prob, suppressed):
        audited = audit_intervals(table, suppressed, required, frequency)
    if intervals == "audit":
        # Only as far as the audit needs: a side shown to reach past its requirement
        # is not solved to its end (the entry is then an inner bound).
        found = audited
    else:
        shown = suppressed if intervals == "all" else primary
        found = attacker_intervals(table, suppressed, cells=shown)
    failures = [
        f"cell {p} ({table.label(p)}): attacker interval {audited[p]}, required {required[p]}"
        for p in sorted(primary)
        if not interval_ok(audited[p], required[p], float(table.values[p]))
    ] + [
        f"cell {p} ({table.label(p)}): attacker interval {audited[p]} reaches neither 0 "
        f"nor the threshold {frequency[p][1]:g}"
        for p in sorted(frequency)
        if not frequency_ok(audited[p], frequency[p])
    ]
    if failures:  # pragma: no cover - _repair has already audited the pattern
        raise RuntimeError("secondary suppression failed its audit: " + "; ".join(failures))
    messages.append(
        f"audited: {sensitive} primary cell(s) protected"
        + (
            f", {len(frequency)} of them kept within reach of 0 or the threshold"
            if frequency
            else ""
        )
    )
    return ProtectionResult(
        suppressed=suppressed,
        secondary=suppressed - primary,
        intervals=found,
        method=method,
        audited=True,
        messages=messages,
    )
