"""Disclosure by differencing: a new table checked against what a project released.

Every table a project releases goes into the project's **release ledger**: its
dimensions, the label and published value of every cell (withheld cells are kept
as withheld, rounded ones as rounded), and the **population** it counts. A new
frequency table is then checked against the ledger, because subtracting two
published tables can reveal a small cell neither shows: a re-run with a few more
people, a nested population, a geography made of the same areas and some more
(the handbook's "disclosure by differencing", see below).

A :class:`Population` says what a table counts: a ``universe`` (what a unit is,
e.g. "pupils in the school census, distinct persons": tables of different
universes are never compared) and ``conditions``, one set of allowed values per
field (the filter, and the base units such as area codes it covers); a field not
named is not restricted. Two populations nest when one's conditions are within
the other's.

How a check works (:func:`check_against_ledger`): the new table and every
released table of the same project, dimensions and universe whose population
overlaps the new one form a family. The fields on which their conditions differ
split the union of their populations into **atoms** (the base units that belong to
the same members of the family: for a re-run that added a month of births, the
old months and the added month; for two area aggregations, the areas in both, in
the first only and in the second only). Each atom's count in each cell is an
unknown, each published cell an equation (its value is the sum of the atoms its
population covers), and each margin an equation within every atom: the family is
one :class:`~fivesafes.outputs.linear.LinearTable` of linked tables, and
:func:`fivesafes.outputs.audit_lp.attacker_intervals` finds the least and greatest
value every atom's cell can take. A cell of an atom that can be worked out exactly
and is between 1 and ``threshold - 1`` is a disclosure, if the new table is needed
for it (a disclosure the earlier releases make by themselves is not the new
table's doing, and one the new table makes by itself is secondary suppression's
job): the new table's cell of that label is flagged, with a reason naming the
earlier release. A difference of 0 is not flagged: it says only that none of the
added people fall in that cell, and flagging every such zero would suppress most
of any re-run.

Where the linear system is too large or inconsistent (a re-run in which people
changed category, so that an "added" atom would be negative), the check falls
back to the plain pairwise difference of nested tables, cell by cell.

:func:`ledger_rule` turns the check into the ``differencing`` hook of
:func:`fivesafes.outputs.check.check`, which suppresses flagged cells (rule
``differencing``) and protects them from the margins by secondary suppression.
:func:`fivesafes.outputs.airlock.release` records every released table whose
check report has its cells.

Storage: one JSON-lines file per project, ``ledger/<project>.jsonl`` beside the
application's SQLite database (else under the state dir), one line per released
table, each line carrying the SHA-256 of the line before it (a hash chain, so
an edited or removed line shows). It is a file rather than a table of the
application database so that adding it needs no schema migration beside the
others' work; :class:`Ledger` is the only code that touches it.

Reference: Hundepool et al., *Handbook on Statistical Disclosure Control*, the
open edition at github.com/sdcTools/HandbookSDC (commit eef4a18), file
``chapters/05/_05-frequency-tables-02-Disclosure-risks.qmd`` (section "Disclosure
risks", ``#sec-DisclRisks_freq``): "A disclosure by differencing occurs when this
comparison of two or more tables enables a small cell (0, 1, or 2) to be
calculated", with the geographical differencing example of tables
``tbl-single-hh-hours``, ``tbl-single-hh-income`` and ``tbl-differenced-table``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
from scipy.linalg import null_space
from scipy.optimize import linprog
from sqlalchemy.orm import Session

from fivesafes.appdb.db import state_dir
from fivesafes.errors import FivesafesError
from fivesafes.outputs.audit_lp import attacker_intervals
from fivesafes.outputs.linear import LinearTable
from fivesafes.outputs.objects import Cells, OutputObject
from fivesafes.outputs.policy import Policy

LEDGER_FORMAT = "fivesafes.release-ledger/1"
LEDGER_DIR = "ledger"
#: Up to this many unknowns (atoms × cells), every interval is an exact linear program
#: (bounds included); above it, the equations' null space says what is pinned down.
MAX_LP_UNKNOWNS = 300
#: Past this many unknowns, only pairwise differences of nested tables are checked.
MAX_UNKNOWNS = 4000
#: Past this many base-unit combinations, the family is cut down to nested pairs.
MAX_POINTS = 20000
#: At most this many earlier releases are checked with a new table at once.
MAX_MEMBERS = 60
_OTHER = "\x00other"  # a value no condition names: "anything else"
_PROJECT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# --- populations ------------------------------------------------------------------------


@dataclass(frozen=True)
class Population:
    """What a table counts: ``universe`` (the kind of unit) and, per field, the
    values allowed (a field not named is not restricted)."""

    universe: str
    conditions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    description: str = ""

    @classmethod
    def of(cls, universe: str, description: str = "", **conditions: Any) -> Population:
        """``Population.of("pupils", "2019 census", academic_year=2019, area_code=[...])``:
        a single value or an iterable of values per field."""
        conds: dict[str, frozenset[str]] = {}
        for name, allowed in conditions.items():
            if isinstance(allowed, str | int | float) or not isinstance(allowed, Iterable):
                allowed = [allowed]
            conds[name] = frozenset(str(v) for v in allowed)
            if not conds[name]:
                raise FivesafesError(f"population condition {name!r} allows no value")
        return cls(universe, conds, description)

    def within(self, other: Population) -> bool:
        """Whether every unit of this population is in ``other``."""
        if self.universe != other.universe:
            return False
        for name, allowed in other.conditions.items():
            mine = self.conditions.get(name)
            if mine is None or not mine <= allowed:
                return False
        return True

    def overlaps(self, other: Population) -> bool:
        if self.universe != other.universe:
            return False
        for name in set(self.conditions) & set(other.conditions):
            if not self.conditions[name] & other.conditions[name]:
                return False
        return True

    def label(self) -> str:
        if self.description:
            return self.description
        parts = [f"{k} {_values(v)}" for k, v in sorted(self.conditions.items())]
        return f"{self.universe}" + (f" ({'; '.join(parts)})" if parts else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "universe": self.universe,
            "conditions": {k: sorted(v) for k, v in sorted(self.conditions.items())},
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Population:
        return cls(
            str(data["universe"]),
            {str(k): frozenset(str(x) for x in v) for k, v in data.get("conditions", {}).items()},
            str(data.get("description", "")),
        )


def _values(values: Iterable[str], most: int = 6) -> str:
    vs = sorted(v for v in values if v != _OTHER)
    other = any(v == _OTHER for v in values)
    shown = ", ".join(vs[:most]) + (f" and {len(vs) - most} more" if len(vs) > most else "")
    if other:
        shown = (shown + " and " if shown else "") + "any other value"
    return shown


# --- the ledger -------------------------------------------------------------------------


@dataclass
class ReleasedTable:
    """One table in the ledger: its cells as published, and its population."""

    project: str
    output: str
    dims: list[str]
    labels: list[tuple[str, ...]]
    values: list[float | None]  # as published; None where withheld
    exact: list[bool]  # False where the published value was rounded
    population: Population | None
    request_id: int | None = None
    released_at: str = ""
    released_by: str = ""
    policy: str = ""
    sha256: str = ""  # of its ledger line (set when read back or recorded)

    @property
    def name(self) -> str:
        where = f"request {self.request_id}, " if self.request_id is not None else ""
        when = f"released {self.released_at[:10]}" if self.released_at else "released earlier"
        return f"the table {self.output!r} ({where}{when})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": LEDGER_FORMAT,
            "project": self.project,
            "output": self.output,
            "request_id": self.request_id,
            "released_at": self.released_at,
            "released_by": self.released_by,
            "policy": self.policy,
            "dims": self.dims,
            "population": None if self.population is None else self.population.to_dict(),
            "cells": [
                {"labels": list(lab), "value": val, "exact": ex}
                for lab, val, ex in zip(self.labels, self.values, self.exact, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReleasedTable:
        cells = data["cells"]
        pop = data.get("population")
        return cls(
            project=str(data["project"]),
            output=str(data["output"]),
            dims=[str(d) for d in data["dims"]],
            labels=[tuple(str(x) for x in c["labels"]) for c in cells],
            values=[None if c["value"] is None else float(c["value"]) for c in cells],
            exact=[bool(c.get("exact", True)) for c in cells],
            population=None if pop is None else Population.from_dict(pop),
            request_id=data.get("request_id"),
            released_at=str(data.get("released_at", "")),
            released_by=str(data.get("released_by", "")),
            policy=str(data.get("policy", "")),
        )

    @classmethod
    def from_report(
        cls, project: str, output: str, report: Mapping[str, Any], **meta: Any
    ) -> ReleasedTable | None:
        """The ledger entry for a check report (``fivesafes.sdc.check/1``), or None if
        the report has no cells (a figure, a document, a model)."""
        cells = report.get("cells")
        if not isinstance(cells, list) or not cells or not isinstance(cells[0], Mapping):
            return None
        if not isinstance(cells[0].get("labels"), Mapping):
            return None
        dims = [str(d) for d in cells[0]["labels"]]
        labels, values, exact = [], [], []
        for c in cells:
            labels.append(tuple(str(c["labels"][d]) for d in dims))
            safe = c.get("safe_value")
            withheld = safe is None or c.get("status") == "suppress"
            values.append(None if withheld else float(safe))
            exact.append(not withheld and float(safe) == float(c.get("value", safe)))
        pop = report.get("population")
        policy = report.get("policy", {})
        return cls(
            project=project,
            output=output,
            dims=dims,
            labels=labels,
            values=values,
            exact=exact,
            population=Population.from_dict(pop) if isinstance(pop, Mapping) else None,
            policy=f"{policy.get('name', '')} {policy.get('version', '')}".strip(),
            **meta,
        )


def _file_name(project: str) -> str:
    """A project's ledger file name: the name itself, or a slug and a hash of it."""
    if _PROJECT.match(project):
        return project
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", project).strip("-")[:40] or "project"
    return f"{slug}-{hashlib.sha256(project.encode('utf-8')).hexdigest()[:12]}"


