"""Linkage by the trusted third party: one population of persons from every
dataset's identifiers, with Splink on DuckDB.

All person datasets' identifier tables are stacked into one table of
standardised identifiers and deduplicated at once (Splink's ``dedupe_only``), so
that the records of one person, within a dataset and across datasets, end up in
one cluster. The model is estimated from the data alone: u by random sampling, m
by expectation maximisation, the prior from deterministic rules. Nothing is read
from any truth file.

The result is ``idz.person_map(record_id, dataset, person_id)`` in the identifier
zone, replacing any earlier map. Person ids are 1, 2, 3... in the order of each
person's first record (dataset, file, row), not Splink's cluster ids.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from fivesafes.data.link import settings as model
from fivesafes.data.store import IDENTIFIERS_DB, open_store, table_names
from fivesafes.datasets import PERSON_DATASETS, Dataset
from fivesafes.errors import FivesafesError

Progress = Callable[[str, float], None]

#: Pairs at or above this match probability are the same person. Clusters are
#: connected components, so one false link joins two people: keep it high.
DEFAULT_THRESHOLD = 0.95
#: Pairs sampled to estimate u probabilities (all pairs are sampled in a small store).
U_MAX_PAIRS = 5e6
SEED = 20240601
MAP_TABLE = "person_map"

_SPLINK_LOGGERS = ("splink", "splink.internals")


@dataclass
class LinkSummary:
    store: Path
    records: int
    persons: int
    pairs_scored: int
    pairs_matched: int
    threshold: float
    seconds: float
    records_by_dataset: dict[str, int] = field(default_factory=dict)
    probability_two_random_records_match: float = 0.0
    notes: list[str] = field(default_factory=list)  # Splink's warnings, if any

    @property
    def paths(self) -> list[Path]:
        return [self.store / IDENTIFIERS_DB]

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": str(self.store),
            "records": self.records,
            "persons": self.persons,
            "pairs_scored": self.pairs_scored,
            "pairs_matched": self.pairs_matched,
            "threshold": self.threshold,
            "seconds": round(self.seconds, 3),
            "records_by_dataset": self.records_by_dataset,
            "probability_two_random_records_match": self.probability_two_random_records_match,
            "map": f"{IDENTIFIERS_DB}:{MAP_TABLE}",
            "notes": self.notes,
            "paths": [str(p) for p in self.paths],
        }


def person_datasets(con: duckdb.DuckDBPyConnection) -> list[Dataset]:
    """The datasets in the store whose records are about persons (not ``areas``)."""
    present = table_names(con, "idz")
    return [ds for ds in PERSON_DATASETS if ds.name in present]


def _clean_name_sql(col: str) -> str:
    return f"nullif(regexp_replace(lower(trim({col})), '[^a-z]', '', 'g'), '')"


def stacked_sql(datasets: list[Dataset]) -> str:
    """SQL for every person record's standardised identifiers, from ``idz``."""
    parts = []
    for order, ds in enumerate(datasets):
        cols = set(ds.column_names)
        refs = "".join(
            f", nullif(upper(regexp_replace(\"{c}\", '\\s', '', 'g')), '') AS {c}"
            if c in cols
            else f", NULL::VARCHAR AS {c}"
            for c in model.REFERENCE_COLUMNS
        )
        parts.append(
            f"SELECT CAST(record_id AS VARCHAR) AS unique_id, '{ds.name}' AS source_dataset, "
            f"{order} AS dataset_order, source_file, source_row, "
            f"{_clean_name_sql('forename')} AS forename, "
            f"{_clean_name_sql('surname')} AS surname, "
            "date_of_birth AS dob, "
            "nullif(upper(trim(sex)), '') AS sex, "
            "nullif(regexp_replace(upper(trim(postcode)), '\\s+', ' ', 'g'), '') AS postcode"
            f"{refs} "
            f'FROM idz."{ds.name}" '
            "WHERE ingest_id IN (SELECT ingest_id FROM idz._ingests WHERE status = 'complete')"
        )
    return " UNION ALL ".join(parts)


