"""Derived variables as small, named, documented steps over a project workspace.

A :class:`Step` has a name, a description, the tables it reads (``inputs``) and
writes (``outputs``), descriptions of its output columns, and either SQL (a
``SELECT`` whose result becomes its one output table) or a Python function of
the workspace's DuckDB connection (which writes its outputs, or returns one
DataFrame for its one output).

A :class:`Pipeline` orders steps by their inputs (a step runs after the step
that makes each of its inputs) and re-runs a step only when something it
depends on changed: its *fingerprint* is a SHA-256 of the step's code (its SQL,
or its function's source) and of each input table's content (row count, an
order-free hash of its rows, and its columns and types). The fingerprint and
its outputs' content hashes are kept in the workspace (``_curation_state``);
a step whose fingerprint is unchanged and whose outputs are still as it left
them is skipped. A failing step is rolled back (its outputs and the state stay
as they were), and the error names it.

Steps read only the workspace, which holds no identifier; an output column
named like an identifier (forename, postcode, NHS number, ...) is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from graphlib import CycleError, TopologicalSorter
from typing import Any

import duckdb
import pandas as pd

from fivesafes.datasets import DATASETS
from fivesafes.errors import FivesafesError

STATE_TABLE = "_curation_state"
#: Column names that only the identifier zone may hold.
IDENTIFIER_NAMES = frozenset(
    c.name for d in DATASETS for c in d.columns if c.zone == "identifier"
) | {"person_id", "record_id"}

StepFunction = Callable[[duckdb.DuckDBPyConnection], "pd.DataFrame | None"]


class CurationError(FivesafesError):
    """A step could not be defined or run; the message names the step."""


@dataclass(frozen=True)
class Step:
    """One derived-variable step."""

    name: str
    description: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    sql: str | None = None
    function: StepFunction | None = None
    columns: dict[str, str] = field(default_factory=dict)  # output column → description

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise CurationError(
                f"step name {self.name!r} must be letters, digits, '-' or '_' "
                "(e.g. 'first_offence')"
            )
        if (self.sql is None) == (self.function is None):
            raise CurationError(f"step {self.name!r}: give either sql or a function (not both)")
        if not self.outputs:
            raise CurationError(f"step {self.name!r}: name the table(s) it writes in outputs")
        if self.sql is not None and len(self.outputs) != 1:
            raise CurationError(
                f"step {self.name!r}: an SQL step writes exactly one table; use a function "
                "for several"
            )
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))

    @property
    def code(self) -> str:
        """The text whose change makes the step re-run: its SQL or its function's source."""
        if self.sql is not None:
            return " ".join(self.sql.split())
        fn = self.function
        assert fn is not None
        try:
            text = inspect.getsource(fn)
        except (OSError, TypeError):  # made at run time: fall back on its bytecode
            code = getattr(fn, "__code__", None)
            text = f"{getattr(fn, '__qualname__', fn)!r}:{code.co_code.hex() if code else ''}"
        # a function made from a template (a closure) also depends on what it closed over
        cells = getattr(fn, "__closure__", None) or ()
        bound = []
        for cell in cells:
            try:
                bound.append(repr(cell.cell_contents))
            except ValueError:  # an empty cell
                bound.append("<empty>")
        return text + "\n" + "\n".join(bound)

    @property
    def code_hash(self) -> str:
        meta = json.dumps([self.name, list(self.inputs), list(self.outputs)])
        return hashlib.sha256((meta + "\n" + self.code).encode()).hexdigest()


@dataclass
class StepRun:
    step: str
    status: str  # "ran" or "unchanged"
    reason: str
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "status": self.status,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "rows": self.rows,
        }


@dataclass
class RunSummary:
    runs: list[StepRun]
    seconds: float = 0.0

    @property
    def ran(self) -> list[str]:
        return [r.step for r in self.runs if r.status == "ran"]

    @property
    def unchanged(self) -> list[str]:
        return [r.step for r in self.runs if r.status == "unchanged"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": [r.to_dict() for r in self.runs],
            "ran": self.ran,
            "unchanged": self.unchanged,
            "seconds": round(self.seconds, 3),
        }


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_catalog = current_database()"
    ).fetchall()
    return {str(r[0]) for r in rows}


