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

import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from fivesafes.data.link import settings as model
from fivesafes.data.link.clusters import split_clusters_in
from fivesafes.data.link.engine import (
    CLUSTERS_TABLE,
    ENGINES,
    MATCHED_PAIRS,
    SplinkResult,
    linkage_duckdb,
    run_splink,
)
from fivesafes.data.store import IDENTIFIERS_DB, open_store, table_names
from fivesafes.datasets import PERSON_DATASETS, Dataset
from fivesafes.errors import FivesafesError

Progress = Callable[[str, float], None]

#: Pairs at or above this match probability are the same person. Clusters are
#: connected components, so one false link joins two people: keep it high.
DEFAULT_THRESHOLD = 0.95
MAP_TABLE = "person_map"
RUNS_TABLE = "link_runs"
BORDERLINE_TABLE = "link_borderline"

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
    engine: str = "duckdb"
    estimated: dict[str, float] = field(default_factory=dict)  # the model's own estimates
    cluster_step: dict[str, Any] = field(default_factory=dict)  # what the split did

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
            "engine": self.engine,
            "estimated_by_model": self.estimated,
            "cluster_step": self.cluster_step,
            "map": f"{IDENTIFIERS_DB}:{MAP_TABLE}",
            "notes": self.notes,
            "paths": [str(p) for p in self.paths],
        }


def person_datasets(con: duckdb.DuckDBPyConnection) -> list[Dataset]:
    """The datasets in the store whose records are about persons (not ``areas``)."""
    present = table_names(con, "idz")
    return [ds for ds in PERSON_DATASETS if ds.name in present]


def _clean_name_sql(col: str) -> str:
    """As :func:`fivesafes.data.link.settings.clean_name`: accents folded, lower
    case, letters only."""
    return f"nullif(regexp_replace(lower(strip_accents(trim({col}))), '[^a-z]', '', 'g'), '')"


def _name_parts_sql(col: str) -> str:
    """The parts of a double-barrelled or hyphenated name, each cleaned."""
    return (
        f"list_filter(list_transform(string_split_regex(lower(strip_accents(trim({col}))), "
        "'[\\s-]+'), lambda x: regexp_replace(x, '[^a-z]', '', 'g')), lambda x: x <> '')"
    )


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
            f"SELECT record_id, '{ds.name}' AS source_dataset, "
            f"{order} AS dataset_order, source_file, source_row, "
            f"{_clean_name_sql('forename')} AS forename, "
            f"{_clean_name_sql('surname')} AS surname, "
            f"{_name_parts_sql('surname')} AS surname_parts, "
            "date_of_birth AS dob, "
            f"{model.filler_dob_sql('date_of_birth', ds.dob_filler)} AS dob_filler, "
            "nullif(upper(trim(sex)), '') AS sex, "
            "nullif(regexp_replace(upper(trim(postcode)), '\\s+', ' ', 'g'), '') AS postcode"
            f"{refs} "
            f'FROM idz."{ds.name}" '
            "WHERE ingest_id IN (SELECT ingest_id FROM idz._ingests WHERE status = 'complete')"
        )
    # Splink's ids are integers (numbered in the records' own order): joins and
    # the scored pairs cost a fraction of what 36-character UUID strings do.
    return (
        "SELECT CAST(row_number() OVER (ORDER BY dataset_order, source_file, source_row, "
        "record_id) AS BIGINT) AS unique_id, * FROM (" + " UNION ALL ".join(parts) + ")"
    )


def _groups_table(groups: dict[str, list[str]]) -> pa.Table:
    return pa.table(
        {
            "name": pa.array(list(groups), pa.string()),
            "names": pa.array(list(groups.values()), pa.list_(pa.string())),
        }
    )


def _metaphone_table(raw: pa.Table) -> pa.Table:
    """The Metaphone code of every distinct forename and surname."""
    import jellyfish

    names = sorted({n for col in ("forename", "surname") for n in raw.column(col).to_pylist() if n})
    return pa.table(
        {
            "name": pa.array(names, pa.string()),
            "code": pa.array([jellyfish.metaphone(n) or None for n in names], pa.string()),
        }
    )


#: The prepared records Splink links, and what maps its integer ids back to
#: records, in the linkage's DuckDB.
RECORDS = "records_input"
KEYS = "record_keys"


