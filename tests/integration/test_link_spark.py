"""Linkage on Spark (local mode) against linkage on DuckDB: the same store, the
same model, the same persons, up to pairs whose match probability sits at the
threshold (the engines sample records differently to estimate u, so the model's
parameters differ in their last digits).

Needs Java and pyspark (CI installs both); skipped without them. One Spark
session for the module: the JVM takes ten seconds or so to start.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from fivesafes.data import ingest
from fivesafes.data.link import link
from fivesafes.data.link.quality import measured_quality
from fivesafes.data.store import open_store
from fivesafes.synth import WorldConfig, make_world

if shutil.which("java") is None:
    pytest.skip("the Spark engine needs Java on PATH (java not found)", allow_module_level=True)
pytest.importorskip(
    "pyspark", reason="the Spark engine needs pyspark (pip install 'splink[spark]')"
)

PEOPLE = 1000
SEED = 11
THRESHOLD = 0.95
#: Pairs this close to the threshold may fall either side of it on either engine.
TIE = 0.02

pytestmark = pytest.mark.slow


@dataclass
class Run:
    store: Path
    summary: Any
    person_map: pd.DataFrame  # record_id, person_id
    borderline: pd.DataFrame  # record_id_l, record_id_r, match_probability
    quality: dict[str, Any]


@dataclass
class Both:
    duckdb: Run
    spark: Run
    stdout: str  # what the Spark run wrote to the process's stdout


def _read(store: Path, summary: Any, truth: Path) -> Run:
    with open_store(store, read_only=True) as con:
        person_map = con.sql(
            "SELECT CAST(record_id AS VARCHAR) AS record_id, person_id FROM idz.person_map"
        ).df()
        borderline = con.sql(
            "SELECT CAST(record_id_l AS VARCHAR) AS record_id_l, "
            "CAST(record_id_r AS VARCHAR) AS record_id_r, match_probability "
            "FROM idz.link_borderline"
        ).df()
    return Run(store, summary, person_map, borderline, measured_quality(store, truth))


@pytest.fixture(scope="module")
def spark_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from fivesafes.data.link.engine import spark_session

    session = spark_session(None, tmp_path_factory.mktemp("spark"))
    yield session
    session.stop()


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, spark_session: Any) -> Both:
    base = tmp_path_factory.mktemp("link-spark")
    world = base / "world"
    make_world(WorldConfig(people=PEOPLE, seed=SEED), world)
    ingest([world], base / "store-duckdb")
    # One ingest, copied: the record ids are the same in both stores.
    shutil.copytree(base / "store-duckdb", base / "store-spark")
    truth = world / "truth" / "records.csv"

    d = link(base / "store-duckdb", threshold=THRESHOLD, engine="duckdb")
    # The Spark run's stdout at the file-descriptor level (the JVM's too): the
    # CLI's --json output must stay one JSON document.
    with tempfile.TemporaryFile(mode="w+b") as out:
        saved = os.dup(1)
        os.dup2(out.fileno(), 1)
        try:
            s = link(base / "store-spark", threshold=THRESHOLD, engine="spark")
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        out.seek(0)
        stdout = out.read().decode(errors="replace")
    return Both(
        _read(base / "store-duckdb", d, truth), _read(base / "store-spark", s, truth), stdout
    )


def _together(person_map: pd.DataFrame) -> set[tuple[str, str]]:
    """Every pair of records the map puts in one person."""
    pairs: set[tuple[str, str]] = set()
    for ids in person_map.groupby("person_id")["record_id"]:
        pairs.update(combinations(sorted(ids[1]), 2))
    return pairs


def _merged(person_map: pd.DataFrame, edges: list[tuple[str, str]]) -> set[frozenset[str]]:
    """The map's persons, joined wherever an edge links two of them."""
    records, persons = person_map["record_id"], person_map["person_id"]
    parent = {r: f"p{p}" for r, p in zip(records, persons, strict=True)}
    roots: dict[str, str] = {}

    def find(x: str) -> str:
        while roots.get(x, x) != x:
            x = roots[x]
        return x

    for a, b in edges:
        ra, rb = find(parent[a]), find(parent[b])
        if ra != rb:
            roots[ra] = rb
    groups: dict[str, set[str]] = {}
    for record, person in parent.items():
        groups.setdefault(find(person), set()).add(record)
    return {frozenset(g) for g in groups.values()}


def test_spark_maps_the_same_records(both: Both) -> None:
    assert both.spark.summary.engine == "spark"
    assert len(both.spark.person_map) == len(both.duckdb.person_map)
    assert set(both.spark.person_map["record_id"]) == set(both.duckdb.person_map["record_id"])
    assert both.spark.summary.records == both.duckdb.summary.records


def test_spark_links_the_same_persons_up_to_ties_at_the_threshold(both: Both) -> None:
    d, s = _together(both.duckdb.person_map), _together(both.spark.person_map)
    differ = d ^ s
    agreement = 1 - len(differ) / len(d | s)
    print(
        f"\n{PEOPLE} people: DuckDB {both.duckdb.summary.persons} persons in "
        f"{both.duckdb.summary.seconds:.1f}s, Spark {both.spark.summary.persons} persons in "
        f"{both.spark.summary.seconds:.1f}s; pairs together in one map only: {len(differ)}, "
        f"pairwise agreement {agreement:.5f}"
    )
    if not differ:
        return
    # Any difference must come from pairs scored within TIE of the threshold in
    # either run: joining both maps' persons along those pairs must give one
    # partition.
    ties = pd.concat([both.duckdb.borderline, both.spark.borderline])
    near = ties[(ties["match_probability"] - THRESHOLD).abs() <= TIE]
    edges = list(zip(near["record_id_l"], near["record_id_r"], strict=True))
    assert near.shape[0] > 0, f"{len(differ)} pairs differ and no pair is near the threshold"
    assert _merged(both.duckdb.person_map, edges) == _merged(both.spark.person_map, edges), (
        f"{len(differ)} pairs differ beyond ties at the threshold (agreement {agreement:.5f})"
    )
    assert agreement >= 0.999


def test_both_engines_link_well(both: Both) -> None:
    for run in (both.duckdb, both.spark):
        assert run.quality["precision"] > 0.97, (run.summary.engine, run.quality)
        assert run.quality["recall"] > 0.97, (run.summary.engine, run.quality)


def test_spark_keeps_stdout_clean(both: Both) -> None:
    assert both.stdout == ""
