"""The store: two DuckDB databases, one per zone, in one directory.

``identifiers.duckdb`` (identifier zone, trusted third party only) holds, per
dataset, each record's random ``record_id``, where it came from (ingest, file,
row) and its identifier columns; and ``_ingests``, the ledger of files ingested.
``content.duckdb`` (content zone, research side) holds, per dataset, the
``record_id`` and the content columns, and nothing else.

DuckDB cannot write to two databases in one transaction, so an ingest is made
atomic by its ledger entry: it is written ``pending`` first and marked
``complete`` last (a new dataset's tables are made after the entry is written);
whatever a crash leaves ``pending`` is removed from both zones, with the tables it
made, the next time the store is opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from fivesafes.datasets import DATASETS
from fivesafes.errors import FivesafesError

IDENTIFIERS_DB = "identifiers.duckdb"
CONTENT_DB = "content.duckdb"

LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS idz._ingests (
    ingest_id VARCHAR PRIMARY KEY,
    dataset VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    rows BIGINT,
    status VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
)
"""


@contextmanager
def open_store(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with the identifier zone attached as ``idz`` and the content
    zone as ``cz``; unfinished ingests are rolled back first."""
    if read_only and not (path / IDENTIFIERS_DB).exists():
        raise FivesafesError(
            f"{path} is not a fivesafes store (no {IDENTIFIERS_DB}); run `fivesafes ingest` first"
        )
    if path.exists() and not path.is_dir():
        raise FivesafesError(f"{path} is not a folder; a store is a folder (created if new)")
    path.mkdir(parents=True, exist_ok=True)
    # No DuckDB progress bar: the commands show their own, and --json prints one document.
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    mode = " (READ_ONLY)" if read_only else ""
    try:
        con.execute(f"ATTACH '{path / IDENTIFIERS_DB}' AS idz{mode}")
        con.execute(f"ATTACH '{path / CONTENT_DB}' AS cz{mode}")
    except duckdb.IOException as exc:
        con.close()
        if "lock" in str(exc).lower():
            raise FivesafesError(
                f"the store {path} is in use by another fivesafes process; wait for it "
                "to finish and try again"
            ) from None
        raise
    try:
        if not read_only:
            con.execute(LEDGER_DDL)
            recover(con)
        yield con
    finally:
        con.close()


def recover(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Remove every trace of ingests left ``pending`` by a crash."""
    pending = con.execute(
        "SELECT ingest_id, dataset FROM idz._ingests WHERE status = 'pending'"
    ).fetchall()
    for ingest_id, dataset in pending:
        remove_ingest(con, ingest_id, dataset)
    # Empty tables of a dataset no ingest ever completed: left by a crash of a version
    # that made a dataset's tables before writing its ledger entry.
    complete = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT dataset FROM idz._ingests WHERE status = 'complete'"
        ).fetchall()
    }
    known = {ds.name for ds in DATASETS}
    for dataset in sorted((table_names(con, "idz") & known) - complete):
        left = con.execute(f'SELECT count(*) FROM idz."{dataset}"').fetchone()
        if left is not None and left[0] == 0:
            con.execute(f'DROP TABLE IF EXISTS cz."{dataset}"')
            con.execute(f'DROP TABLE idz."{dataset}"')
    return [p[0] for p in pending]


def remove_ingest(con: duckdb.DuckDBPyConnection, ingest_id: str, dataset: str) -> None:
    tables = table_names(con, "idz")
    if dataset in tables:
        if dataset in table_names(con, "cz"):
            con.execute(
                f'DELETE FROM cz."{dataset}" WHERE record_id IN '
                f'(SELECT record_id FROM idz."{dataset}" WHERE ingest_id = ?)',
                [ingest_id],
            )
        con.execute(f'DELETE FROM idz."{dataset}" WHERE ingest_id = ?', [ingest_id])
        # The tables were made by this ingest if nothing else is left in them:
        # drop them, so the store is as it was before.
        left = con.execute(f'SELECT count(*) FROM idz."{dataset}"').fetchone()
        if left is not None and left[0] == 0:
            con.execute(f'DROP TABLE IF EXISTS cz."{dataset}"')
            con.execute(f'DROP TABLE idz."{dataset}"')
    con.execute("DELETE FROM idz._ingests WHERE ingest_id = ?", [ingest_id])


def table_names(con: duckdb.DuckDBPyConnection, catalog: str) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = ?", [catalog]
    ).fetchall()
    return {r[0] for r in rows}


def summary(path: Path) -> dict[str, dict[str, int]]:
    """Rows per dataset in each zone, and files ingested."""
    out: dict[str, dict[str, int]] = {}
    with open_store(path, read_only=True) as con:
        content = table_names(con, "cz")
        ids = table_names(con, "idz")
        for ds in DATASETS:
            if ds.name not in ids:
                continue
            files = con.execute(
                "SELECT count(*) FROM idz._ingests WHERE dataset = ? AND status = 'complete'",
                [ds.name],
            ).fetchone()
            if files is None or files[0] == 0:
                continue  # only a crashed ingest's leftovers, rolled back on the next open
            # Rows of complete ingests only: a read-only summary cannot roll back what
            # a crashed ingest left (that happens when the store is next opened to write).
            complete = (
                f'SELECT record_id FROM idz."{ds.name}" WHERE ingest_id IN '
                "(SELECT ingest_id FROM idz._ingests WHERE status = 'complete')"
            )
            id_rows = con.execute(f"SELECT count(*) FROM ({complete})").fetchone()
            c_rows = (
                con.execute(
                    f'SELECT count(*) FROM cz."{ds.name}" WHERE record_id IN ({complete})'
                ).fetchone()
                if ds.name in content
                else (0,)
            )
            assert files is not None and id_rows is not None and c_rows is not None
            out[ds.name] = {
                "files": int(files[0]),
                "identifier_rows": int(id_rows[0]),
                "content_rows": int(c_rows[0]),
            }
    return out
