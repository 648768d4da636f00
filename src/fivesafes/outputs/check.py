"""Check an output object against a policy: verdicts, safe version, report.

:func:`check` runs the primary rules, then secondary suppression (when
:mod:`fivesafes.outputs.secondary` is installed) so that suppressed cells cannot
be recovered from the margins, and builds the safe version: suppressed cells
withheld, counts rounded as the policy says, margins at their *true* values
(rounded like any count, never recomputed from the released cells).
:func:`check_table_csv` does the same for a long-format CSV made anywhere, and
:func:`check_microdata_csv` for a magnitude table given as its microdata (one row
per contribution, amounts possibly negative: see docs/disclosure-control.md,
"Negative values").
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fivesafes.errors import FivesafesError, InputError
from fivesafes.outputs.linear import LinearTable, ProtectionResult
from fivesafes.outputs.objects import (
    FREQUENCY_KINDS,
    TOTAL,
    Cells,
    FrequencyTable,
    MagnitudeTable,
    OutputObject,
)
from fivesafes.outputs.policy import Policy
from fivesafes.outputs.primary import STATUSES, Verdict, primary
from fivesafes.outputs.tablefile import read_table
from fivesafes.spreadsheet import inert_frame


def _table_error(file: str, message: str, **where: Any) -> InputError:
    """A bad table: nothing was checked (and nothing stored, so no word of that)."""
    return InputError(file, message, consequence="Nothing was checked.", **where)


REPORT_FORMAT = "fivesafes.sdc.check/1"


@dataclass
class CheckResult:
    kind: str
    policy: Policy
    dims: list[str]
    verdicts: list[Verdict]
    value_column: str = "value"
    secondary: str = "not needed"  # "done", "pending" (module not available), "not needed"
    protection: ProtectionResult | None = None
    notes: list[str] = field(default_factory=list)
    #: The population the table counts, for the release ledger (see differencing).
    population: dict[str, Any] | None = None
    #: Per withheld cell of a magnitude table, what the attacker knows and can work
    #: out (see :func:`attacker_bounds`); ``None`` when not computed.
    attacker: list[dict[str, Any]] | None = None

    @property
    def status(self) -> str:
        """The worst verdict: ``suppress`` means something was withheld."""
        worst = max((STATUSES.index(v.status) for v in self.verdicts), default=0)
        return STATUSES[worst]

    def counts(self) -> dict[str, int]:
        return {s: sum(v.status == s for v in self.verdicts) for s in STATUSES}

    @property
    def safe(self) -> pd.DataFrame:
        """The safe version in long format: the categories, the value (blank,
        i.e. missing, where withheld) and the ``status`` of each cell."""
        data: dict[str, Any] = {
            d: [v.label[j] for v in self.verdicts] for j, d in enumerate(self.dims)
        }
        data[self.value_column] = pd.array(
            [_cell(v.safe_value) for v in self.verdicts], dtype="object"
        )
        data["status"] = [v.status for v in self.verdicts]
        return pd.DataFrame(data)

    def write_csv(self, path: str | Path) -> None:
        """The safe version as CSV (formula-like labels made inert: see
        :mod:`fivesafes.spreadsheet`)."""
        inert_frame(self.safe).to_csv(path, index=False, na_rep="")

    def to_dict(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "format": REPORT_FORMAT,
            "object": self.kind,
            "policy": {
                "name": self.policy.name,
                "version": self.policy.version,
                "label": self.policy.label,
                "settings": self.policy.to_dict(),
            },
            "status": self.status,
            "summary": self.counts(),
            "secondary_suppression": {"status": self.secondary},
            "notes": self.notes,
            "cells": [v.to_dict(self.dims) for v in self.verdicts],
        }
        if self.population is not None:
            report["population"] = self.population
        if self.attacker is not None:
            report["attacker_bounds"] = self.attacker
        if self.protection is not None:
            p = self.protection
            report["secondary_suppression"].update(
                method=p.method,
                audited=p.audited,
                secondary_cells=sorted(p.secondary),
                messages=p.messages,
            )
        return report

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _cell(x: float | None) -> Any:
    if x is None or np.isnan(x):
        return None
    return int(x) if float(x).is_integer() else float(x)


def _secondary_module() -> Any:
    if importlib.util.find_spec("fivesafes.outputs.secondary") is None:
        return None
    module = importlib.import_module("fivesafes.outputs.secondary")
    return module if hasattr(module, "protect") else None


def _empty_sums(cells: Cells) -> Cells:
    """A sum over no records is 0, whatever the table says (NaN, as some tools give
    a combination with no records): an empty cell, not a missing value."""
    if cells.kind != "magnitude" or cells.statistic != "sum":
        return cells
    values = np.asarray(cells.values, dtype=float)
    counts = np.asarray(cells.counts, dtype=float)
    empty = np.isnan(values) & (counts == 0)
    if not empty.any():
        return cells
    return dataclasses.replace(cells, values=np.where(empty, 0.0, values))


def _attacker_table(
    cells: Cells, verdicts: list[Verdict], module: Any
) -> tuple[LinearTable, set[int]]:
    """The table as the attacker's linear programs see it, and its missing cells.

    A magnitude cell with no records is an *empty cell*: its sum is 0 and, like a
    structural zero, the attacker is taken to know it (a priori bounds ``[0, 0]``),
    so it can neither be protected nor protect another cell. A missing value (NaN,
    withheld by the rule ``missing``) is unknown to everyone: it is filled in with
    values consistent with the published cells and margins
    (:func:`fivesafes.outputs.secondary.complete_missing`) and needs no protection.
    A priori lower bounds: see :func:`_lower_bounds`.
    """
    values = np.asarray(cells.values, dtype=float)
    upper = np.full(len(values), np.inf)
    lower: np.ndarray | None = None
    if cells.kind == "magnitude":
        # (a sum of no records is already 0: see _empty_sums)
        counts = np.asarray(cells.counts, dtype=float)
        upper[(counts == 0) & (values == 0)] = 0.0
        lower = _lower_bounds(cells)
    table = LinearTable(
        values=values,
        constraints=cells.constraints,
        labels=[v.label for v in verdicts],
        lower_bounds=lower,
        upper_bounds=upper if np.isfinite(upper).any() else None,
    )
    completed: LinearTable
    completed, missing = module.complete_missing(table)
    return completed, missing


def _lower_bounds(cells: Cells) -> np.ndarray | None:
    """What the attacker knows a priori about how low each magnitude cell can go.

    A cell is at least the sum of its negative contributions: 0 when it has none
    (today's bound for every non-negative table, so those get ``None``, the
    default), and below 0 by exactly its losses when it has some. The attacker is
    taken to know that much (docs/disclosure-control.md, "Negative values"). When
    the table does not keep its negative contributions (a table built by hand) but
    some cell is negative or has negative contributions, no cell has a lower bound.
    """
    values = np.asarray(cells.values, dtype=float)
    negative = None if cells.negative is None else np.asarray(cells.negative, dtype=float)
    if cells.negative_sum is not None:
        lower = np.minimum(np.asarray(cells.negative_sum, dtype=float), 0.0)
        # Never above the value itself (a table whose parts disagree with its sums).
        lower = np.where(np.isfinite(values), np.minimum(lower, values), lower)
        return lower if (lower < 0).any() else None
    may_be_negative = bool(np.any(values[np.isfinite(values)] < 0)) or bool(
        negative is not None and np.any(negative > 0)
    )
    return np.full(len(values), -np.inf) if may_be_negative else None


#: A differencing rule: given the cells and those withheld so far, the further
#: cells to withhold and why (see :func:`fivesafes.outputs.differencing.ledger_rule`).
DifferencingRule = Callable[[Cells, set[int]], Mapping[int, str]]


def _withhold_for_differencing(verdicts: list[Verdict], found: Mapping[int, str]) -> set[int]:
    """Mark the cells ``found`` (not yet suppressed) suppressed; returns them."""
    added = set()
    for i, reason in found.items():
        v = verdicts[i]
        if v.status == "suppress":
            continue
        v.status = "suppress"
        v.safe_value = None
        v.rules.append("differencing")
        v.reasons.append(reason)
        added.add(i)
    return added


def check(
    obj: OutputObject | Cells,
    policy: Policy,
    *,
    differencing: DifferencingRule | None = None,
) -> CheckResult:
    """Check an output object under ``policy``: a verdict per cell, the safe
    version, and (for tables with margins) secondary suppression.

    With ``differencing`` (a rule made from a project's release ledger), cells that
    would give away a small cell when subtracted from an earlier release are
    suppressed too (rule ``differencing``), before secondary suppression protects
    them; the pattern is then checked against the ledger again."""
    cells = _empty_sums(obj if isinstance(obj, Cells) else obj.cells())
    notes = list(cells.notes)
    if policy.person_counts_required and not cells.persons and cells.kind != "regression":
        notes.append(
            "the policy requires counts of distinct people; this output counts records, "
            "so a checker must confirm each person is counted once"
        )
    verdicts = primary(cells, policy)
    if policy.person_counts_required and not cells.persons and cells.kind != "regression":
        for v in verdicts:
            if v.status in ("pass", "round"):
                v.status = "review"
                v.reasons.append("counts are of records, not of distinct people")
                v.rules.append("persons")
    dims = list(cells.labels.columns)
    result = CheckResult(kind=cells.kind, policy=policy, dims=dims, verdicts=verdicts, notes=notes)
    suppressed = {v.cell for v in verdicts if v.status == "suppress"}

    def more(withheld: set[int]) -> set[int]:
        """Cells differencing with the ledger adds, given those withheld."""
        if differencing is None:
            return set()
        return _withhold_for_differencing(verdicts, differencing(cells, withheld))

    suppressed |= more(suppressed)
    if not cells.constraints:
        for _ in range(3):
            added = more(suppressed)
            if not added:
                break
            suppressed |= added
    if suppressed and cells.constraints:
        module = _secondary_module()
        if module is None:
            result.secondary = "pending"
            result.notes.append(
                "secondary suppression is pending: fivesafes.outputs.secondary is not "
                "installed, so suppressed cells may still be recoverable from the margins; "
                "a checker must review this table"
            )
        else:
            try:
                table, missing = _attacker_table(cells, verdicts, module)
                # Counts are counts whatever the missing cells were filled in with.
                known = np.asarray(cells.values, dtype=float)
                known = known[np.isfinite(known)]
                whole = bool(np.all(known == np.round(known)))
                # Counts withheld by the threshold rule keep its safety range too (a
                # magnitude's value is not a count: its cells keep the percentages).
                small = (
                    {v.cell for v in verdicts if "threshold" in v.rules}
                    if cells.kind in FREQUENCY_KINDS
                    else set()
                )
                protection: ProtectionResult = module.protect(
                    table,
                    suppressed - missing,
                    policy,
                    intervals="audit" if table.size > 400 else "all",
                    threshold_cells=small & suppressed,
                    withheld=missing,
                    counts=whole,
                )
                for _ in range(3):  # the pattern against the ledger again
                    added = more(protection.suppressed)
                    if not added:
                        break
                    suppressed |= added
                    protection = module.protect(
                        table,
                        suppressed - missing,
                        policy,
                        intervals="audit" if table.size > 400 else "all",
                        threshold_cells=small & suppressed,
                        withheld=missing,
                        counts=whole,
                    )
            except (FivesafesError, RuntimeError) as exc:
                result.secondary = "infeasible"
                result.notes.append(f"secondary suppression found no safe pattern: {exc}")
                for v in verdicts:
                    if v.status in ("pass", "round"):
                        v.status = "review"
                        v.rules.append("secondary")
                        v.reasons.append("secondary suppression failed; a checker must decide")
                return result
            result.protection = protection
            result.secondary = "done"
            for i in sorted(protection.secondary):
                v = verdicts[i]
                v.status = "suppress"
                v.safe_value = None
                v.rules.append("secondary")
                v.reasons.append(
                    "withheld to protect another suppressed cell, which could otherwise be "
                    "worked out from the totals (secondary suppression)"
                )
    return result


def read_table_csv(
    path: str | Path, value_column: str, notes: list[str] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Read and validate a long-format table: one row per cell, the category
    columns and the value column; raises :class:`InputError` naming the row.

    A file that is not UTF-8, or an Excel workbook, is read as
    :func:`fivesafes.outputs.tablefile.read_table` says, and how it was read is
    appended to ``notes``."""
    name = str(path)
    df, note = read_table(path)
    if note is not None and notes is not None:
        notes.append(f"{Path(name).name}: {note}")
    df.columns = [c.strip() for c in df.columns]
    if value_column not in df.columns:
        raise _table_error(
            name,
            f"has no column {value_column!r}; its columns are {', '.join(df.columns)}",
            field=value_column,
        )
    dims = [c for c in df.columns if c != value_column]
    if not dims:
        raise _table_error(name, "has no category columns besides the value column")
    if df.empty:
        raise _table_error(name, "has no rows")
    numbers = pd.to_numeric(df[value_column].str.strip(), errors="coerce")
    bad = np.flatnonzero(numbers.isna().to_numpy())
    if len(bad):
        blank = not df[value_column].iloc[bad[0]].strip()
        raise _table_error(
            name,
            "the value is empty: write 0 for a combination with no records (a blank is "
            "not read as 0, since it could as well be a value that is not known, and "
            "the margins cannot be checked without it)"
            if blank
            else "the value is not a number",
            row=int(bad[0]) + 1,
            field=value_column,
            value=df[value_column].iloc[bad[0]],
            more=len(bad) - 1,
        )
    if (numbers < 0).any():
        row = int(np.flatnonzero((numbers < 0).to_numpy())[0])
        raise _table_error(
            name,
            "a count cannot be negative: this reads a table of counts; a table of amounts "
            "that can be negative (profits, changes) is checked from its contributions, "
            "one row each (fivesafes outputs check-table --microdata, or "
            "fivesafes.outputs.MagnitudeTable)",
            row=row + 1,
            field=value_column,
            value=df[value_column].iloc[row],
        )
    for d in dims:
        df[d] = df[d].str.strip()
    dup = df.duplicated(dims, keep="first").to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((df[dims] == df[dims].iloc[row]).all(axis=1).to_numpy())[0])
        raise _table_error(
            name,
            f"the same cell appears twice (also row {first + 1})",
            row=row + 1,
            value=", ".join(df[dims].iloc[row]),
            more=int(dup.sum()) - 1,
        )
    df[value_column] = numbers
    return df, dims


