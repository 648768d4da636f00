"""Split-file ingest: validate a provider file, then store identifiers and
content apart, each row under a new random record id.

A file is validated completely before anything is written; a bad file is
refused with an error naming the file, row and field, and nothing of it is
stored. Ingest is idempotent (a file already ingested, by its SHA-256, is
skipped) and atomic (see :mod:`fivesafes.data.store`).
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from fivesafes.data.store import open_store, remove_ingest
from fivesafes.data.validate import check_values, parse_date_sql, read_provider_file
from fivesafes.datasets import BY_NAME, DATASETS, Column, Dataset, dataset_for_file
from fivesafes.errors import FivesafesError

Progress = Callable[[str, float], None]
SQL_TYPES = {
    "string": "VARCHAR",
    "code": "VARCHAR",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "flag": "BOOLEAN",
    "date": "DATE",
}


@dataclass
class FileResult:
    file: str
    dataset: str
    rows: int
    status: str  # "ingested" or "already ingested"
    seconds: float


@dataclass
class IngestSummary:
    store: Path
    files: list[FileResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files in a folder matching no dataset
    seconds: float = 0.0

    @property
    def rows_ingested(self) -> int:
        return sum(f.rows for f in self.files if f.status == "ingested")

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": str(self.store),
            "files_ingested": sum(f.status == "ingested" for f in self.files),
            "files_already_ingested": sum(f.status != "ingested" for f in self.files),
            "rows_ingested": self.rows_ingested,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_ingested / self.seconds) if self.seconds else None,
            "files": [f.__dict__ for f in self.files],
            "skipped": self.skipped,
            "paths": [str(self.store / "identifiers.duckdb"), str(self.store / "content.duckdb")],
        }


def provider_files(
    paths: Iterable[Path], dataset: str | None = None
) -> tuple[list[tuple[Path, Dataset]], list[str]]:
    """The files to ingest and their datasets; folders are searched for CSV files
    whose names match a dataset (a synthetic world's ``provider`` and ``reference``
    folders are found from its root)."""
    forced = None
    if dataset is not None:
        if dataset not in BY_NAME:
            raise FivesafesError(f"unknown dataset {dataset!r}; choose one of {', '.join(BY_NAME)}")
        forced = BY_NAME[dataset]
    chosen: list[tuple[Path, Dataset]] = []
    skipped: list[str] = []
    for p in paths:
        if p.is_dir():
            folders = [p / "provider", p / "reference"] if (p / "provider").is_dir() else [p]
            for folder in folders:
                for f in sorted(folder.glob("*.csv")):
                    ds = forced or dataset_for_file(f.name)
                    if ds is None:
                        skipped.append(str(f))
                    else:
                        chosen.append((f, ds))
        elif p.exists():
            ds = forced or dataset_for_file(p.name)
            if ds is None:
                raise FivesafesError(
                    f"{p.name} does not match any dataset's file name (for example "
                    f"{DATASETS[0].file_name(2015)} or {DATASETS[1].file_name()}); "
                    "rename it or give --dataset"
                )
            chosen.append((p, ds))
        else:
            raise FivesafesError(f"{p} does not exist; give a provider file or a folder")
    if not chosen:
        raise FivesafesError("no provider files to ingest in the paths given")
    return chosen, skipped


def ingest(
    paths: Iterable[Path],
    store: Path,
    dataset: str | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Ingest provider files (or folders of them) into the store at ``store``.

    Files are stored one at a time, in order; if one is refused, those before it
    stay ingested and the error says which file, row and field is wrong. While
    one file is being written, the next is read and checked in a second thread
    (reading, hashing and checking run outside the store and release the GIL), so
    the two halves of the work overlap on two cores.
    """
    t0 = time.perf_counter()
    files, skipped = provider_files(paths, dataset)
    total = sum(f.stat().st_size for f, _ in files) or 1
    done = 0
    summary = IngestSummary(store=store, skipped=skipped)
    with open_store(store) as con, ThreadPoolExecutor(max_workers=1) as pool:
        lookup = con.cursor()  # the reader thread's own connection to the store
        try:
            queue = iter(files)
            pending: deque[Future[_Prepared]] = deque()

            def read_next() -> None:
                following = next(queue, None)
                if following is not None:
                    pending.append(pool.submit(_prepare, lookup, *following))

            read_next()
            while pending:
                prepared = pending.popleft()
                read_next()  # the next file is read while this one is written
                ready = prepared.result()  # a refused file raises here, in order
                if progress:
                    progress(ready.path.name, done / total)
                summary.files.append(_commit(con, ready))
                done += ready.path.stat().st_size
        finally:
            for waiting in pending:
                waiting.cancel()
            wait(pending)  # a file still being read uses ``lookup``: let it finish
            lookup.close()
    if progress:
        progress("done", 1.0)
    summary.seconds = time.perf_counter() - t0
    return summary


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class _Prepared:
    """A file read and checked, ready to be written (``table``), or found to be
    ingested already (``done``)."""

    path: Path
    ds: Dataset
    digest: str
    started: float
    table: pa.Table | None = None
    done: FileResult | None = None


