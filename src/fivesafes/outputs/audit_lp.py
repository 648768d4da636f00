"""What an attacker can work out about suppressed cells: the audit.

An attacker who sees a table with some cells withheld knows every published cell
exactly, knows the equations that tie cells to their totals, and knows a priori
bounds on every cell (by default non-negative, unbounded above; a cell that can be
negative has a lower bound of its own, see :mod:`fivesafes.outputs.check`). For a
withheld cell the best they can do is the *feasible interval*: the minimum and
maximum of its value over every solution of those equations. Both ends are linear
programs (:func:`scipy.optimize.linprog`, HiGHS).

The problem is reduced before it is solved: published cells become constants, only
the equations that involve a withheld cell are kept, and the withheld cells are split
into connected components (two cells are connected when they share an equation);
each component is solved on its own.

:func:`audit_intervals` (and :func:`audit`, which words its findings) needs to know
only whether each interval reaches far enough, not where it ends, and proves that
with **certificates**: a table the attacker cannot rule out (every equation holds,
every cell within its bounds, published cells at their true values) in which the
cell lies at or beyond the required end shows that end is reached, since the
feasible set is convex. Certificates come from linear programs that push many
unproved cells at once (random positive weights on the cells still to prove, each
towards its side), then, for what is left, from one program per cell and side,
which is also the exact answer when the side falls short. Every point is checked
against the equations and bounds before it counts, so a certificate never rests on
the solver's word alone. The programs of a component share one HiGHS model
(:mod:`highspy`), re-solved from the previous basis as the objective changes.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components
from threadpoolctl import threadpool_limits

from fivesafes.outputs.linear import LinearTable

__all__ = [
    "attacker_intervals",
    "audit",
    "audit_intervals",
    "equality_matrix_sparse",
    "frequency_ok",
    "interval_ok",
    "silent_highs",
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


def _solve(
    comp: _Component, j: int, sense: float, solver: _Solver | None = None
) -> tuple[float, np.ndarray | None]:
    """Minimise ``sense * x_j`` over the component; return (optimum of x_j, solution).

    With ``solver`` (the component's warm-started model) HiGHS re-solves from its
    last basis; without, :func:`scipy.optimize.linprog` solves from scratch.
    """
    if comp.a_eq is None:
        return (comp.lo[j] if sense > 0 else comp.hi[j]), None
    c = np.zeros(len(comp.cells))
    c[j] = sense
    if solver is not None:
        x = solver.solve(c)
        if x is None:
            return (-np.inf if sense > 0 else np.inf), None
        return float(x[j]), x
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
        # Many programs over one component: one model, re-solved from its last basis.
        solver = _Solver(comp) if comp.a_eq is not None and len(js) > 2 else None
        his: dict[int, float] = {}
        for j in js:
            if at_hi[j]:
                his[j] = float(comp.hi[j])
                continue
            his[j], x = _solve(comp, j, -1.0, solver)
            if x is not None:
                at_lo |= np.isclose(x, comp.lo, rtol=0.0, atol=1e-9)
                at_hi |= np.isclose(x, comp.hi, rtol=0.0, atol=1e-9)
        for j in js:
            if at_lo[j]:
                lo = float(comp.lo[j])
            else:
                lo, x = _solve(comp, j, 1.0, solver)
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


def frequency_ok(interval: tuple[float, float], reach: tuple[float, float]) -> bool:
    """Whether a feasible interval reaches ``reach[0]`` below or ``reach[1]`` above.

    The threshold rule's safety range (see :mod:`fivesafes.outputs.secondary`): a
    count withheld for being under the threshold must be able to be 0 or to be at
    least the threshold, so ``reach == (0, threshold)``.
    """
    tol = _tolerance(max(abs(reach[0]), abs(reach[1]), 1.0))
    return interval[0] <= reach[0] + tol or interval[1] >= reach[1] - tol


_BANNER_LOCK = threading.Lock()
_banner_shown = False


def silent_highs() -> highspy.Highs:
    """A silent HiGHS instance.

    HiGHS prints its banner to the process's standard output (file descriptor 1,
    from C++) the first time one is made, before any option can turn it off; that
    would corrupt a command's JSON output, so the first is made with descriptor 1
    pointed at the null device.
    """
    global _banner_shown
    with _BANNER_LOCK:
        if _banner_shown:
            h = highspy.Highs()  # type: ignore[no-untyped-call]
        else:
            sys.stdout.flush()
            saved = os.dup(1)
            try:
                with open(os.devnull, "w") as null:
                    os.dup2(null.fileno(), 1)
                    h = highspy.Highs()  # type: ignore[no-untyped-call]
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            _banner_shown = True
    h.setOptionValue("output_flag", False)
    return h


#: The statuses a solve can end with that answer the attacker's question.
_SETTLED = (
    highspy.HighsModelStatus.kOptimal,
    highspy.HighsModelStatus.kUnbounded,
    highspy.HighsModelStatus.kUnboundedOrInfeasible,
)


class _Solver:
    """One component's attacker programs in one HiGHS model, warm-started.

    Only the objective changes between solves, so each re-solve starts from the
    previous optimal basis (still primal feasible) instead of from scratch.
    """

    def __init__(self, comp: _Component) -> None:
        assert comp.a_eq is not None
        self.comp = comp
        k = len(comp.cells)
        a = comp.a_eq.tocsc()
        lp = highspy.HighsLp()
        lp.num_col_ = k
        lp.num_row_ = a.shape[0]
        lp.col_cost_ = np.zeros(k)
        lp.col_lower_ = np.asarray(comp.lo, dtype=float)
        lp.col_upper_ = np.where(np.isinf(comp.hi), highspy.kHighsInf, comp.hi).astype(float)
        lp.row_lower_ = np.asarray(comp.b_eq, dtype=float)
        lp.row_upper_ = np.asarray(comp.b_eq, dtype=float)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data.astype(float)
        h = silent_highs()
        h.setOptionValue("presolve", "off")
        h.passModel(lp)
        self.h = h
        self.a = comp.a_eq.tocsr()
        self.cost = np.zeros(k)
        self.all = np.arange(k, dtype=np.int32)

    def solve(self, cost: np.ndarray) -> np.ndarray | None:
        """Minimise ``cost @ x``; the optimal point, or None when unbounded."""
        changed = np.flatnonzero(cost != self.cost)
        if len(changed):
            self.h.changeColsCost(len(changed), changed.astype(np.int32), cost[changed])
            self.cost = cost.copy()
        self.h.run()
        status = self.h.getModelStatus()
        if status not in _SETTLED:
            # A warm start can end without a status (HiGHS reports "Unknown", seen
            # on small degenerate tables): solve this objective again from scratch,
            # with presolve, before giving up.
            self.h.clearSolver()
            self.h.setOptionValue("presolve", "on")
            try:
                self.h.run()
            finally:
                self.h.setOptionValue("presolve", "off")
            status = self.h.getModelStatus()
        if status in (
            highspy.HighsModelStatus.kUnbounded,
            highspy.HighsModelStatus.kUnboundedOrInfeasible,  # the true table is feasible
        ):
            return None
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(
                f"attacker linear program failed: {self.h.modelStatusToString(status)}"
            )
        return np.asarray(self.h.getSolution().col_value, dtype=float)

    def feasible(self, x: np.ndarray) -> bool:
        """Whether ``x`` satisfies the component's equations and bounds (a certificate)."""
        comp = self.comp
        scale = max(1.0, float(np.max(np.abs(comp.b_eq))) if len(comp.b_eq) else 1.0)
        tol = 1e-7 * scale
        return bool(
            np.all(x >= comp.lo - tol)
            and np.all(x <= comp.hi + tol)
            and np.all(np.abs(self.a @ x - comp.b_eq) <= tol)
        )


