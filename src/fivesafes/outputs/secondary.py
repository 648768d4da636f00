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
    primary can move by its protection level both ways. Then the attacker's programs
    are solved (:func:`~fivesafes.outputs.audit_lp.audit_intervals`) and for each
    primary still short a "cheapest cycle" linear program finds a deviation of the
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
* Only protection-interval (upper/lower level) disclosure is checked; singleton and
  threshold rules (sdcTable's ``detectSingletons`` and ``threshold``) are not.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from fivesafes.errors import FivesafesError
from fivesafes.outputs.audit_lp import (
    attacker_intervals,
    audit_intervals,
    equality_matrix_sparse,
    interval_ok,
)
from fivesafes.outputs.linear import LinearTable, ProtectionResult, required_protection

__all__ = [
    "OPTIMAL_MAX_CELLS",
    "ProtectionPolicy",
    "SuppressionInfeasible",
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

    The policy's ``threshold`` (the primary rule's minimum count) is not needed here.
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


def _problem(
    table: LinearTable,
    primary: set[int],
    required: dict[int, tuple[float, float]],
    cost: str | np.ndarray,
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


def _local_pass(prob: _Problem, suppressed: set[int]) -> None:
    """Give every equation through a primary enough withheld room (cheapest cells)."""
    eqs = _equations_of(prob.table)
    for p in prob.primary:
        for eq in eqs[p]:
            for up in (True, False):
                need = prob.need_up[p] if up else prob.need_down[p]
                if need <= 0:
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


def _cheapest_cycle(prob: _Problem, suppressed: set[int], p: int, up: bool) -> set[int]:
    """Cells to withhold so that ``p`` can move by its protection level (one way).

    Minimise the cost of the published cells a feasible deviation of the table moves
    (per unit of room), with ``p`` moved by its full protection level; every cell that
    moves must be withheld. The deviation itself shows the result is protected.
    """
    n = prob.table.size
    need = prob.need_up[p] if up else prob.need_down[p]
    mask = np.zeros(n, dtype=bool)
    mask[list(suppressed)] = True
    usable_up = np.minimum(prob.up_room, need)
    usable_down = np.minimum(prob.down_room, need)
    w_up = np.where(mask, 0.0, prob.cost / np.maximum(usable_up, 1e-12))
    w_down = np.where(mask, 0.0, prob.cost / np.maximum(usable_down, 1e-12))
    # Variables: d_plus (n), d_minus (n). A (d_plus - d_minus) = 0.
    a_eq = sp.hstack([prob.a, -prob.a]).tocsr()
    b_eq = np.zeros(prob.a.shape[0])
    ub = np.concatenate([prob.up_room, prob.down_room])
    lb = np.zeros(2 * n)
    if up:
        lb[p] = ub[p] = need
        ub[n + p] = 0.0
    else:
        lb[n + p] = ub[n + p] = need
        ub[p] = 0.0
    res = linprog(
        np.concatenate([w_up, w_down]),
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=np.column_stack([lb, ub]),
        method="highs",
    )
    if res.status != 0:
        raise SuppressionInfeasible(
            f"cell {p} ({prob.table.label(p)}) cannot be protected: no pattern of withheld "
            f"cells lets it move {'up' if up else 'down'} by {need:g} within the cells' bounds"
        )
    x = np.asarray(res.x)
    dev = np.abs(x[:n] - x[n:])
    tol = 1e-9 * max(1.0, need)
    return {int(j) for j in np.flatnonzero(dev > tol)}


def _repair(prob: _Problem, suppressed: set[int], max_rounds: int = 50) -> list[str]:
    """Audit; add cheapest-cycle cells for every primary short of protection; repeat."""
    messages: list[str] = []
    for _ in range(max_rounds):
        found = audit_intervals(prob.table, suppressed, prob.required)
        short = [
            p
            for p in prob.primary
            if not interval_ok(found[p], prob.required[p], float(prob.values[p]))
        ]
        if not short:
            return messages
        messages.append(f"audit: {len(short)} primary cell(s) short of protection; repairing")
        for p in short:
            lo, hi = found[p]
            req_lo, req_hi = prob.required[p]
            tol = 1e-7 * max(1.0, abs(float(prob.values[p])))
            if hi < req_hi - tol:
                suppressed |= _cheapest_cycle(prob, suppressed, p, up=True)
            if lo > req_lo + tol:
                suppressed |= _cheapest_cycle(prob, suppressed, p, up=False)
    raise RuntimeError("secondary suppression did not converge")  # pragma: no cover


def _heuristic(prob: _Problem) -> tuple[set[int], list[str]]:
    suppressed = set(prob.primary)
    _local_pass(prob, suppressed)
    messages = [f"heuristic: {len(suppressed) - len(prob.primary)} cell(s) after equation pass"]
    messages += _repair(prob, suppressed)
    return suppressed, messages


# ---------------------------------------------------------------------------------------
# Optimal (Fischetti–Salazar by cut generation)


def _attacker_dual_cut(
    prob: _Problem, y: np.ndarray, p: int, up: bool
) -> tuple[float, np.ndarray | None]:
    """Solve the attacker's program for ``p`` over pattern ``y``; return (reach, cut).

    ``reach`` is how far ``p`` can move (up or down). When it falls short of the
    protection level, ``cut`` holds the coefficients of the violated
    Fischetti–Salazar inequality ``cut @ y >= need``.
    """
    n = prob.table.size
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


def _single_equation_cuts(prob: _Problem) -> list[tuple[np.ndarray, float]]:
    cuts: list[tuple[np.ndarray, float]] = []
    eqs = _equations_of(prob.table)
    n = prob.table.size
    for p in prob.primary:
        for eq in eqs[p]:
            for up in (True, False):
                need = prob.need_up[p] if up else prob.need_down[p]
                if need <= 0:
                    continue
                cells, rooms = _equation_helpers(prob, p, eq, up)
                row = np.zeros(n)
                np.add.at(row, cells, np.minimum(rooms, need))
                row[p] = 0.0
                cuts.append((np.minimum(row, need), need))
    return cuts


def _optimal(prob: _Problem, time_limit: float) -> tuple[set[int], list[str]]:
    """Cut generation from a heuristic upper bound, within ``time_limit`` seconds.

    The heuristic pattern is computed first; its cost bounds the integer program
    (``cost @ y <= heuristic cost``). If that program becomes infeasible the heuristic
    pattern is optimal; if time runs out the cheaper of the heuristic pattern and the
    repaired current solution is returned (and the messages say so).
    """
    deadline = time.monotonic() + time_limit
    best, messages = _heuristic(prob)
    best_cost = float(prob.cost[sorted(best)].sum())
    n = prob.table.size
    lb = np.zeros(n)
    lb[prob.primary] = 1.0
    cuts = _single_equation_cuts(prob)
    cutoff = LinearConstraint(prob.cost.reshape(1, -1), -np.inf, best_cost)
    y: np.ndarray | None = None
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
            prob.cost,
            integrality=np.ones(n),
            bounds=Bounds(lb, np.ones(n)),
            constraints=cons,
            options={"time_limit": remaining},
        )
        if res.status == 2:  # nothing cheaper than the heuristic pattern is protected
            messages.append(f"optimal: heuristic pattern proved optimal after {rnd} round(s)")
            return best, messages
        if res.x is None:
            messages.append(f"optimal: solver stopped ({res.message}); finishing heuristically")
            break
        y = np.round(np.asarray(res.x))
        new = 0
        for p in prob.primary:
            for up in (True, False):
                need = prob.need_up[p] if up else prob.need_down[p]
                if need <= 0:
                    continue
                _, cut = _attacker_dual_cut(prob, y, p, up)
                if cut is not None and cut @ y < need - 1e-9:
                    cuts.append((cut, need))
                    new += 1
        if new == 0:
            messages.append(f"optimal: {rnd + 1} round(s), {len(cuts)} cut(s)")
            if res.status != 0:
                messages.append(f"optimal: integer program not proved optimal ({res.message})")
            break
    else:
        messages.append("optimal: cut rounds exhausted; finishing heuristically")
    if y is None:
        return best, messages
    suppressed = {int(j) for j in np.flatnonzero(y > 0.5)} | set(prob.primary)
    messages += _repair(prob, suppressed)
    if float(prob.cost[sorted(suppressed)].sum()) > best_cost:
        messages.append("optimal: kept the cheaper heuristic pattern")
        return best, messages
    return suppressed, messages


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
    required = required_for(table, primary, policy, counts=counts, minimum=minimum)
    if not primary:
        return ProtectionResult(set(), set(), {}, method, True, ["no primary cells"])
    prob = _problem(table, primary, required, cost)
    if method == "optimal":
        suppressed, messages = _optimal(prob, time_limit)
    else:
        suppressed, messages = _heuristic(prob)
    # The audit: exact attacker intervals, checked against every protection interval.
    if intervals == "audit":
        # Only as far as the audit needs: a side shown to reach past its requirement
        # is not solved to its end (the entry is then an inner bound).
        found = audit_intervals(table, suppressed, required)
    else:
        shown = suppressed if intervals == "all" else primary
        found = attacker_intervals(table, suppressed, cells=shown)
    failures = [
        f"cell {p} ({table.label(p)}): attacker interval {found[p]}, required {required[p]}"
        for p in sorted(primary)
        if not interval_ok(found[p], required[p], float(table.values[p]))
    ]
    if failures:  # pragma: no cover - _repair has already audited the pattern
        raise RuntimeError("secondary suppression failed its audit: " + "; ".join(failures))
    messages.append(f"audited: {len(primary)} primary cell(s) protected")
    return ProtectionResult(
        suppressed=suppressed,
        secondary=suppressed - primary,
        intervals=found,
        method=method,
        audited=True,
        messages=messages,
    )