def _groups_table(groups: dict[str, list[str]]) -> pa.Table:
    return pa.table(
        {
            "name": pa.array(list(groups), pa.string()),
            "names": pa.array(list(groups.values()), pa.list_(pa.string())),
        }
    )


def _prepare(con: duckdb.DuckDBPyConnection, raw: pa.Table) -> None:
    """Make ``records``, the table Splink links, in the linkage connection."""
    con.register("raw", raw)
    con.register("forenames", _groups_table(model.forename_groups()))
    con.register("surnames", _groups_table(model.surname_groups()))
    con.execute(
        """
        CREATE OR REPLACE TABLE records AS
        SELECT r.*,
            year(r.dob) AS dob_year,
            CASE WHEN r.forename IS NOT NULL THEN coalesce(f.names, [r.forename]) END
                AS forename_names,
            CASE WHEN r.surname IS NOT NULL THEN coalesce(s.names, [r.surname]) END
                AS surname_names,
            nullif(regexp_extract(r.postcode, '^([A-Z]{1,2}[0-9][A-Z0-9]? [0-9])', 1), '')
                AS postcode_sector,
            nullif(regexp_extract(r.postcode, '^([A-Z]{1,2}[0-9][A-Z0-9]?)( |$)', 1), '')
                AS postcode_district
        FROM raw r
        LEFT JOIN forenames f ON f.name = r.forename
        LEFT JOIN surnames s ON s.name = r.surname
        """
    )
    for name in ("raw", "forenames", "surnames"):
        con.unregister(name)


class _Notes(logging.Handler):
    """Collects Splink's warnings (untrained levels and the like) for the summary,
    instead of printing them over a progress bar."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = " ".join(self.format(record).split())
        if message and message not in self.messages:
            self.messages.append(message)


@contextmanager
def _quiet_splink() -> Iterator[list[str]]:
    """Splink's loggers at WARNING, their warnings kept rather than printed."""
    notes = _Notes()
    saved = [(log, log.level) for log in map(logging.getLogger, _SPLINK_LOGGERS)]
    for log, _ in saved:
        log.setLevel(logging.WARNING)
    root = logging.getLogger(_SPLINK_LOGGERS[0])
    handlers, propagate = list(root.handlers), root.propagate
    for h in handlers:
        root.removeHandler(h)
    root.addHandler(notes)
    root.propagate = False
    try:
        yield notes.messages
    finally:
        root.removeHandler(notes)
        for h in handlers:
            root.addHandler(h)
        root.propagate = propagate
        for log, level in saved:
            log.setLevel(level)