#: Cycle certificates are skipped for components whose dense equation matrix would
#: exceed this many entries (the programs alone then prove the intervals).
_CYCLES_MAX_ENTRIES = 2_000_000


def _cycle_reach(
    comp: _Component, values: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """How far each cell can move up and down round one cycle from the true table.

    Choose a basis of the equations' columns, preferring cells with the most room
    (columns scaled by ``weight``; Gaussian elimination with partial pivoting on the
    transposed matrix proposes cells, a QR with column pivoting of those picks an
    independent set).
    Every other cell ``c`` has one cycle through it, the direction ``d`` with
    ``d_c = 1``, zero at the other non-basic cells and ``A d = 0`` (in a two-way
    table, the fundamental cycle of a spanning tree); moving along it keeps every
    equation, and the ratio test gives how far it can go before a cell hits a bound.
    Returns ``(basic, up, down)``: the basic cells (not covered), and per cell the
    move up and down along its cycle (0 for basic cells); None when the directions
    do not check out (``A d`` not 0 to within rounding).
    """
    assert comp.a_eq is not None
    import scipy.linalg as la

    a = comp.a_eq.toarray()
    r, k = a.shape
    if r == 0 or k == 0:
        return None
    w = np.maximum(weight, 1e-9)
    # Candidates: the pivots of an LU factorisation (fast, but not rank-revealing
    # when equations are redundant, as a table's margins make them) ...
    perm, _, _ = la.lu((a * w[None, :]).T, p_indices=True)
    pivot_of_step = np.empty(k, dtype=np.int64)
    pivot_of_step[perm] = np.arange(k)  # A = L[perm] @ U: step j's pivot row
    cands = pivot_of_step[: min(k, r)]
    # ... then a rank-revealing QR of the candidates' columns alone (small).
    q, rr, piv = la.qr(a[:, cands] * w[cands][None, :], mode="economic", pivoting=True)
    diag = np.abs(np.diag(rr))
    if len(diag) == 0 or diag[0] == 0:
        return None
    rank = int(np.sum(diag > 1e-9 * diag[0]))
    basic = cands[piv[:rank]]
    is_basic = np.zeros(k, dtype=bool)
    is_basic[basic] = True
    non = np.flatnonzero(~is_basic)
    up = np.zeros(k)
    down = np.zeros(k)
    if len(non) == 0:
        return basic, up, down
    # A_B @ d == A_N, solved through the QR (A_B W_B = Q R).
    d = la.solve_triangular(rr[:rank, :rank], q[:, :rank].T @ a[:, non]) * w[basic][:, None]
    resid = np.abs(a[:, basic] @ d - a[:, non])
    if resid.size and float(resid.max()) > 1e-8 * max(1.0, float(np.abs(d).max())):
        return None  # the candidates missed part of the column space
    lo, hi = comp.lo, comp.hi
    v = values
    room_dn = (v - lo)[basic][:, None]  # how far a basic cell can fall
    room_up = (hi - v)[basic][:, None]
    eps = 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        # Non-basic c up by t: basic cells move by -t·d.
        lim_up = np.where(d > eps, room_dn / d, np.where(d < -eps, room_up / -d, np.inf))
        lim_dn = np.where(d < -eps, room_dn / -d, np.where(d > eps, room_up / d, np.inf))
    t_up = np.minimum((hi - v)[non], lim_up.min(axis=0) if rank else np.inf)
    t_dn = np.minimum((v - lo)[non], lim_dn.min(axis=0) if rank else np.inf)
    shrink = 1.0 - 1e-9  # stay strictly inside the bounds the ratio test found
    up[non] = np.maximum(t_up, 0.0) * shrink
    down[non] = np.maximum(t_dn, 0.0) * shrink
    return basic, up, down


#: Batched certificate rounds stop once a round proves fewer than this share of
#: what is left (the rest is solved one program per cell and side).
_BATCH_MIN_SHARE = 0.02


def _audit_component(
    comp: _Component,
    pos: dict[int, int],
    wanted: list[int],
    values: np.ndarray,
    required: Mapping[int, tuple[float, float]],
    frequency: Mapping[int, tuple[float, float]],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """One component of :func:`audit_intervals`: (minimum, maximum) per wanted cell."""
    js = np.array([pos[c] for c in wanted], dtype=np.int64)
    v = values[comp.cells[js]]
    big = np.inf
    # Targets: reach_lo[i] (the minimum must get at or below it) and reach_hi[i].
    req_lo = np.array([required.get(c, (big, -big))[0] for c in wanted], dtype=float)
    req_hi = np.array([required.get(c, (big, -big))[1] for c in wanted], dtype=float)
    f_lo = np.array([frequency.get(c, (big, -big))[0] for c in wanted], dtype=float)
    f_hi = np.array([frequency.get(c, (big, -big))[1] for c in wanted], dtype=float)
    has_f = np.array([c in frequency for c in wanted], dtype=bool)
    tol = 1e-7 * np.maximum(1.0, np.abs(v))
    seen_min = v.copy()
    seen_max = v.copy()
    exact_min = np.zeros(len(wanted), dtype=bool)
    exact_max = np.zeros(len(wanted), dtype=bool)

    def pending() -> tuple[np.ndarray, np.ndarray]:
        """(cells whose minimum must still be pushed, whose maximum must)."""
        low_ok = (seen_min <= req_lo + tol) | exact_min
        high_ok = (seen_max >= req_hi - tol) | exact_max
        f_ok = (
            ~has_f | (seen_min <= f_lo + tol) | (seen_max >= f_hi - tol) | (exact_min & exact_max)
        )
        push_down = ~low_ok
        push_up = ~high_ok
        # The safety range: push towards 0 first; towards the threshold once the
        # minimum is known exactly (and short).
        fd = ~f_ok & ~exact_min
        fu = ~f_ok & exact_min & ~exact_max
        return push_down | fd, push_up | fu

    def take(x: np.ndarray) -> None:
        np.minimum(seen_min, x[js], out=seen_min)
        np.maximum(seen_max, x[js], out=seen_max)

    if comp.a_eq is None:  # no equation binds these cells: their a priori bounds
        seen_min = comp.lo[js].copy()
        seen_max = comp.hi[js].copy()
        exact_min[:] = exact_max[:] = True
    else:
        # Cycle certificates: one basis, a cycle per other cell (no program).
        cv = values[comp.cells]
        if comp.a_eq.shape[0] * len(comp.cells) <= _CYCLES_MAX_ENTRIES:
            weight = np.minimum(cv - comp.lo, comp.hi - cv) + 1e-3 * (1 + np.abs(cv))
            # A cell with no bound either way (one that can be negative, in a table
            # that does not say how far) gets the most room a bounded cell could have.
            big = 1e3 * (1.0 + float(np.max(np.abs(cv))))
            weight = np.where(np.isfinite(weight), weight, big)
            for _ in range(2):  # a second basis covers most of the first's cells
                # One BLAS thread: these factorisations are small, and threads
                # fighting over two busy cores made them 40 times slower.
                with threadpool_limits(1):
                    got = _cycle_reach(comp, cv, weight)
                if got is None:
                    break
                basic, reach_up, reach_dn = got
                np.maximum(seen_max, cv[js] + reach_up[js], out=seen_max)
                np.minimum(seen_min, cv[js] - reach_dn[js], out=seen_min)
                down, up = pending()
                if not (down.any() or up.any()):
                    break
                weight = weight.copy()
                weight[basic] *= 1e-6
        solver = _Solver(comp)
        down, up = pending()
        # Batched rounds: one program pushes many unproved cells at once.
        while down.any() or up.any():
            before = int(down.sum() + up.sum())
            cost = np.zeros(len(comp.cells))
            w = rng.uniform(0.5, 1.5, size=len(wanted))
            cost[js[down]] += w[down]
            cost[js[up]] -= w[up]
            x = solver.solve(cost)
            if x is None or not solver.feasible(x):
                break
            take(x)
            down, up = pending()
            proved = before - int(down.sum() + up.sum())
            if proved < max(1, _BATCH_MIN_SHARE * before):
                break
        # One program per cell and side for what is left: exact where short.
        while True:
            down, up = pending()
            if not (down.any() or up.any()):
                break
            sense = 1.0 if down.any() else -1.0
            i = int(np.flatnonzero(down if sense > 0 else up)[0])
            cost = np.zeros(len(comp.cells))
            cost[js[i]] = sense
            x = solver.solve(cost)
            if x is None:  # unbounded: the cell can go to its a priori bound
                if sense > 0:
                    seen_min[i] = float(comp.lo[js[i]])
                    exact_min[i] = True
                else:
                    seen_max[i] = np.inf
                    exact_max[i] = True
                continue
            if not solver.feasible(x):
                raise RuntimeError("attacker linear program returned an infeasible point")
            take(x)
            if sense > 0:
                seen_min[i] = min(seen_min[i], float(x[js[i]]))
                exact_min[i] = True
            else:
                seen_max[i] = max(seen_max[i], float(x[js[i]]))
                exact_max[i] = True
    return seen_min, seen_max


def audit_intervals(
    table: LinearTable,
    suppressed: set[int],
    required: Mapping[int, tuple[float, float]],
    frequency: Mapping[int, tuple[float, float]] | None = None,
    seed: int = 0,
) -> dict[int, tuple[float, float]]:
    """Each required cell's attacker interval, far enough to judge it.

    ``required[c] = (lo, hi)``: the attacker's minimum must be at most ``lo`` and the
    maximum at least ``hi``. ``frequency[c] = (zero, threshold)``, for cells withheld
    by the threshold rule: the minimum must also be at most ``zero`` *or* the maximum
    at least ``threshold``. A side shown to reach far enough by a feasible table (a
    certificate: see the module docstring) is not solved to its end, so its entry is
    then an inner bound, a value the attacker cannot rule out; a side that falls
    short is solved exactly. ``seed`` fixes the random weights of the batched rounds.
    """
    frequency = frequency or {}
    wanted_all = set(required) | set(frequency)
    missing = wanted_all - set(suppressed)
    if missing:
        raise ValueError(f"cells {sorted(missing)} need protection but are not suppressed")
    values = np.asarray(table.values, dtype=float)
    rng = np.random.default_rng(seed)
    out: dict[int, tuple[float, float]] = {}
    for comp in _components(table, suppressed):
        pos = {int(c): j for j, c in enumerate(comp.cells)}
        wanted = [c for c in pos if c in wanted_all]
        if not wanted:
            continue
        seen_min, seen_max = _audit_component(comp, pos, wanted, values, required, frequency, rng)
        for i, c in enumerate(wanted):
            out[c] = (float(seen_min[i]), float(seen_max[i]))
    return out


def audit(
    table: LinearTable,
    suppressed: set[int],
    required: Mapping[int, tuple[float, float]],
    frequency: Mapping[int, tuple[float, float]] | None = None,
) -> list[str]:
    """The cells whose feasible interval is narrower than required, in plain words.

    ``required`` maps a cell to the interval an attacker must not be able to narrow:
    the cell passes when the attacker's minimum is at or below its lower end and the
    maximum at or above its upper end. ``frequency`` maps a cell withheld by the
    threshold rule to ``(0, threshold)``: it passes only if its interval also reaches
    0 or the threshold (:func:`frequency_ok`). An empty list means the table is safe.
    """
    frequency = frequency or {}
    found = audit_intervals(table, suppressed, required, frequency)
    failures: list[str] = []
    for cell in sorted(frequency):
        lo, hi = found[cell]
        if not frequency_ok((lo, hi), frequency[cell]):
            zero, threshold = frequency[cell]
            failures.append(
                f"cell {cell} ({table.label(cell)}), value {table.values[cell]:g}: "
                f"an attacker can narrow it to [{lo:g}, {hi:g}], which shows that it is "
                f"above {zero:g} and under the threshold of {threshold:g}"
            )
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