def _already_ingested(
    con: duckdb.DuckDBPyConnection, path: Path, ds: Dataset, digest: str, started: float
) -> FileResult | None:
    """The earlier ingest of this file (same name or same content), if any; refuses a
    different file under a name already ingested."""
    earlier = con.execute(
        "SELECT sha256, rows FROM idz._ingests WHERE dataset = ? AND file_name = ? "
        "AND status = 'complete'",
        [ds.name, path.name],
    ).fetchall()
    for sha, rows in earlier:
        if sha == digest:
            return FileResult(
                path.name, ds.name, int(rows), "already ingested", time.perf_counter() - started
            )
    if earlier:
        raise FivesafesError(
            f"{path.name}: a different file of the same name was already ingested into "
            f"{ds.name}; a corrected file needs a new name (or a new store)"
        )
    same_content = con.execute(
        "SELECT file_name, rows FROM idz._ingests WHERE dataset = ? AND sha256 = ? "
        "AND status = 'complete'",
        [ds.name, digest],
    ).fetchone()
    if same_content is not None:
        return FileResult(
            path.name,
            ds.name,
            int(same_content[1]),
            "already ingested",
            time.perf_counter() - started,
        )
    return None


def _prepare(lookup: duckdb.DuckDBPyConnection, path: Path, ds: Dataset) -> _Prepared:
    """Hash the file, skip it if the store has it, else read it and check every
    value (in a DuckDB of its own: nothing touches the store)."""
    started = time.perf_counter()
    digest = file_sha256(path)
    done = _already_ingested(lookup, path, ds, digest, started)
    if done is not None:
        return _Prepared(path, ds, digest, started, done=done)
    table = read_provider_file(path, ds)
    table = table.append_column("record_id", random_uuids(table.num_rows))
    checker = duckdb.connect()
    try:
        checker.register("incoming", table)
        check_values(checker, "incoming", ds, path.name, path)
    finally:
        checker.close()
    return _Prepared(path, ds, digest, started, table=table)


def _commit(con: duckdb.DuckDBPyConnection, prepared: _Prepared) -> FileResult:
    """Write a prepared file to the store (unless an earlier file of the same run,
    with the same content, has just been written)."""
    p = prepared
    if p.done is not None:
        return p.done
    done = _already_ingested(con, p.path, p.ds, p.digest, p.started)
    if done is not None:
        return done
    assert p.table is not None  # prepared: either done or read
    rows = store_split(con, p.table, p.path, p.ds, p.digest)
    return FileResult(p.path.name, p.ds.name, rows, "ingested", time.perf_counter() - p.started)


def ingest_file(con: duckdb.DuckDBPyConnection, path: Path, ds: Dataset) -> FileResult:
    """Ingest one file into the store open on ``con`` (read, check, write)."""
    return _commit(con, _prepare(con, path, ds))


