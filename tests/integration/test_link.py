"""Linkage by the trusted third party: every person record in a store linked into
persons with Splink, measured against the synthetic world's truth (which the
linkage itself never sees: it is moved out of the world before linking)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from fivesafes import datasets
from fivesafes.data import ingest
from fivesafes.data.link import DEFAULT_THRESHOLD, LinkSummary, link
from fivesafes.data.store import open_store, table_names
from fivesafes.errors import FivesafesError
from fivesafes.synth import WorldConfig, make_world

PEOPLE = 3000
SEED = 3
PERSON_DATASETS = tuple(d.name for d in datasets.PERSON_DATASETS)


@dataclass
class Linked:
    store: Path
    world: Path
    summary: LinkSummary
    truth: pd.DataFrame  # dataset, file, row, person_id: read before linking
    steps: list[tuple[str, float]]


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Linked:
    base = tmp_path_factory.mktemp("link")
    world, store = base / "world", base / "store"
    make_world(WorldConfig(people=PEOPLE, seed=SEED), world)
    ingest([world], store)
    truth = pd.read_csv(
        world / "truth" / "records.csv", usecols=["dataset", "file", "row", "person_id"]
    )
    # The trusted third party links from identifiers alone: no truth to peek at.
    shutil.rmtree(world / "truth")
    steps: list[tuple[str, float]] = []
    summary = link(store, progress=lambda message, done: steps.append((message, done)))
    assert not (world / "truth").exists()
    return Linked(store, world, summary, truth, steps)


def _evaluated(linked: Linked) -> pd.DataFrame:
    """Each linked record with its person id and its true person id."""
    with open_store(linked.store, read_only=True) as con:
        union = " UNION ALL ".join(
            f"SELECT record_id, '{ds}' AS dataset, source_file, source_row FROM idz.{ds}"
            for ds in PERSON_DATASETS
        )
        con.register("truth", linked.truth)
        return con.sql(
            f"""
            SELECT m.record_id, m.person_id, t.person_id AS true_id
            FROM idz.person_map m
            JOIN ({union}) r USING (record_id)
            JOIN truth t ON t.dataset = r.dataset AND t.file = r.source_file
                AND t.row = r.source_row
            """
        ).df()


def _pairs(groups: pd.Series) -> int:
    sizes = groups.value_counts()
    return int((sizes * (sizes - 1) // 2).sum())


@pytest.mark.slow
def test_pairwise_precision_and_recall(linked: Linked) -> None:
    ev = _evaluated(linked)
    assert len(ev) == len(linked.truth)
    found = _pairs(ev["person_id"])
    true = _pairs(ev["true_id"])
    both = _pairs(ev["person_id"].astype(str) + "|" + ev["true_id"].astype(str))
    precision, recall = both / found, both / true
    f1 = 2 * precision * recall / (precision + recall)
    print(
        f"\nlinkage at {PEOPLE} people: precision {precision:.4f}, recall {recall:.4f}, F1 {f1:.4f}"
    )
    assert precision >= 0.95, precision
    assert recall >= 0.95, recall


@pytest.mark.slow
def test_every_record_gets_exactly_one_person(linked: Linked) -> None:
    with open_store(linked.store, read_only=True) as con:
        records = con.sql(
            " UNION ALL ".join(
                f"SELECT record_id, '{ds}' AS dataset FROM idz.{ds}" for ds in PERSON_DATASETS
            )
        ).df()
        person_map = con.sql("SELECT * FROM idz.person_map").df()
        types = {r[0]: r[1] for r in con.execute("DESCRIBE idz.person_map").fetchall()}
        assert "person_map" not in table_names(con, "cz")
    assert types == {"record_id": "UUID", "dataset": "VARCHAR", "person_id": "BIGINT"}
    assert person_map["record_id"].is_unique
    assert person_map.notna().all().all()
    merged = records.merge(person_map, on="record_id", how="outer", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert (merged["dataset_x"] == merged["dataset_y"]).all()
    assert "areas" not in set(person_map["dataset"])
    # Person ids are 1..n, not Splink's cluster ids.
    ids = sorted(person_map["person_id"].unique())
    assert ids == list(range(1, len(ids) + 1))


@pytest.mark.slow
def test_summary_says_what_was_done(linked: Linked) -> None:
    s = linked.summary
    assert s.store == linked.store
    assert s.records == len(linked.truth)
    assert sum(s.records_by_dataset.values()) == s.records
    assert set(s.records_by_dataset) == set(PERSON_DATASETS)
    # About as many persons as the world has, a few records left unlinked.
    assert abs(s.persons - linked.truth["person_id"].nunique()) <= 0.02 * PEOPLE
    assert s.pairs_scored >= s.pairs_matched > 0
    assert s.threshold == DEFAULT_THRESHOLD
    assert s.seconds > 0
    assert s.paths == [linked.store / "identifiers.duckdb"]
    assert 0 < s.probability_two_random_records_match < 0.01
    d = s.to_dict()
    assert d["records"] == s.records and d["persons"] == s.persons
    assert linked.steps[-1] == ("done", 1.0)
    fractions = [f for _, f in linked.steps]
    assert fractions == sorted(fractions)


@pytest.mark.slow
def test_linking_again_replaces_the_map_with_the_same_persons(linked: Linked) -> None:
    with open_store(linked.store, read_only=True) as con:
        before = con.sql("SELECT * FROM idz.person_map ORDER BY record_id").df()
    again = link(linked.store, threshold=DEFAULT_THRESHOLD)
    with open_store(linked.store, read_only=True) as con:
        after = con.sql("SELECT * FROM idz.person_map ORDER BY record_id").df()
    assert len(after) == len(before) == again.records
    pd.testing.assert_frame_equal(before, after)


@pytest.mark.slow
def test_a_stricter_threshold_finds_no_more_matches(linked: Linked, tmp_path: Path) -> None:
    copy = tmp_path / "store"
    shutil.copytree(linked.store, copy)
    strict = link(copy, threshold=0.999)
    assert strict.threshold == 0.999
    assert strict.persons >= linked.summary.persons
    assert strict.pairs_matched <= linked.summary.pairs_matched


def test_link_refuses_a_folder_that_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(FivesafesError, match="not a fivesafes store"):
        link(tmp_path)
    assert not (tmp_path / "identifiers.duckdb").exists()


def test_link_refuses_a_threshold_that_is_not_a_probability(tmp_path: Path) -> None:
    with pytest.raises(FivesafesError, match="between 0 and 1"):
        link(tmp_path, threshold=1.5)


def test_link_refuses_a_store_with_no_person_records(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with open_store(store):
        pass
    with pytest.raises(FivesafesError, match="no person records"):
        link(store)
    con = duckdb.connect(str(store / "identifiers.duckdb"), read_only=True)
    try:
        assert "person_map" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    finally:
        con.close()
