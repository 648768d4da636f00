"""What an attacker can work out about suppressed cells: the audit.

An attacker who sees a table with some cells withheld knows every published cell
exactly, knows the equations that tie cells to their totals, and knows a priori
bounds on every cell (by default non-negative, unbounded above). For a withheld cell
the best they can do is the *feasible interval*: the minimum and maximum of its value
over every solution of those equations. Both ends are linear programs
(:func:`scipy.optimize.linprog`, HiGHS).

The problem is reduced before it is solved: published cells become constants, only
the equations that involve a withheld cell are kept, and the withheld cells are split
into connected components (two cells are connected when they share an equation);
each component is solved on its own. :func:`audit` also skips every linear program
whose answer is already settled by a feasible point found while solving another one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from fivesafes.outputs.linear import LinearTable

__all__ = [
    "attacker_intervals",
    "audit",
    "audit_intervals",
    "equality_matrix_sparse",
    "interval_ok",
]


def equality_matrix_sparse(table: LinearTable) -> sp.csr_matrix:
    """The (constraints × cells) matrix A with ``A @ values == 0``, sparse.

    Row ``r`` has ``-1`` at the total of constraint ``r`` and ``+1`` at each part.
    """
    n_rows = len(table.constraints)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    if n_rows:
        totals = np.fromiter((t for t, _ in table.constraints), dtype=np.int64, count=n_rows)
        lengths = np.fromiter((len(p) for _, p in table.constraints), dtype=np.int64, count=n_rows)
        parts = np.fromiter(
            (p for _, ps in table.constraints for p in ps), dtype=np.int64, count=int(lengths.sum())
        )
        rows += [np.arange(n_rows), np.repeat(np.arange(n_rows), lengths)]
        cols += [totals, parts]
        vals += [-np.ones(n_rows), np.ones(len(parts))]
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    v = np.concatenate(vals) if vals else np.zeros(0)
    # Duplicates (a cell listed twice) are summed, as the equation means.
    return sp.csr_matrix((v, (r, c)), shape=(n_rows, table.size))


def _bounds(table: LinearTable) -> tuple[np.ndarray, np.ndarray]:
    n = table.size
    lo = np.zeros(n) if table.lower_bounds is None else np.asarray(table.lower_bounds, float)
    hi = np.full(n, np.inf) if table.upper_bounds is None else np.asarray(table.upper_bounds, float)
    return lo, hi


@dataclass
class _Component:
    cells: np.ndarray  # table cell ids, sorted
    a_eq: sp.csr_matrix | None  # rows × len(cells); None when no equation binds them
    b_eq: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def _components(table: LinearTable, suppressed: Iterable[int]) -> list[_Component]:
    cells = np.array(sorted(set(suppressed)), dtype=np.int64)
    if len(cells) == 0:
        return []
    if np.any(cells < 0) or np.any(cells >= table.size):
        raise ValueError("suppressed cell ids must be in 0..table.size-1")
    lo_all, hi_all = _bounds(table)
    a = equality_matrix_sparse(table).tocsc()
    a_s = a[:, cells].tocsr()
    values = np.asarray(table.values, dtype=float)
    # Published cells are constants: their share moves to the right-hand side.
    # b = -A_published @ v_published = A_s @ v_s because A @ v == 0 on true values.
    b = a_s @ values[cells]
    used = np.flatnonzero(a_s.getnnz(axis=1) > 0)
    a_s = a_s[used]
    b = b[used]
    k, r = len(cells), len(used)
    # Bipartite graph: cells 0..k-1, rows k..k+r-1.
    coo = a_s.tocoo()
    graph = sp.coo_matrix((np.ones(coo.nnz), (coo.col, coo.row + k)), shape=(k + r, k + r)).tocsr()
    n_comp, label = connected_components(graph, directed=False)
    cell_label = label[:k]
    row_label = label[k:]
    order_c = np.argsort(cell_label, kind="stable")
    order_r = np.argsort(row_label, kind="stable")
    c_starts = np.searchsorted(cell_label[order_c], np.arange(n_comp + 1))
    r_starts = np.searchsorted(row_label[order_r], np.arange(n_comp + 1))
    out: list[_Component] = []
    for comp in range(n_comp):
        ci = order_c[c_starts[comp] : c_starts[comp + 1]]
        ri = order_r[r_starts[comp] : r_starts[comp + 1]]
        if len(ci) == 0:
            continue
        sub = a_s[ri][:, ci].tocsr() if len(ri) else None
        out.append(
            _Component(
                cells=cells[ci],
                a_eq=sub,
                b_eq=b[ri],
                lo=lo_all[cells[ci]],
                hi=hi_all[cells[ci]],
            )
        )
    return out


def _solve(comp: _Component, j: int, sense: float) -> tuple[float, np.ndarray | None]:
    """Minimise ``sense * x_j`` over the component; return (optimum of x_j, solution)."""
    if comp.a_eq is None:
        return (comp.lo[j] if sense > 0 else comp.hi[j]), None
    c = np.zeros(len(comp.cells))
    c[j] = sense
    res = linprog(
        c,
        A_eq=comp.a_eq,
        b_eq=comp.b_eq,
        bounds=np.column_stack([comp.lo, comp.hi]),
        method="highs",
    )
    if res.status == 3:  # unbounded
        return (-np.inf if sense > 0 else np.inf), None
    if res.status != 0:
        raise RuntimeError(f"attacker linear program failed: {res.message}")
    x = np.asarray(res.x, dtype=float)
    return float(x[j]), x


def attacker_intervals(
    table: LinearTable, suppressed: set[int], cells: Iterable[int] | None = None
) -> dict[int, tuple[float, float]]:
    """For each suppressed cell, the least and greatest value it can take.

    Over every assignment of the suppressed cells that satisfies all constraints with
    the published cells fixed at their true values and every cell within its a priori
    bounds (``table.lower_bounds``/``upper_bounds``; default ``[0, inf)``).
    ``(v, v)`` means the cell is exactly derivable; ``inf`` means unbounded above.
    ``cells`` limits the answer to some of the suppressed cells (default: all).
    """
    wanted = None if cells is None else {int(c) for c in cells}
    if wanted is not None and not wanted <= set(suppressed):
        raise ValueError("cells must be among the suppressed cells")
    out: dict[int, tuple[float, float]] = {}
    values = np.asarray(table.values, dtype=float)
    for comp in _components(table, suppressed):
        js = [j for j, c in enumerate(comp.cells) if wanted is None or int(c) in wanted]
        if not js:
            continue
        # A feasible point that puts a cell at its a priori bound settles that end of
        # its interval exactly, without a program of its own.
        at_lo = np.isclose(values[comp.cells], comp.lo)
        at_hi = np.isclose(values[comp.cells], comp.hi)
        his: dict[int, float] = {}
        for j in js:
            if at_hi[j]:
                his[j] = float(comp.hi[j])
                continue
            his[j], x = _solve(comp, j, -1.0)
            if x is not None:
                at_lo |= np.isclose(x, comp.lo, rtol=0.0, atol=1e-9)
                at_hi |= np.isclose(x, comp.hi, rtol=0.0, atol=1e-9)
        for j in js:
            if at_lo[j]:
                lo = float(comp.lo[j])
            else:
                lo, x = _solve(comp, j, 1.0)
                if x is not None:
                    at_hi |= np.isclose(x, comp.hi, rtol=0.0, atol=1e-9)
            out[int(comp.cells[j])] = (lo, his[j])
    return out


def _tolerance(value: float) -> float:
    return 1e-7 * max(1.0, abs(value))


def interval_ok(
    interval: tuple[float, float], required: tuple[float, float], value: float = 0.0
) -> bool:
    """Whether a feasible interval reaches at least as far as the required one."""
    tol = _tolerance(value if value else max(abs(required[0]), abs(required[1]), 1.0))
    return interval[0] <= required[0] + tol and interval[1] >= required[1] - tol


def audit_intervals(
    table: LinearTable,
    suppressed: set[int],
    required: dict[int, tuple[float, float]],
) -> dict[int, tuple[float, float]]:
    """Each required cell's attacker interval, far enough to judge it.

    A side already shown to reach past the requirement by a feasible point found while
    solving another program is not solved again: its entry is then an inner bound (a
    value the attacker cannot rule out), which is all the audit needs.
    """
    missing = set(required) - set(suppressed)
    if missing:
        raise ValueError(f"cells {sorted(missing)} need protection but are not suppressed")
    out: dict[int, tuple[float, float]] = {}
    for comp in _components(table, suppressed):
        pos = {int(c): j for j, c in enumerate(comp.cells)}
        wanted = [c for c in pos if c in required]
        if not wanted:
            continue
        # Feasible points seen so far: the true values always are one.
        values = np.asarray(table.values, dtype=float)
        seen_min = values[comp.cells].copy()
        seen_max = seen_min.copy()
        for cell in wanted:
            j = pos[cell]
            req_lo, req_hi = required[cell]
            tol = _tolerance(float(values[cell]))
            if seen_min[j] <= req_lo + tol:
                lo = float(seen_min[j])
            else:
                lo, x = _solve(comp, j, 1.0)
                if x is not None:
                    np.minimum(seen_min, x, out=seen_min)
                    np.maximum(seen_max, x, out=seen_max)
            if seen_max[j] >= req_hi - tol:
                hi = float(seen_max[j])
            else:
                hi, x = _solve(comp, j, -1.0)
                if x is not None:
                    np.minimum(seen_min, x, out=seen_min)
                    np.maximum(seen_max, x, out=seen_max)
            out[cell] = (lo, hi)
    return out


def audit(
    table: LinearTable,
    suppressed: set[int],
    required: dict[int, tuple[float, float]],
) -> list[str]:
    """The cells whose feasible interval is narrower than required, in plain words.

    ``required`` maps a cell to the interval an attacker must not be able to narrow:
    the cell passes when the attacker's minimum is at or below its lower end and the
    maximum at or above its upper end. An empty list means the table is safe.
    """
    found = audit_intervals(table, suppressed, required)
    failures: list[str] = []
    for cell in sorted(required):
        lo, hi = found[cell]
        if not interval_ok((lo, hi), required[cell], float(table.values[cell])):
            req_lo, req_hi = required[cell]
            failures.append(
                f"cell {cell} ({table.label(cell)}), value {table.values[cell]:g}: "
                f"an attacker can narrow it to [{lo:g}, {hi:g}], "
                f"but it must stay uncertain over at least [{req_lo:g}, {req_hi:g}]"
            )
    return failures
