"""A table as the attacker sees it: cell values tied by additive constraints.

Every table whose margins are published (one or more dimensions, hierarchies,
several tables sharing margins) is, to someone trying to recover a suppressed
cell, a set of unknowns bound by linear equations (each total is the sum of the
cells it totals) and by a priori bounds (by default non-negative: see
``lower_bounds``). :class:`LinearTable` is that view, shared by
primary checks (which cells are unsafe), secondary suppression (which others
must go too) and the audit (what an attacker can still work out).

Cells are numbered ``0..n-1``. ``constraints`` is a list of equations, each a
``(total_cell, [part_cells])`` pair meaning
``value[total_cell] == sum(value[p] for p in part_cells)``. A total may itself be
a part of a higher total (hierarchies), and one cell may appear in several
equations (margins of several dimensions, linked tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class LinearTable:
    values: np.ndarray  # float, one per cell (true values, never recomputed)
    constraints: list[tuple[int, list[int]]]  # (total cell, parts)
    labels: list[tuple[str, ...]] = field(default_factory=list)  # category values per cell
    lower_bounds: np.ndarray | None = None  # what an attacker knows a priori (default 0)
    upper_bounds: np.ndarray | None = None  # (default +inf)

    @property
    def size(self) -> int:
        return len(self.values)

    def check(self) -> None:
        """Raise ValueError unless every constraint holds on the true values."""
        for total, parts in self.constraints:
            if not np.isclose(self.values[total], self.values[list(parts)].sum()):
                raise ValueError(f"cell {total} ({self.label(total)}) is not the sum of its parts")

    def label(self, cell: int) -> str:
        return " × ".join(self.labels[cell]) if self.labels else str(cell)

    def equality_matrix(self) -> np.ndarray:
        """A (constraints × cells) matrix A with A @ values == 0."""
        a = np.zeros((len(self.constraints), self.size))
        for row, (total, parts) in enumerate(self.constraints):
            a[row, total] -= 1.0
            for p in parts:
                a[row, p] += 1.0
        return a


@dataclass
class ProtectionResult:
    """What secondary suppression decided, and the audit that backs it."""

    suppressed: set[int]  # primary and secondary cells, all withheld
    secondary: set[int]  # cells withheld only to protect others
    intervals: dict[int, tuple[float, float]]  # per suppressed cell: attacker's min, max
    method: str  # "heuristic" or "optimal"
    audited: bool  # every interval checked against the required protection
    messages: list[str] = field(default_factory=list)


def required_protection(
    values: np.ndarray,
    cells: Sequence[int],
    upper_percent: float,
    lower_percent: float,
    minimum: float = 0.0,
) -> dict[int, tuple[float, float]]:
    """The protection interval each sensitive cell needs: an attacker's feasible
    range must reach at least ``lower% × |value|`` below the value and
    ``upper% × |value|`` above it (and at least ``minimum`` either way): for a
    non-negative cell, ``value × (1 - lower%)`` to ``value × (1 + upper%)``."""
    out: dict[int, tuple[float, float]] = {}
    for c in cells:
        v = float(values[c])
        up = max(abs(v) * upper_percent / 100.0, minimum)
        down = max(abs(v) * lower_percent / 100.0, minimum)
        out[c] = (v - down, v + up)
    return out