def check_table_csv(
    path: str | Path,
    value_column: str,
    policy: Policy,
    out: str | Path | None = None,
) -> CheckResult:
    """Check a long-format CSV table of counts (one row per cell; every column
    but ``value_column`` is a category; rows with ``Total`` in a category are
    margins and must equal the sum of their parts). Writes the safe version to
    ``out`` (same columns plus ``status``, the value blank where suppressed)."""
    notes: list[str] = []
    df, dims = read_table_csv(path, value_column, notes)
    table = FrequencyTable.from_long(df, dims, value_column)
    values = table.values
    depth = (table.labels == TOTAL).sum(axis=1).to_numpy()
    # report the most detailed wrong total first (a wrong subtotal makes its totals wrong too)
    for total, parts in sorted(table.constraints(), key=lambda c: (depth[c[0]], c[0])):
        if not np.isclose(values[total], values[parts].sum()):
            raise _table_error(
                str(path),
                f"this {TOTAL} is {values[total]:g} but its {len(parts)} parts add up to "
                f"{values[parts].sum():g}; margins must carry their true values",
                row=total + 1,
                field=value_column,
                value=", ".join(table.labels.iloc[total]),
            )
    result = check(table, policy)
    result.value_column = value_column
    result.notes[:0] = notes
    if out is not None:
        result.write_csv(out)
    return result


