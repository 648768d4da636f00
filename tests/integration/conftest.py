"""Fixtures for the ingest, zone and CLI tests: one synthetic world and stores built from it.

Session fixtures are per xdist worker (each worker has its own temporary base
directory), and nothing a test may modify is shared: tests that write get a copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from fivesafes.data import IngestSummary, ingest
from fivesafes.synth import WorldConfig, make_world

WORLD_PEOPLE = 3000
WORLD_SEED = 3
#: Files already in the store the bad-file and crash tests write into. The files
#: those tests corrupt or crash on (pupil_census_2015.csv, hospital_admissions.csv)
#: are not among them.
BASE_FILES = (
    "provider/census_2021.csv",
    "provider/justice_offences.csv",
    "provider/pupil_census_2014.csv",
    "reference/areas.csv",
)

Snapshot = dict[str, Any]


def store_snapshot(store: Path) -> Snapshot:
    """Everything in a store, read straight from its two DuckDB files (read-only, so
    nothing is recovered or changed): per zone, each table's row count and a hash of
    its rows, and the whole ingest ledger."""
    out: Snapshot = {}
    for zone in ("identifiers", "content"):
        con = duckdb.connect(str(store / f"{zone}.duckdb"), read_only=True)
        try:
            tables = sorted(
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
                ).fetchall()
            )
            out[zone] = {
                t: con.execute(
                    f'SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM "{t}" t'
                ).fetchone()
                for t in tables
            }
            if zone == "identifiers" and "_ingests" in tables:
                out["ledger"] = sorted(
                    tuple(str(v) for v in r)
                    for r in con.execute("SELECT * FROM _ingests").fetchall()
                )
        finally:
            con.close()
    return out


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic world of 3,000 people (seed 3). Never modify it: copy files."""
    out = tmp_path_factory.mktemp("world")
    make_world(WorldConfig(people=WORLD_PEOPLE, seed=WORLD_SEED), out)
    return out


@pytest.fixture(scope="session")
def world_ingest(world: Path, tmp_path_factory: pytest.TempPathFactory) -> IngestSummary:
    """The whole world ingested into one store. Read it only (read-only connections)."""
    store = tmp_path_factory.mktemp("world-store") / "store"
    return ingest([world], store)


@pytest.fixture(scope="session")
def world_store(world_ingest: IngestSummary) -> Path:
    return world_ingest.store


@pytest.fixture(scope="session")
def _base_store_template(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("base-store") / "store"
    ingest([world / f for f in BASE_FILES], store)
    return store


@pytest.fixture
def base_store(_base_store_template: Path, tmp_path: Path) -> Path:
    """A store of this test's own that already holds the files in BASE_FILES."""
    store = tmp_path / "store"
    shutil.copytree(_base_store_template, store)
    return store


@pytest.fixture
def snapshot() -> Callable[[Path], Snapshot]:
    return store_snapshot
