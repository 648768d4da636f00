"""A return checked before anything about it is recorded.

:func:`check_return` copies the file into a staging folder, reads it and runs
every rule of its collection, and writes there the issues (``issues.parquet``)
and the CSV report. It touches no database and reads no settings (it is given
the specification, the provider, the year and the previous year's summary), so
the web app can run it in a worker process of its own: the server's memory does
not grow with the file, and no write of the site waits for it (see
:mod:`fivesafes.web.uploads`). Recording the result is
:func:`fivesafes.collections.submissions.submit`'s.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from fivesafes.collections.reader import read_return
from fivesafes.collections.report import Listing, write_csv_report
from fivesafes.collections.rules import Context, Summary, Validation, issues_relation, run_rules
from fivesafes.collections.spec import CollectionSpec

ISSUES_FILE = "issues.parquet"
#: Issues are written to Parquet this many at a time.
BATCH_ROWS = 100_000


@dataclass(frozen=True)
class CheckedReturn:
    """What :func:`check_return` found, and where it left the file and reports."""

    staged: Path
    sha256: str
    validation: Validation
    listing: Listing


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_return(
    spec: CollectionSpec,
    provider: str,
    year: int,
    file: Path,
    staging: Path,
    previous: Summary | None,
) -> CheckedReturn:
    """Copy ``file`` into the (existing, empty) folder ``staging`` and check it
    there. A file that cannot be read as the collection's CSV raises an
    :class:`~fivesafes.errors.InputError`; the caller removes ``staging``."""
    staged = staging / file.name
    shutil.copyfile(file, staged)
    digest = sha256_of(staged)
    table = read_return(staged, spec)
    # The rules' SQL may not touch files: a condition is configuration, not a key.
    con = duckdb.connect(config={"enable_external_access": False})
    try:
        con.register("incoming", table)
        validation = run_rules(con, "incoming", Context(spec, provider, year), previous)
        con.unregister("incoming")
        del table
        _write_issues(con.sql(issues_relation(spec)), staging / ISSUES_FILE)
    finally:
        con.close()
    return CheckedReturn(staged, digest, validation, write_csv_report(staging))


def _write_issues(relation: duckdb.DuckDBPyRelation, path: Path) -> None:
    """Write the issues to Parquet a batch at a time: a return with an error in
    every row has as many issues as rows, and holding them all at once doubled
    the memory its check took."""
    batches = relation.to_arrow_reader(BATCH_ROWS)
    with pq.ParquetWriter(path, batches.schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