class Ledger:
    """The release ledgers of all projects: one JSON-lines file each in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @classmethod
    def for_session(cls, session: Session) -> Ledger:
        """The ledger beside the session's SQLite database file (else in the state dir)."""
        bind = session.get_bind()
        url = bind.engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return cls(Path(url.database).parent / LEDGER_DIR)
        return cls(state_dir() / LEDGER_DIR)

    def path(self, project: str) -> Path:
        return self.folder / f"{_file_name(project)}.jsonl"

    def entries(self, project: str) -> list[ReleasedTable]:
        """The project's released tables, oldest first; raises if the hash chain is broken."""
        path = self.path(project)
        if not path.exists():
            return []
        out, prev = [], ""
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise FivesafesError(f"{path}, line {n}: not JSON ({exc})") from None
            if data.get("prev", "") != prev:
                raise FivesafesError(
                    f"{path}, line {n}: the ledger's hash chain is broken (a line was edited "
                    "or removed); tell an administrator"
                )
            entry = ReleasedTable.from_dict(data)
            entry.sha256 = prev = hashlib.sha256(line.encode("utf-8")).hexdigest()
            out.append(entry)
        return out

    @contextlib.contextmanager
    def _locked(self, project: str) -> Iterator[Path]:
        path = self.path(project)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield path
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def record(self, entry: ReleasedTable) -> str:
        """Append ``entry`` to its project's ledger; returns the SHA-256 of its line."""
        with self._locked(entry.project) as path:
            existing = self.entries(entry.project)
            data = entry.to_dict()
            data["prev"] = existing[-1].sha256 if existing else ""
            line = json.dumps(data, sort_keys=True, separators=(",", ":"))
            with open(path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
                f.flush()
        entry.sha256 = hashlib.sha256(line.encode("utf-8")).hexdigest()
        return entry.sha256


def record_release(
    session: Session,
    project: str,
    request_id: int | None,
    outputs: Iterable[tuple[str, Mapping[str, Any] | None]],
    released_by: str = "",
) -> list[dict[str, str]]:
    """Record in the project's ledger every released output whose check report has
    its cells; returns ``[{"output", "sha256"}]`` for the audit log."""
    ledger = Ledger.for_session(session)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    recorded = []
    for name, report in outputs:
        if report is None:
            continue
        entry = ReleasedTable.from_report(
            project,
            name,
            report,
            request_id=request_id,
            released_at=now,
            released_by=released_by,
        )
        if entry is not None:
            recorded.append({"output": name, "sha256": ledger.record(entry)})
    return recorded


# --- the check --------------------------------------------------------------------------


@dataclass
class Finding:
    """A cell of the new table that, with an earlier release, gives away a small cell."""

    cell: int  # the new table's cell
    label: tuple[str, ...]
    derived: float  # the small count worked out
    release: str  # the earlier release, in words
    reason: str


@dataclass
class _Member:
    name: str
    population: Population
    values: dict[tuple[str, ...], float]  # published, exact values by label
    new: bool = False


def _family_points(
    members: Sequence[_Member],
) -> tuple[list[str], list[tuple[str, ...]], np.ndarray] | None:
    """The varying fields, every combination of their values, and which members
    cover each combination (points × members); None if there are too many."""
    fields: set[str] = set()
    for m in members:
        fields |= set(m.population.conditions)
    varying = sorted(
        f for f in fields if len({m.population.conditions.get(f) for m in members}) > 1
    )
    domains = []
    for f in varying:
        vals: set[str] = set()
        for m in members:
            c = m.population.conditions.get(f)
            vals |= set(c) if c is not None else {_OTHER}
        domains.append(sorted(vals))
    if int(np.prod([len(d) for d in domains])) > MAX_POINTS:
        return None
    points = list(product(*domains))
    cover = np.zeros((len(points), len(members)), dtype=bool)
    for j, m in enumerate(members):
        ok = np.ones(len(points), dtype=bool)
        for k, f in enumerate(varying):
            allowed = m.population.conditions.get(f)
            if allowed is not None:
                ok &= np.array([p[k] in allowed for p in points], dtype=bool)
        cover[:, j] = ok
    return varying, points, cover


@dataclass
class _Atom:
    members: tuple[bool, ...]
    points: list[tuple[str, ...]]


def _atoms(cover: np.ndarray, points: list[tuple[str, ...]]) -> list[_Atom]:
    groups: dict[tuple[bool, ...], list[tuple[str, ...]]] = {}
    for p, row in zip(points, cover, strict=True):
        key = tuple(bool(x) for x in row)
        if any(key):
            groups.setdefault(key, []).append(p)
    return [_Atom(k, v) for k, v in groups.items()]


def _describe_atom(atom: _Atom, varying: list[str], members: Sequence[_Member]) -> str:
    inside = [m.population.label() for m, c in zip(members, atom.members, strict=True) if c]
    outside = [m.population.label() for m, c in zip(members, atom.members, strict=True) if not c]
    parts = []
    for k, f in enumerate(varying):
        vals = {p[k] for p in atom.points}
        parts.append(f"{f} {_values(vals)}")
    words = "the units with " + "; ".join(parts) if parts else "the units"
    if outside:
        words += f" (in {inside[0]} but not in {outside[0]})"
    return words


class _System:
    """The family as one linear table: unknown atom cells, published equations."""

    def __init__(
        self,
        members: Sequence[_Member],
        atoms: Sequence[_Atom],
        labels: Sequence[tuple[str, ...]],
        constraints: Sequence[tuple[int, list[int]]],
    ) -> None:
        self.members, self.atoms, self.labels = list(members), list(atoms), list(labels)
        self.constraints = list(constraints)
        self.n_l = len(labels)
        self.n_x = len(atoms) * self.n_l
        self.index = {lab: i for i, lab in enumerate(labels)}

    def x(self, atom: int, label: int) -> int:
        return atom * self.n_l + label

    def equations(self, use: Sequence[bool]) -> tuple[list[list[int]], list[float]]:
        rows: list[list[int]] = []
        rhs: list[float] = []
        for j, m in enumerate(self.members):
            if not use[j]:
                continue
            covering = [a for a, at in enumerate(self.atoms) if at.members[j]]
            for lab, val in m.values.items():
                li = self.index.get(lab)
                if li is not None:
                    rows.append([self.x(a, li) for a in covering])
                    rhs.append(val)
        return rows, rhs

    def matrix(self, use: Sequence[bool]) -> tuple[np.ndarray, np.ndarray, int]:
        """The equations as ``A x = b`` (published cells first, then margins) and
        the number of published rows."""
        rows, rhs = self.equations(use)
        a = np.zeros((len(rows) + len(self.atoms) * len(self.constraints), self.n_x))
        b = np.zeros(a.shape[0])
        for r, (cols, v) in enumerate(zip(rows, rhs, strict=True)):
            a[r, cols] = 1.0
            b[r] = v
        r = len(rows)
        for at in range(len(self.atoms)):
            for total, parts in self.constraints:
                a[r, self.x(at, total)] = -1.0
                for p in parts:
                    a[r, self.x(at, p)] += 1.0
                r += 1
        return a, b, len(rows)

    def feasible(self) -> np.ndarray | None:
        a, b, _ = self.matrix([True] * len(self.members))
        res = linprog(np.zeros(self.n_x), A_eq=a, b_eq=b, bounds=(0, None), method="highs")
        if res.status != 0:
            return None
        return np.asarray(res.x, dtype=float)

    def intervals(
        self, x0: np.ndarray, use: Sequence[bool], wanted: Iterable[int]
    ) -> dict[int, tuple[float, float]]:
        """Each wanted unknown's least and greatest value (``(-inf, inf)`` where
        only "not exact" is known)."""
        if self.n_x > MAX_LP_UNKNOWNS:
            return self._determined(x0, use, wanted)
        rows, rhs = self.equations(use)
        values = np.concatenate([x0, np.asarray(rhs, dtype=float)])
        cons: list[tuple[int, list[int]]] = [
            (self.n_x + r, cols) for r, cols in enumerate(rows) if cols
        ]
        for at in range(len(self.atoms)):
            for total, parts in self.constraints:
                cons.append((self.x(at, total), [self.x(at, p) for p in parts]))
        labels = [(f"atom {a}", *lab) for a in range(len(self.atoms)) for lab in self.labels] + [
            (f"published {r}",) for r in range(len(rows))
        ]
        table = LinearTable(values=values, constraints=cons, labels=labels)
        return attacker_intervals(table, set(range(self.n_x)), cells=list(wanted))

    def _determined(
        self, x0: np.ndarray, use: Sequence[bool], wanted: Iterable[int]
    ) -> dict[int, tuple[float, float]]:
        """For large families, label by label without the margins: which atoms the
        published cells of one label pin down (the null space of that label's
        equations has no component on them), after fixing at 0 every atom in a
        published cell of 0. What only the margins or other bounds pin down is not
        seen here (secondary suppression protects a withheld cell from the new
        table's own margins)."""
        by_label: dict[int, list[int]] = {}
        for j in wanted:
            by_label.setdefault(j % self.n_l, []).append(j)
        covers = np.array(
            [[at.members[m] for at in self.atoms] for m in range(len(self.members))], dtype=float
        )
        out: dict[int, tuple[float, float]] = {}
        for li, cells in by_label.items():
            lab = self.labels[li]
            rows = [m for m, member in enumerate(self.members) if use[m] and lab in member.values]
            a = covers[rows]
            b = np.array([self.members[m].values[lab] for m in rows])
            zero = (a[b == 0] > 0).any(axis=0) if len(rows) else np.zeros(len(self.atoms), bool)
            keep = np.flatnonzero(~zero)
            free = np.ones(len(self.atoms), dtype=bool)
            free[zero] = False
            if len(keep) and len(rows):
                basis = null_space(a[:, keep])
                free[keep] = (
                    np.linalg.norm(basis, axis=1) > 1e-8
                    if basis.size
                    else np.zeros(len(keep), bool)
                )
            for j in cells:
                atom = j // self.n_l
                if zero[atom]:
                    out[j] = (0.0, 0.0)
                elif free[atom]:
                    out[j] = (-np.inf, np.inf)
                else:
                    v = float(np.round(x0[j], 6))
                    out[j] = (v, v)
        return out


def _exact_small(lo: float, hi: float, threshold: int) -> bool:
    return abs(hi - lo) < 1e-6 and 0.5 <= lo < threshold - 0.5


def _new_member(
    cells: Cells, withheld: set[int], population: Population
) -> tuple[_Member, list[tuple[str, ...]]]:
    labels = [tuple(str(x) for x in row) for row in cells.labels.itertuples(index=False)]
    values = {lab: float(cells.values[i]) for i, lab in enumerate(labels) if i not in withheld}
    return _Member("the new table", population, values, new=True), labels


def _released_members(
    released: Sequence[ReleasedTable], dims: list[str], population: Population
) -> list[tuple[_Member, ReleasedTable]]:
    # The family: the released tables of the same dimensions and universe linked to
    # the new one by a chain of overlapping populations (a table disjoint from the new
    # one can still isolate part of a table that overlaps it).
    candidates = [
        r
        for r in released
        if r.population is not None
        and sorted(r.dims) == sorted(dims)
        and r.population.universe == population.universe
    ]
    family: list[ReleasedTable] = []
    reached = [population]
    grew = True
    while grew and len(family) < MAX_MEMBERS:
        grew = False
        for r in candidates:
            pop = r.population
            if r in family or pop is None or not any(pop.overlaps(p) for p in reached):
                continue
            family.append(r)
            reached.append(pop)
            grew = True
    out = []
    for r in family[:MAX_MEMBERS]:
        if r.population is None:  # pragma: no cover - filtered out above
            continue
        order = [r.dims.index(d) for d in dims]
        values = {
            tuple(lab[k] for k in order): float(v)
            for lab, v, ex in zip(r.labels, r.values, r.exact, strict=True)
            if v is not None and ex
        }
        out.append((_Member(r.name, r.population, values), r))
    return out


def _reason(label: str, what: str, derived: float, threshold: int, release: str) -> str:
    people = "person" if derived == 1 else "people"
    return (
        f"with {release}, this cell gives away {what} in {label}: {derived:g} {people}, "
        f"fewer than the threshold of {threshold} (disclosure by differencing: subtract "
        "one table from the other)"
    )


def _pairwise(
    new: _Member,
    labels: list[tuple[str, ...]],
    pairs: Sequence[tuple[_Member, ReleasedTable]],
    threshold: int,
) -> list[Finding]:
    """Nested tables, cell by cell: the plain difference."""
    found: dict[int, Finding] = {}
    for m, r in pairs:
        if new.population.within(m.population):
            sign, what = -1.0, f"the units of {m.population.label()} not in the new table"
        elif m.population.within(new.population):
            sign, what = 1.0, f"the units of the new table not in {m.population.label()}"
        else:
            continue
        for i, lab in enumerate(labels):
            if lab not in new.values or lab not in m.values or i in found:
                continue
            d = sign * (new.values[lab] - m.values[lab])
            if 1 <= d <= threshold - 1:
                found[i] = Finding(
                    i, lab, d, r.name, _reason(" × ".join(lab), what, d, threshold, r.name)
                )
    return list(found.values())


def check_released(
    cells: Cells,
    population: Population,
    released: Sequence[ReleasedTable],
    policy: Policy,
    withheld: Iterable[int] = (),
) -> list[Finding]:
    """The new table's cells that, published beside ``released``, give away a small
    cell by differencing (cells in ``withheld`` are taken as not published)."""
    if cells.kind == "magnitude" or cells.kind == "regression":
        return []
    threshold = policy.minimum_count
    if threshold <= 1:
        return []
    dims = [str(d) for d in cells.labels.columns]
    new, labels = _new_member(cells, set(withheld), population)
    pairs = _released_members(released, dims, population)
    if not pairs:
        return []
    members = [new, *[m for m, _ in pairs]]
    fam = _family_points(members)
    if fam is None:
        return _pairwise(new, labels, pairs, threshold)
    varying, points, cover = fam
    atoms = _atoms(cover, points)
    system = _System(members, atoms, labels, cells.constraints)
    if system.n_x > MAX_UNKNOWNS:
        return _pairwise(new, labels, pairs, threshold)
    x0 = system.feasible()
    if x0 is None:
        return _pairwise(new, labels, pairs, threshold)
    every = [True] * len(members)
    full = system.intervals(x0, every, range(system.n_x))
    small = [c for c, (lo, hi) in full.items() if _exact_small(lo, hi, threshold)]
    if not small:
        return []
    # Only what the new table and an earlier release give away together.
    without_new = system.intervals(x0, [False, *every[1:]], small)
    only_new = system.intervals(x0, [True] + [False] * (len(members) - 1), small)
    found: dict[int, Finding] = {}
    for c in sorted(small):
        if _exact_small(*without_new[c], threshold) or _exact_small(*only_new[c], threshold):
            continue
        a, li = divmod(c, system.n_l)
        atom = atoms[a]
        derived = round(full[c][0])
        # Name the earliest release that sets the atom apart from the new table.
        involved = [
            pairs[j - 1][1].name
            for j in range(1, len(members))
            if atom.members[j] != atom.members[0]
        ] or [pairs[0][1].name]
        what = _describe_atom(atom, varying, members)
        lab = labels[li]
        if li not in found:
            found[li] = Finding(
                li,
                lab,
                float(derived),
                involved[0],
                _reason(" × ".join(lab), what, float(derived), threshold, involved[0]),
            )
    return list(found.values())


def check_against_ledger(
    project: str,
    table: OutputObject | Cells,
    policy: Policy,
    population: Population,
    ledger: Ledger,
    withheld: Iterable[int] = (),
) -> list[Finding]:
    """A new frequency table checked against ``project``'s release ledger."""
    cells = table if isinstance(table, Cells) else table.cells()
    return check_released(cells, population, ledger.entries(project), policy, withheld)


def ledger_rule(
    project: str, population: Population, policy: Policy, ledger: Ledger
) -> Callable[[Cells, set[int]], dict[int, str]]:
    """The ``differencing`` hook of :func:`fivesafes.outputs.check.check`: given the
    cells and those withheld so far, the further cells to withhold, with why."""
    released = ledger.entries(project)

    def rule(cells: Cells, withheld: set[int]) -> dict[int, str]:
        found = check_released(cells, population, released, policy, withheld)
        return {f.cell: f.reason for f in found}

    return rule