def random_uuids(n: int) -> pa.Array:
    """``n`` random (version 4) UUIDs from the operating system's secure generator,
    so that a record id says nothing about the record's place in its file."""
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    storage = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(raw)])
    return pa.ExtensionArray.from_storage(pa.uuid(), storage)


def _after_stage(stage: str) -> None:
    """A point between the writes of one ingest (tests simulate crashes here)."""


def store_split(
    con: duckdb.DuckDBPyConnection, table: pa.Table, path: Path, ds: Dataset, digest: str
) -> int:
    """Store a checked table (strings, ``__row`` and ``record_id``) split into the
    identifier and content zones as one ingest of ``path``, all or nothing; the
    rows stored. Used by ``ingest`` and by accepting a collection's submission."""
    con.register("incoming", table)
    try:
        return _store_incoming(con, table.num_rows, path, ds, digest)
    finally:
        con.unregister("incoming")


def _store_incoming(
    con: duckdb.DuckDBPyConnection, rows: int, path: Path, ds: Dataset, digest: str
) -> int:
    ingest_id = uuid.uuid4().hex
    con.execute(
        "INSERT INTO idz._ingests VALUES (?, ?, ?, ?, NULL, 'pending', now(), NULL)",
        [ingest_id, ds.name, path.name, digest],
    )
    try:
        # After the ledger entry: a crash once a new dataset's tables are made leaves
        # a pending ingest, whose removal drops the (empty) tables too.
        _create_tables(con, ds)
        _after_stage("tables")
        id_cols = ds.identifier_columns
        con.execute(
            f'INSERT INTO idz."{ds.name}" SELECT record_id, ?, ?, __row'
            + "".join(f", {_typed(c)}" for c in id_cols)
            + " FROM incoming",
            [ingest_id, path.name],
        )
        _after_stage("identifiers")
        content = ds.content_columns
        birth = _birth_column(ds)
        birth_sql = f", year({_typed(birth)}), month({_typed(birth)})" if birth is not None else ""
        con.execute(
            f'INSERT INTO cz."{ds.name}" SELECT record_id'
            + "".join(f", {_typed(c)}" for c in content)
            + birth_sql
            + " FROM incoming"
        )
        _after_stage("content")
        con.execute(
            "UPDATE idz._ingests SET status = 'complete', rows = ?, finished_at = now() "
            "WHERE ingest_id = ?",
            [rows, ingest_id],
        )
    except BaseException:
        remove_ingest(con, ingest_id, ds.name)
        raise
    return int(rows)


def _birth_column(ds: Dataset) -> Column | None:
    return next((c for c in ds.columns if c.derive_birth), None)


def _typed(col: Column) -> str:
    c = f'"{col.name}"'
    if col.kind == "integer":
        return f"CAST({c} AS BIGINT)"
    if col.kind == "number":
        return f"CAST({c} AS DOUBLE)"
    if col.kind == "flag":
        return f"({c} = '1')"
    if col.kind == "date":
        return parse_date_sql(col)
    return c


def _create_tables(con: duckdb.DuckDBPyConnection, ds: Dataset) -> None:
    id_cols = "".join(f', "{c.name}" {SQL_TYPES[c.kind]}' for c in ds.identifier_columns)
    con.execute(
        f'CREATE TABLE IF NOT EXISTS idz."{ds.name}" (record_id UUID NOT NULL, '
        f"ingest_id VARCHAR NOT NULL, source_file VARCHAR NOT NULL, source_row BIGINT NOT NULL"
        f"{id_cols})"
    )
    content_cols = "".join(f', "{c.name}" {SQL_TYPES[c.kind]}' for c in ds.content_columns)
    birth = ", birth_year SMALLINT, birth_month SMALLINT" if _birth_column(ds) else ""
    con.execute(
        f'CREATE TABLE IF NOT EXISTS cz."{ds.name}" (record_id UUID NOT NULL{content_cols}{birth})'
    )