def _prepare(con: duckdb.DuckDBPyConnection, raw: pa.Table) -> None:
    """Make :data:`RECORDS`, the table Splink links (standardised identifiers, name
    variants, postcode sector and district), and :data:`KEYS` (its ids and the
    records they stand for), in ``con``. Both stay inside DuckDB: Splink reads
    its own table faster than an Arrow one, and DuckDB can spill it to disk."""
    con.register("raw", raw)
    con.register("forenames", _groups_table(model.forename_groups()))
    con.register("sounds", _metaphone_table(raw))
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {RECORDS} AS
        SELECT r.* EXCLUDE (surname_parts),
            year(r.dob) AS dob_year,
            CASE WHEN r.forename IS NOT NULL THEN coalesce(f.names, [r.forename]) END
                AS forename_names,
            CASE WHEN r.surname IS NOT NULL THEN list_distinct(
                list_concat([r.surname], coalesce(r.surname_parts, []))) END
                AS surname_names,
            fm.code AS forename_metaphone,
            sm.code AS surname_metaphone,
            nullif(regexp_extract(r.postcode, '^([A-Z]{{1,2}}[0-9][A-Z0-9]? [0-9])', 1), '')
                AS postcode_sector,
            nullif(regexp_extract(r.postcode, '^([A-Z]{{1,2}}[0-9][A-Z0-9]?)( |$)', 1), '')
                AS postcode_district
        FROM raw r
        LEFT JOIN forenames f ON f.name = r.forename
        LEFT JOIN sounds fm ON fm.name = r.forename
        LEFT JOIN sounds sm ON sm.name = r.surname
        """
    )
    for name in ("raw", "forenames", "sounds"):
        con.unregister(name)
    con.execute(
        f"CREATE OR REPLACE TABLE {KEYS} AS SELECT unique_id, record_id, source_dataset, "
        f"dataset_order, source_file, source_row FROM {RECORDS}"
    )
    con.execute(f"ALTER TABLE {RECORDS} DROP COLUMN record_id")


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
    engine: str = "duckdb",
    spark_master: str | None = None,
) -> LinkSummary:
    """Link every person record in the store at ``store`` into persons, and write
    ``idz.person_map``. ``threshold`` is the match probability at or above which
    two records are taken to be the same person; ``engine`` is ``duckdb`` (in
    memory, the default) or ``spark`` (local mode, or the cluster at
    ``spark_master``)."""
    if not 0.0 < threshold < 1.0:
        raise FivesafesError(
            f"the threshold is a match probability: give one between 0 and 1, not {threshold}"
        )
    if engine not in ENGINES:
        raise FivesafesError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if not (store / IDENTIFIERS_DB).exists():
        raise FivesafesError(
            f"{store} is not a fivesafes store (no {IDENTIFIERS_DB}); run `fivesafes ingest` first"
        )
    if engine == "spark":
        try:
            import pyspark  # noqa: F401
        except ImportError:
            raise FivesafesError(
                "the Spark engine needs pyspark and Java: pip install 'splink[spark]' and a "
                "Java 17 runtime, or use --engine duckdb"
            ) from None

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
        n_records = raw.num_rows
        if n_records == 0:
            raise FivesafesError(f"{store} has no person records to link; ingest some first")

        # Splink works apart from the store (in memory, or on Spark): it never
        # sees the content zone, and leaves nothing behind in the store.
        with linkage_duckdb() as lcon:
            _prepare(lcon, raw)
            del raw  # the prepared records hold all Splink needs
            result = run_splink(
                RECORDS,
                model.settings(),
                deterministic_rules=model.deterministic_rules(),
                deterministic_recall=model.DETERMINISTIC_RECALL,
                training_rules=model.training_blocking_rules(),
                threshold=threshold,
                engine=engine,
                spark_master=spark_master,
                progress=lambda m, f: step(m, 0.05 + 0.85 * f),
                into=lcon,
            )
            step("splitting clusters that cannot be one person", 0.9)
            split, cluster_step = split_clusters_in(lcon, RECORDS, CLUSTERS_TABLE, MATCHED_PAIRS)
            lcon.register("clusters", split)
            person_map = lcon.sql(_map_sql("clusters")).to_arrow_table()
            lcon.register("borderline", result.borderline)
            result.borderline = lcon.sql(
                "SELECT l.record_id AS record_id_l, r.record_id AS record_id_r, "
                f"b.match_weight, b.match_probability FROM borderline b "
                f"JOIN {KEYS} l ON l.unique_id = b.unique_id_l "
                f"JOIN {KEYS} r ON r.unique_id = b.unique_id_r "
                "ORDER BY abs(b.match_weight - "
                f"{math.log2(threshold / (1 - threshold))}), record_id_l, record_id_r"
            ).to_arrow_table()

        step("writing the person map", 0.95)
        prior = float(result.model["probability_two_random_records_match"])
        summary = LinkSummary(
            store=store,
            records=n_records,
            persons=len(pc.unique(person_map.column("person_id"))),
            pairs_scored=result.pairs_scored,
            pairs_matched=result.pairs_matched,
            threshold=threshold,
            seconds=time.perf_counter() - t0,
            probability_two_random_records_match=prior,
            engine=engine,
            estimated=result.estimated,
            cluster_step=cluster_step.to_dict(),
            records_by_dataset=_records_by_dataset(person_map),
            notes=list(notes),
        )
        _write_results(scon, person_map, result, summary)
    step("done", 1.0)
    summary.seconds = time.perf_counter() - t0
    return summary


def _records_by_dataset(person_map: pa.Table) -> dict[str, int]:
    counts = person_map.group_by("dataset").aggregate([("person_id", "count")])
    pairs = zip(
        counts.column("dataset").to_pylist(),
        counts.column("person_id_count").to_pylist(),
        strict=True,
    )
    return dict(sorted((str(k), int(v)) for k, v in pairs))


def _map_sql(clusters: str) -> str:
    """Record to person, people numbered in the order of their first record."""
    return f"""
        WITH r AS (
            SELECT rec.unique_id, rec.record_id, rec.source_dataset,
                coalesce(c.cluster_id, rec.unique_id) AS cluster_id,
                row_number() OVER (
                    ORDER BY rec.dataset_order, rec.source_file, rec.source_row, rec.unique_id
                ) AS rn
            FROM {KEYS} rec
            LEFT JOIN {clusters} c USING (unique_id)
        ),
        firsts AS (SELECT cluster_id, min(rn) AS first FROM r GROUP BY cluster_id),
        persons AS (
            SELECT cluster_id, row_number() OVER (ORDER BY first) AS person_id FROM firsts
        )
        SELECT CAST(r.record_id AS UUID) AS record_id, r.source_dataset AS dataset,
            CAST(p.person_id AS BIGINT) AS person_id
        FROM r JOIN persons p USING (cluster_id)
        ORDER BY person_id, r.rn
    """


def _write_results(
    con: duckdb.DuckDBPyConnection,
    person_map: pa.Table,
    result: SplinkResult,
    summary: LinkSummary,
) -> None:
    """Replace ``idz.person_map``, and record the run (``idz.link_runs``: the model,
    the match-weight distribution, the estimates) and its borderline pairs
    (``idz.link_borderline``), in one transaction."""
    run = {
        **summary.to_dict(),
        "weight_histogram": result.weight_histogram,
        "model": result.model,
    }
    con.register("new_map", person_map)
    con.register("new_borderline", result.borderline)
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
            con.execute(
                f"CREATE TABLE IF NOT EXISTS idz.{RUNS_TABLE} ("
                "run_id VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, run VARCHAR NOT NULL)"
            )
            run_id = uuid.uuid4().hex
            con.execute(
                f"INSERT INTO idz.{RUNS_TABLE} VALUES (?, now(), ?)",
                [run_id, json.dumps(run, default=str)],
            )
            con.execute(
                f"CREATE OR REPLACE TABLE idz.{BORDERLINE_TABLE} AS "
                "SELECT ? AS run_id, CAST(record_id_l AS UUID) AS record_id_l, "
                "CAST(record_id_r AS UUID) AS record_id_r, match_weight, match_probability "
                "FROM new_borderline",
                [run_id],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister("new_map")
        con.unregister("new_borderline")


__all__ = ["DEFAULT_THRESHOLD", "LinkSummary", "link"]