def table_fingerprint(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """A table's content: columns and types, row count and an order-free hash of its rows."""
    cols = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_catalog = current_database() AND table_name = ? "
        "ORDER BY ordinal_position",
        [table],
    ).fetchall()
    ((n, h),) = con.execute(
        f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM {quote(table)} t"
    ).fetchall()
    return hashlib.sha256(json.dumps([cols, int(n), str(h)]).encode()).hexdigest()


def _ensure_state(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (step VARCHAR PRIMARY KEY, "
        "fingerprint VARCHAR NOT NULL, outputs VARCHAR NOT NULL, description VARCHAR, "
        "inputs VARCHAR, ran_at TIMESTAMP NOT NULL, seconds DOUBLE, rows VARCHAR)"
    )


class Pipeline:
    """Steps in dependency order over a workspace."""

    def __init__(self, steps: Iterable[Step]) -> None:
        self.steps: dict[str, Step] = {}
        self.producer: dict[str, str] = {}
        for s in steps:
            if s.name in self.steps:
                raise CurationError(f"two steps are named {s.name!r}; step names must be unique")
            self.steps[s.name] = s
            for out in s.outputs:
                if out in self.producer:
                    raise CurationError(
                        f"step {s.name!r} writes {out!r}, which step {self.producer[out]!r} "
                        "writes too; a table is made by one step"
                    )
                if out.startswith("_"):
                    raise CurationError(
                        f"step {s.name!r}: output {out!r} starts with '_', kept for the "
                        "workspace's own tables"
                    )
                self.producer[out] = s.name
        self.order = self._order()

    def _order(self) -> list[str]:
        graph = {
            name: {self.producer[t] for t in s.inputs if t in self.producer}
            for name, s in self.steps.items()
        }
        for name, deps in graph.items():
            if name in deps:
                raise CurationError(f"step {name!r} reads a table it writes itself")
        try:
            return list(TopologicalSorter(graph).static_order())
        except CycleError as exc:
            cycle = " → ".join(str(c) for c in exc.args[1])
            raise CurationError(f"the steps depend on each other in a cycle: {cycle}") from None

    def upstream(self, names: Sequence[str]) -> list[str]:
        """The named steps and every step they depend on, in run order."""
        want: set[str] = set()
        todo = list(names)
        while todo:
            n = todo.pop()
            if n not in self.steps:
                raise CurationError(f"no step named {n!r}; the steps are {', '.join(self.order)}")
            if n in want:
                continue
            want.add(n)
            todo += [self.producer[t] for t in self.steps[n].inputs if t in self.producer]
        return [n for n in self.order if n in want]

    def base_inputs(self) -> set[str]:
        """Tables the steps read that no step makes: they must be in the workspace."""
        return {t for s in self.steps.values() for t in s.inputs if t not in self.producer}

    def run(
        self,
        con: duckdb.DuckDBPyConnection,
        only: Sequence[str] | None = None,
        force: bool = False,
        progress: Callable[[str, float], None] | None = None,
    ) -> RunSummary:
        """Run the steps whose fingerprint changed (all with ``force``); ``only``
        limits the run to those steps and what they depend on."""
        t0 = time.perf_counter()
        names = self.upstream(only) if only else list(self.order)
        present = table_names(con)
        missing = sorted(
            {t for n in names for t in self.steps[n].inputs if t not in self.producer} - present
        )
        if missing:
            users = sorted(
                {n for n in names for t in self.steps[n].inputs if t in missing}, key=names.index
            )
            raise CurationError(
                f"step {users[0]!r} reads {', '.join(missing)}, not in the workspace "
                f"(it holds: {', '.join(sorted(t for t in present if not t.startswith('_')))}); "
                "ask for the dataset in the project, or remove the step"
            )
        _ensure_state(con)
        state = {
            str(r[0]): (str(r[1]), json.loads(str(r[2])))
            for r in con.execute(f"SELECT step, fingerprint, outputs FROM {STATE_TABLE}").fetchall()
        }
        known: dict[str, str] = {}  # table → fingerprint, computed once per run

        def fp(table: str) -> str:
            if table not in known:
                known[table] = table_fingerprint(con, table)
            return known[table]

        runs: list[StepRun] = []
        for i, name in enumerate(names):
            s = self.steps[name]
            if progress:
                progress(name, i / max(len(names), 1))
            fingerprint = hashlib.sha256(
                (s.code_hash + "".join(f"\n{t}:{fp(t)}" for t in s.inputs)).encode()
            ).hexdigest()
            reason = self._why(s, state.get(name), fingerprint, con, fp, force)
            if reason is None:
                runs.append(StepRun(name, "unchanged", "inputs and code unchanged"))
                continue
            run = self._run_step(con, s, fingerprint, reason)
            for t in s.outputs:
                known.pop(t, None)
            runs.append(run)
        if progress:
            progress("done", 1.0)
        return RunSummary(runs, time.perf_counter() - t0)

    @staticmethod
    def _why(
        s: Step,
        previous: tuple[str, dict[str, str]] | None,
        fingerprint: str,
        con: duckdb.DuckDBPyConnection,
        fp: Callable[[str], str],
        force: bool,
    ) -> str | None:
        if force:
            return "forced"
        if previous is None:
            return "never run"
        if previous[0] != fingerprint:
            return "its code or an input changed"
        present = table_names(con)
        for t in s.outputs:
            if t not in present:
                return f"its output {t} is missing"
            if previous[1].get(t) != fp(t):
                return f"its output {t} was changed outside the step"
        return None

    def _run_step(
        self, con: duckdb.DuckDBPyConnection, s: Step, fingerprint: str, reason: str
    ) -> StepRun:
        t0 = time.perf_counter()
        before = table_names(con)
        con.execute("BEGIN TRANSACTION")
        try:
            if s.sql is not None:
                con.execute(f"CREATE OR REPLACE TABLE {quote(s.outputs[0])} AS {s.sql}")
            else:
                assert s.function is not None
                frame = s.function(con)
                if frame is not None:
                    if len(s.outputs) != 1:
                        raise CurationError(
                            "it returned a table but declares "
                            f"{len(s.outputs)} outputs; write them with the connection instead"
                        )
                    write_frame(con, s.outputs[0], frame)
            after = table_names(con)
            missing = [t for t in s.outputs if t not in after]
            if missing:
                raise CurationError(f"it did not write its output(s) {', '.join(missing)}")
            extra = sorted(after - before - set(s.outputs))
            if extra:
                raise CurationError(
                    f"it wrote table(s) it does not declare: {', '.join(extra)}; add them to "
                    "its outputs"
                )
            rows: dict[str, int] = {}
            hashes: dict[str, str] = {}
            for t in s.outputs:
                bad = sorted(
                    str(r[0])
                    for r in con.execute(
                        "SELECT column_name FROM information_schema.columns WHERE "
                        "table_schema = 'main' AND table_catalog = current_database() "
                        "AND table_name = ?",
                        [t],
                    ).fetchall()
                    if str(r[0]).lower() in IDENTIFIER_NAMES
                )
                if bad:
                    raise CurationError(
                        f"its output {t} has column(s) named like identifiers ({', '.join(bad)}); "
                        "identifiers never enter a workspace: rename them"
                    )
                ((n,),) = con.execute(f"SELECT count(*) FROM {quote(t)}").fetchall()
                rows[t] = int(n)
                hashes[t] = table_fingerprint(con, t)
            seconds = time.perf_counter() - t0
            con.execute(
                f"INSERT OR REPLACE INTO {STATE_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    s.name,
                    fingerprint,
                    json.dumps(hashes),
                    s.description,
                    json.dumps(list(s.inputs)),
                    datetime.now(UTC).replace(tzinfo=None),
                    seconds,
                    json.dumps(rows),
                ],
            )
            con.execute("COMMIT")
        except Exception as exc:
            con.execute("ROLLBACK")
            if isinstance(exc, CurationError) and str(exc).startswith(f"step {s.name!r}"):
                raise
            message = " ".join(str(exc).split())
            raise CurationError(
                f"step {s.name!r} failed: {message} (nothing it wrote was kept)"
            ) from exc
        return StepRun(s.name, "ran", reason, seconds, rows)


def write_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Write a DataFrame as a workspace table (replacing it), for function steps."""
    name = f"_frame_{uuid.uuid4().hex}"
    con.register(name, frame)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {quote(table)} AS SELECT * FROM {name}")
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister(name)


def state(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """What ran, when and with which rows (empty if nothing ran yet)."""
    if STATE_TABLE not in table_names(con):
        return pd.DataFrame(columns=["step", "ran_at", "seconds", "rows"])
    return con.execute(
        f"SELECT step, ran_at, seconds, rows FROM {STATE_TABLE} ORDER BY ran_at"
    ).df()


__all__ = [
    "STATE_TABLE",
    "CurationError",
    "Pipeline",
    "RunSummary",
    "Step",
    "StepRun",
    "state",
    "table_fingerprint",
    "write_frame",
]