def link(
    store: Path,
    threshold: float = DEFAULT_THRESHOLD,
    progress: Progress | None = None,
) -> LinkSummary:
    """Link every person record in the store at ``store`` into persons, and write
    ``idz.person_map``. ``threshold`` is the match probability at or above which
    two records are taken to be the same person."""
    if not 0.0 < threshold < 1.0:
        raise FivesafesError(
            f"the threshold is a match probability: give one between 0 and 1, not {threshold}"
        )
    if not (store / IDENTIFIERS_DB).exists():
        raise FivesafesError(
            f"{store} is not a fivesafes store (no {IDENTIFIERS_DB}); run `fivesafes ingest` first"
        )
    from splink import DuckDBAPI, Linker

    t0 = time.perf_counter()

    def step(message: str, fraction: float) -> None:
        if progress:
            progress(message, fraction)

    # The store stays open (and locked) throughout, so no ingest can change the
    # records between reading them and writing their map.
    with _quiet_splink() as notes, open_store(store) as scon:
        step("reading identifiers", 0.0)
        datasets = person_datasets(scon)
        if not datasets:
            raise FivesafesError(f"{store} has no person records to link; ingest some first")
        raw = scon.sql(stacked_sql(datasets)).to_arrow_table()
        if raw.num_rows == 0:
            raise FivesafesError(f"{store} has no person records to link; ingest some first")

        # Splink works in a connection of its own, in memory: it never sees the
        # content zone, and leaves nothing behind in the store.
        lcon = duckdb.connect()
        try:
            _prepare(lcon, raw)
            db_api = DuckDBAPI(connection=lcon)
            records = db_api.register("records", table_name="records_input")
            linker = Linker(records, model.settings(), log_level=None)
            training = linker.training

            step("estimating the prior", 0.1)
            training.estimate_probability_two_random_records_match(
                list(model.deterministic_rules()), recall=model.DETERMINISTIC_RECALL
            )
            step("estimating u by random sampling", 0.2)
            training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=SEED)
            rules = model.training_blocking_rules()
            for i, rule in enumerate(rules):
                step("estimating m by expectation maximisation", 0.35 + 0.2 * i / len(rules))
                training.estimate_parameters_using_expectation_maximisation(
                    rule, record_sample_proportion=1.0
                )

            step("scoring pairs", 0.6)
            predictions = linker.inference.predict()
            pairs_scored, pairs_matched = lcon.execute(
                f"SELECT count(*), count(*) FILTER (WHERE match_probability >= {threshold}) "
                f"FROM {predictions.physical_name}"
            ).fetchall()[0]

            step("clustering", 0.85)
            clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
                predictions, threshold_match_probability=threshold
            )
            person_map = lcon.sql(_map_sql(clusters.physical_name)).to_arrow_table()
            model_json = linker.misc.save_model_to_json()
            prior = float(model_json["probability_two_random_records_match"])
        finally:
            lcon.close()

        step("writing the person map", 0.95)
        _write_map(scon, person_map)
        by_dataset = dict(
            scon.execute(
                f"SELECT dataset, count(*) FROM idz.{MAP_TABLE} GROUP BY dataset ORDER BY dataset"
            ).fetchall()
        )
        ((persons,),) = scon.execute(
            f"SELECT count(DISTINCT person_id) FROM idz.{MAP_TABLE}"
        ).fetchall()
    step("done", 1.0)
    return LinkSummary(
        store=store,
        records=raw.num_rows,
        persons=int(persons),
        pairs_scored=int(pairs_scored),
        pairs_matched=int(pairs_matched),
        threshold=threshold,
        seconds=time.perf_counter() - t0,
        records_by_dataset={str(k): int(v) for k, v in by_dataset.items()},
        probability_two_random_records_match=prior,
        notes=list(notes),
    )


def _map_sql(clusters: str) -> str:
    """Record to person, people numbered in the order of their first record."""
    return f"""
        WITH r AS (
            SELECT rec.unique_id, rec.source_dataset,
                coalesce(c.cluster_id, rec.unique_id) AS cluster_id,
                row_number() OVER (
                    ORDER BY rec.dataset_order, rec.source_file, rec.source_row, rec.unique_id
                ) AS rn
            FROM records rec
            LEFT JOIN (SELECT DISTINCT unique_id, cluster_id FROM {clusters}) c
                USING (unique_id)
        ),
        firsts AS (SELECT cluster_id, min(rn) AS first FROM r GROUP BY cluster_id),
        persons AS (
            SELECT cluster_id, row_number() OVER (ORDER BY first) AS person_id FROM firsts
        )
        SELECT CAST(r.unique_id AS UUID) AS record_id, r.source_dataset AS dataset,
            CAST(p.person_id AS BIGINT) AS person_id
        FROM r JOIN persons p USING (cluster_id)
        ORDER BY person_id, r.rn
    """


def _write_map(con: duckdb.DuckDBPyConnection, person_map: pa.Table) -> None:
    """Replace ``idz.person_map`` in one transaction."""
    con.register("new_map", person_map)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                f"CREATE OR REPLACE TABLE idz.{MAP_TABLE} ("
                "record_id UUID NOT NULL, dataset VARCHAR NOT NULL, person_id BIGINT NOT NULL)"
            )
            con.execute(
                f"INSERT INTO idz.{MAP_TABLE} SELECT record_id, dataset, person_id FROM new_map"
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister("new_map")


__all__ = ["DEFAULT_THRESHOLD", "LinkSummary", "link"]