def _finite(x: float) -> float | int | None:
    """A bound for JSON: ``None`` for an unbounded side (no limit that way)."""
    return _cell(float(x)) if np.isfinite(x) else None


def attacker_bounds(result: CheckResult, table: MagnitudeTable) -> list[dict[str, Any]]:
    """For each withheld cell of a magnitude table, what the attacker is taken to
    know a priori and what they can work out from the published cells.

    ``lower_bound`` is the cell's sum of negative contributions (0 when it has none):
    the attacker knows the cell is at least that (docs/disclosure-control.md,
    "Negative values"). ``interval`` is the attacker's ``[min, max]`` of the cell
    given every published cell and margin and those bounds, as secondary
    suppression computed it (``None`` where it was not computed; a side ``None``
    where there is no limit that way)."""
    negative_sum = (
        np.zeros(len(result.verdicts))
        if table.negative_sum is None
        else np.asarray(table.negative_sum, dtype=float)
    )
    intervals = result.protection.intervals if result.protection is not None else {}
    out: list[dict[str, Any]] = []
    for v in result.verdicts:
        if v.status != "suppress":
            continue
        lo_hi = intervals.get(v.cell)
        out.append(
            {
                "cell": v.cell,
                "labels": dict(zip(result.dims, v.label, strict=True)),
                "lower_bound": _cell(min(float(negative_sum[v.cell]), 0.0)),
                "interval": None if lo_hi is None else [_finite(lo_hi[0]), _finite(lo_hi[1])],
            }
        )
    return out


