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
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

Progress = Callable[[str, float], None]
ENGINES = ("duckdb", "spark")
#: Pairs sampled to estimate u probabilities.
U_MAX_PAIRS = 5e6
#: Pairs each expectation-maximisation rule trains on, at most: Splink samples
#: records (by a hash of their id, on each side) so that a rule that blocks more
#: pairs than this trains on about this many. Small populations train on all.
EM_MAX_PAIRS = 5e6
#: Records Splink samples to estimate how many pairs a training rule blocks.
EM_PROBE_RECORDS = 500_000
SEED = 20240601
BORDERLINE_PAIRS = 50


#: The tables :func:`run_splink` leaves in the connection it is given (``into``).
CLUSTERS_TABLE = "splink_clusters"  # unique_id, cluster_id
MATCHED_PAIRS = "matched_pairs"  # unique_id_l, unique_id_r, match_probability


@dataclass
class SplinkResult:
    #: unique_id, cluster_id; None when they were left in the connection given
    #: as ``into`` (as :data:`CLUSTERS_TABLE`, with :data:`MATCHED_PAIRS`)
    clusters: pa.Table | None
    pairs_scored: int
    pairs_matched: int
    model: dict[str, Any]
    weight_histogram: list[dict[str, float]]  # bin start (match weight), pairs
    estimated: dict[str, float]  # the model's own precision/recall at the threshold
    borderline: pa.Table  # unique_id_l, unique_id_r, match_weight, match_probability
    notes: list[str] = field(default_factory=list)


#: Spark's own loggers that warn about nothing the user can act on in local mode.
_SPARK_QUIET_LOGGERS = (
    "org.apache.hadoop.util.NativeCodeLoader",
    "org.apache.spark.util.Utils",
    "org.apache.spark.SparkConf",
    "org.apache.spark.sql.execution.datasources.DataSource",
    "org.apache.spark.sql.catalyst.util.SparkStringUtils",
)


def _log4j_config(directory: Path) -> Path:
    """A log4j2 configuration: warnings and errors to stderr (never stdout, which
    ``--json`` keeps for one JSON document), without Spark's start-up chatter."""
    path = directory / "log4j2.properties"
    lines = [
        "rootLogger.level = warn",
        "rootLogger.appenderRef.stderr.ref = console",
        "appender.console.type = Console",
        "appender.console.name = console",
        "appender.console.target = SYSTEM_ERR",
        "appender.console.layout.type = PatternLayout",
        "appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex",
    ]
    for i, name in enumerate(_SPARK_QUIET_LOGGERS):
        lines += [f"logger.q{i}.name = {name}", f"logger.q{i}.level = error"]
    path.write_text("\n".join(lines) + "\n")
    return path


def spark_session(master: str | None = None, work_dir: Path | None = None) -> Any:
    """A Spark session with Splink's similarity functions (Jaro-Winkler,
    Damerau-Levenshtein: a jar shipped with Splink): local mode on this machine
    (``local[2]``), or the cluster at ``master``.

    Spark's scratch files (shuffle spills, Splink's intermediate tables) go under
    ``work_dir`` (a new temporary folder if none is given) in local mode. On a
    cluster they go where the cluster keeps them: Splink's intermediate tables to
    its ``spark.checkpoint.dir`` if it sets one, else they are cached on the
    executors. An active session is reused as it is (as a test shares one)."""
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    local = master is None or master.startswith("local")
    jar = similarity_jar_location()
    builder = (
        SparkSession.builder.master(master or "local[2]")
        .appName("fivesafes-link")
        .config("spark.jars", jar)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        # Splink's SQL is wide (a CASE per comparison level): constraint propagation
        # costs seconds of planning per query and gains nothing here.
        .config("spark.sql.constraintPropagation.enabled", "false")
    )
    if local:
        work = Path(work_dir or tempfile.mkdtemp(prefix="fivesafes-spark-"))
        work.mkdir(parents=True, exist_ok=True)
        log4j = _log4j_config(work)
        java_options = f"-Dlog4j.configurationFile=file:{log4j}"
        builder = (
            builder.config("spark.driver.memory", "4g")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.extraJavaOptions", java_options)
            .config("spark.local.dir", str(work / "local"))
            .config("spark.sql.warehouse.dir", str(work / "warehouse"))
            .config("spark.checkpoint.dir", str(work / "checkpoints"))
            # A few thousand to a few million rows: few partitions, little overhead.
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.default.parallelism", "4")
        )
    else:
        # The cluster's executors need the jar too: spark.jars ships it to them.
        builder = builder.config("spark.driver.extraClassPath", jar)
    with _jvm_stdout_to_stderr():
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


