"""Running a Splink model on an engine: DuckDB (default, in memory) or Spark.

:func:`run_splink` is the part of linkage that is the same whatever the data:
estimate the prior, u and m, score the pairs the blocking rules generate,
cluster them at the threshold, and summarise what the model did (match-weight
distribution, the model's own estimate of precision and recall, the pairs
nearest the threshold for clerical review). :mod:`fivesafes.data.link.run`
feeds it the store's identifiers; the FEBRL benchmark feeds it other columns.

Spark runs in local mode by default (``local[2]``) or on a cluster given its
master URL (``spark://host:7077``, ``yarn``, ``k8s://...``): see docs/linkage.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

Progress = Callable[[str, float], None]
ENGINES = ("duckdb", "spark")
#: Pairs sampled to estimate u probabilities.
U_MAX_PAIRS = 5e6
SEED = 20240601
BORDERLINE_PAIRS = 50


@dataclass
class SplinkResult:
    clusters: pa.Table  # unique_id, cluster_id (records in no pair are absent)
    pairs_scored: int
    pairs_matched: int
    model: dict[str, Any]
    weight_histogram: list[dict[str, float]]  # bin start (match weight), pairs
    estimated: dict[str, float]  # the model's own precision/recall at the threshold
    borderline: pa.Table  # unique_id_l, unique_id_r, match_weight, match_probability
    notes: list[str] = field(default_factory=list)


def spark_session(master: str | None = None) -> Any:
    """A Spark session: local mode on this machine, or the cluster at ``master``."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master or "local[2]")
        .appName("fivesafes-link")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "4g")
    )
    return builder.getOrCreate()


def run_splink(
    records: pa.Table,
    settings: Any,
    *,
    deterministic_rules: Sequence[Any],
    deterministic_recall: float,
    training_rules: Sequence[Any],
    threshold: float,
    engine: str = "duckdb",
    spark_master: str | None = None,
    progress: Progress | None = None,
) -> SplinkResult:
    """Train, score and cluster ``records`` (one table, or ``source_dataset`` set
    for link-only models) with the Splink ``settings`` on ``engine``."""
    from splink import Linker

    def step(message: str, fraction: float) -> None:
        if progress:
            progress(message, fraction)

    close: Callable[[], None]
    if engine == "duckdb":
        from splink import DuckDBAPI

        con = duckdb.connect()
        con.register("records_arrow", records)
        con.execute("CREATE TABLE records AS SELECT * FROM records_arrow")
        con.unregister("records_arrow")
        db_api: Any = DuckDBAPI(connection=con)
        inputs = db_api.register("records", table_name="records_input")
        close = con.close
    elif engine == "spark":
        from splink import SparkAPI

        spark = spark_session(spark_master)
        frame = spark.createDataFrame(records.to_pandas())
        db_api = SparkAPI(spark_session=spark)  # type: ignore[no-untyped-call]
        inputs = db_api.register(frame, table_name="records_input")

        def close() -> None:
            return None
    else:
        raise ValueError(f"engine must be one of {ENGINES}")
    try:
        linker: Any = Linker(inputs, settings)
        training = linker.training
        step("estimating the prior", 0.1)
        training.estimate_probability_two_random_records_match(
            list(deterministic_rules), recall=deterministic_recall
        )
        step("estimating u by random sampling", 0.2)
        training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=SEED)
        for i, rule in enumerate(training_rules):
            step("estimating m by expectation maximisation", 0.35 + 0.2 * i / len(training_rules))
            training.estimate_parameters_using_expectation_maximisation(
                rule, record_sample_proportion=1.0
            )
        step("scoring pairs", 0.6)
        predictions = linker.inference.predict()
        t = predictions.physical_name
        w_threshold = math.log2(threshold / (1 - threshold))
        stats = linker.misc.query_sql(
            f"SELECT count(*) AS scored, "
            f"sum(CASE WHEN match_probability >= {threshold} THEN 1 ELSE 0 END) AS matched, "
            f"sum(match_probability) AS expected_all, "
            f"sum(CASE WHEN match_probability >= {threshold} THEN match_probability ELSE 0 END)"
            f" AS expected_matched FROM {t}",
            output_type="pandas",
        ).iloc[0]
        histogram = linker.misc.query_sql(
            f"SELECT floor(match_weight) AS bin, count(*) AS pairs FROM {t} "
            "GROUP BY floor(match_weight) ORDER BY bin",
            output_type="pandas",
        )
        borderline = linker.misc.query_sql(
            f"SELECT unique_id_l, unique_id_r, match_weight, match_probability FROM {t} "
            f"WHERE match_weight BETWEEN {w_threshold - 6} AND {w_threshold + 6} "
            f"ORDER BY abs(match_weight - {w_threshold}), unique_id_l, unique_id_r "
            f"LIMIT {BORDERLINE_PAIRS}",
            output_type="pandas",
        )
        step("clustering", 0.85)
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold
        )
        cluster_table = linker.misc.query_sql(
            f"SELECT DISTINCT CAST(unique_id AS VARCHAR) AS unique_id, "
            f"CAST(cluster_id AS VARCHAR) AS cluster_id FROM {clusters.physical_name}",
            output_type="splink_df",
        ).as_pyarrow_table()
        model = linker.misc.save_model_to_json()
    finally:
        close()
    scored = int(stats["scored"] or 0)
    matched = int(stats["matched"] or 0)
    expected_all = float(stats["expected_all"] or 0.0)
    expected_matched = float(stats["expected_matched"] or 0.0)
    return SplinkResult(
        clusters=cluster_table,
        pairs_scored=scored,
        pairs_matched=matched,
        model=model,
        weight_histogram=[
            {"match_weight_from": float(b), "pairs": int(n)}
            for b, n in zip(histogram["bin"], histogram["pairs"], strict=True)
        ],
        estimated={
            "precision": round(expected_matched / matched, 5) if matched else 1.0,
            "recall_of_scored_pairs": round(expected_matched / expected_all, 5)
            if expected_all
            else 1.0,
            "expected_matching_pairs": round(expected_all, 1),
        },
        borderline=pa.Table.from_pandas(borderline, preserve_index=False),
    )