def read_microdata_csv(
    path: str | Path,
    value_column: str,
    person: str | None = None,
    notes: list[str] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Read and validate microdata for a magnitude table: one row per contribution,
    the category columns, the amount (``value_column``, any sign) and, optionally,
    the ``person`` whose contributions are summed into one. Raises
    :class:`InputError` naming the file, the row and the field. Read as
    :func:`read_table_csv` reads a table (any encoding, a workbook); how it was read
    is appended to ``notes``."""
    name = str(path)
    df, note = read_table(path)
    if note is not None and notes is not None:
        notes.append(f"{Path(name).name}: {note}")
    df.columns = [c.strip() for c in df.columns]
    for col in (value_column, person):
        if col is not None and col not in df.columns:
            raise _table_error(
                name,
                f"has no column {col!r}; its columns are {', '.join(df.columns)}",
                field=col,
            )
    if person == value_column:
        raise _table_error(name, "the person column cannot be the amount column", field=person)
    dims = [c for c in df.columns if c not in (value_column, person)]
    if not dims:
        raise _table_error(name, "has no category columns besides the amount column")
    if df.empty:
        raise _table_error(name, "has no rows")
    text = df[value_column].str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    bad = np.flatnonzero(~np.isfinite(numbers.to_numpy(dtype=float)))
    if len(bad):
        blank = not text.iloc[bad[0]]
        raise _table_error(
            name,
            "the amount is empty: every row is one contribution and needs its amount "
            "(0 if it contributes nothing)"
            if blank
            else "the amount is not a number",
            row=int(bad[0]) + 1,
            field=value_column,
            value=df[value_column].iloc[bad[0]],
            more=len(bad) - 1,
        )
    for d in [*dims, *([person] if person else [])]:
        df[d] = df[d].str.strip()
    for d in dims:
        total = np.flatnonzero((df[d] == TOTAL).to_numpy())
        if len(total):
            raise _table_error(
                name,
                f"the category {TOTAL!r} is reserved for the margins, which the check adds "
                "itself: microdata has one row per contribution and no margin rows",
                row=int(total[0]) + 1,
                field=d,
                value=TOTAL,
                more=len(total) - 1,
            )
    if person is not None:
        blank_person = np.flatnonzero((df[person] == "").to_numpy())
        if len(blank_person):
            raise _table_error(
                name,
                "the person is empty: each contribution needs the person it belongs to",
                row=int(blank_person[0]) + 1,
                field=person,
                more=len(blank_person) - 1,
            )
    df[value_column] = numbers
    return df, dims


def check_microdata_csv(
    path: str | Path,
    value_column: str,
    policy: Policy,
    out: str | Path | None = None,
    person: str | None = None,
) -> CheckResult:
    """Check the table of sums of ``value_column`` over every combination of the other
    columns (and its margins, ``Total``) from its microdata, one row per
    contribution (:func:`read_microdata_csv`). Amounts may be negative (profits and
    losses, changes): a cell with negative contributions has the p% and n,k rules
    applied to the absolute values of its contributions, and the attacker is taken
    to know that each cell is at least the sum of its negative contributions
    (:class:`~fivesafes.outputs.objects.MagnitudeTable`); the report says how many
    contributions were negative and, per withheld cell, those bounds and the
    attacker's interval (:func:`attacker_bounds`, ``attacker_bounds`` in the JSON).
    Writes the safe table to ``out`` (the categories, the sum, blank where withheld,
    and ``status``)."""
    notes: list[str] = []
    df, dims = read_microdata_csv(path, value_column, person, notes)
    table = MagnitudeTable.from_microdata(df, dims, value_column, person=person)
    amounts = df[value_column].to_numpy(dtype=float)
    negative = int((amounts < 0).sum())
    if negative:
        notes.append(
            f"{negative} of the {len(amounts)} contributions "
            f"{'is' if negative == 1 else 'are'} negative: the p% and n,k "
            "rules were applied to the absolute values of the contributions, a cell with "
            "negative contributions goes to a checker even when it passes, and the attacker "
            "is taken to know that every cell is at least the sum of its negative "
            "contributions"
        )
    result = check(table, policy)
    result.value_column = value_column
    result.notes[:0] = notes
    result.attacker = attacker_bounds(result, table)
    if out is not None:
        result.write_csv(out)
    return result