@contextmanager
def _jvm_stdout_to_stderr() -> Iterator[None]:
    """While the JVM starts, point file descriptor 1 at stderr: the JVM inherits it
    as its stdout (the JDK prints warnings there), and ours stays clean for
    ``--json``."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _spark_inputs(
    records: pa.Table, spark_master: str | None
) -> tuple[Any, Any, Callable[[], None]]:
    """Splink's Spark API over a session, the records registered in it, and what
    to do afterwards: stop a session made here and remove its scratch folder."""
    from pyspark.sql import SparkSession
    from splink import SparkAPI

    made = SparkSession.getActiveSession() is None
    local = spark_master is None or spark_master.startswith("local")
    work = Path(tempfile.mkdtemp(prefix="fivesafes-spark-")) if made and local else None
    spark = spark_session(spark_master, work)

    def close() -> None:
        spark.catalog.dropTempView("records_input")
        if made:
            spark.stop()
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)

    try:
        sc = spark.sparkContext
        # Splink breaks long query plans by writing its intermediate tables to the
        # checkpoint directory; with none (a cluster that sets none), it caches them.
        method = "parquet" if sc.getCheckpointDir() is not None else "persist"
        db_api = SparkAPI(spark_session=spark, break_lineage_method=method)  # type: ignore[no-untyped-call]
        _check_similarity_functions(spark)
        # Materialised on the executors, so that every query reads it rather than
        # carrying (and, in the optimiser, re-evaluating) the records inline.
        frame = spark.createDataFrame(records).localCheckpoint(eager=True)
        inputs = db_api.register(frame, table_name="records_input")
    except BaseException:
        close()
        raise
    return db_api, inputs, close


def _check_similarity_functions(spark: Any) -> None:
    """Fail early, and say why, if Splink's jar is not on the session's classpath."""
    try:
        spark.sql("SELECT jaro_winkler('martha', 'marhta') AS s").collect()
    except Exception as exc:
        from splink.backends.spark import similarity_jar_location

        raise RuntimeError(
            "Splink's Spark functions (jaro_winkler, damerau_levenshtein) are not available "
            "in this Spark session: start it with spark.jars set to "
            f"{similarity_jar_location()} (the cluster needs the same jar)"
        ) from exc


def duckdb_memory_limit() -> str | None:
    """DuckDB's memory limit for linkage: ``FIVESAFES_LINK_MEMORY`` (``8GB``, say),
    or None for DuckDB's own default (80% of the machine's memory). The records,
    the scored pairs and the clusters all live inside DuckDB, which spills to
    disk past its limit."""
    return os.environ.get("FIVESAFES_LINK_MEMORY") or None


@contextmanager
def linkage_duckdb() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB for a linkage run: spilling to a temporary folder of
    its own (removed afterwards) rather than failing when the scored pairs
    outgrow memory, without the progress bar (it would print into ``--json``)."""
    spill = tempfile.mkdtemp(prefix="fivesafes-link-")
    config: dict[str, str | bool | int | float | list[str]] = {"temp_directory": spill}
    limit = duckdb_memory_limit()
    if limit:
        config["memory_limit"] = limit
    con = duckdb.connect(config=config)
    try:
        con.execute("SET enable_progress_bar = false")
        yield con
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def run_splink(
    records: pa.Table | str,
    settings: Any,
    *,
    deterministic_rules: Sequence[Any],
    deterministic_recall: float,
    training_rules: Sequence[Any],
    threshold: float,
    engine: str = "duckdb",
    spark_master: str | None = None,
    progress: Progress | None = None,
    into: duckdb.DuckDBPyConnection | None = None,
) -> SplinkResult:
    """Train, score and cluster ``records`` (one table, or ``source_dataset`` set
    for link-only models) with the Splink ``settings`` on ``engine``.

    With ``into`` (a DuckDB connection, as :func:`linkage_duckdb` makes), the
    clusters and the pairs at or above the threshold are left there, as
    :data:`CLUSTERS_TABLE` and :data:`MATCHED_PAIRS`, for the caller's own SQL;
    on DuckDB, Splink then runs in that connection, and ``records`` may name a
    table of it."""
    from splink import Linker

    def step(message: str, fraction: float) -> None:
        if progress:
            progress(message, fraction)

    close: Callable[[], None]
    if engine == "duckdb":
        from splink import DuckDBAPI

        own = ExitStack()
        con = into if into is not None else own.enter_context(linkage_duckdb())
        close = own.close
        db_api: Any = DuckDBAPI(connection=con)
        inputs = db_api.register(records, table_name="records_input")
    elif engine == "spark":
        if isinstance(records, str):
            if into is None:
                raise ValueError("a table name for the records needs the connection holding it")
            records = into.table(records).to_arrow_table()
        db_api, inputs, close = _spark_inputs(records, spark_master)
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
        n_records = (
            records.num_rows
            if isinstance(records, pa.Table)
            else linker.misc.query_sql(
                f"SELECT count(*) AS n FROM {inputs.physical_name}", output_type="pandas"
            )["n"].iloc[0]
        )
        probe = min(1.0, EM_PROBE_RECORDS / max(1, int(n_records)))
        for i, rule in enumerate(training_rules):
            step("estimating m by expectation maximisation", 0.35 + 0.2 * i / len(training_rules))
            training.estimate_parameters_using_expectation_maximisation(
                rule, max_pairs=EM_MAX_PAIRS, record_sample_proportion=probe
            )
        step("scoring pairs", 0.6)
        predictions = linker.inference.predict()
        t = predictions.physical_name
        step("summarising the scored pairs", 0.8)
        w_threshold = math.log2(threshold / (1 - threshold))
        # One pass over the scored pairs: the match-weight histogram, with the
        # sums the model's own precision and recall estimates need, per bin.
        histogram = linker.misc.query_sql(
            f"SELECT floor(match_weight) AS bin, count(*) AS pairs, "
            f"sum(CASE WHEN match_probability >= {threshold} THEN 1 ELSE 0 END) AS matched, "
            f"sum(match_probability) AS expected_all, "
            f"sum(CASE WHEN match_probability >= {threshold} THEN match_probability ELSE 0 END)"
            f" AS expected_matched FROM {t} GROUP BY floor(match_weight) ORDER BY bin",
            output_type="pandas",
        )
        stats = histogram[["pairs", "matched", "expected_all", "expected_matched"]].sum()
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
        cluster_sql = f"SELECT DISTINCT unique_id, cluster_id FROM {clusters.physical_name}"
        pairs_sql = (
            f"SELECT unique_id_l, unique_id_r, match_probability FROM {t} "
            f"WHERE match_probability >= {threshold}"
        )
        cluster_table: pa.Table | None = None
        if into is None:
            cluster_table = linker.misc.query_sql(
                cluster_sql, output_type="splink_df"
            ).as_pyarrow_table()
        elif engine == "duckdb":
            # Left where they are: the pairs as a view over Splink's scored pairs.
            into.execute(f"CREATE OR REPLACE TABLE {CLUSTERS_TABLE} AS {cluster_sql}")
            into.execute(f"CREATE OR REPLACE VIEW {MATCHED_PAIRS} AS {pairs_sql}")
        else:
            for name, sql in ((CLUSTERS_TABLE, cluster_sql), (MATCHED_PAIRS, pairs_sql)):
                arrow = linker.misc.query_sql(sql, output_type="splink_df").as_pyarrow_table()
                into.register("_from_spark", arrow)
                into.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _from_spark")
                into.unregister("_from_spark")
                del arrow
        model = linker.misc.save_model_to_json()
    finally:
        close()
    scored = int(stats["pairs"] or 0)
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
