"""Benchmark: link a synthetic world at scale on DuckDB, and Splink used directly
with the same settings on the same records (run by hand, not in CI).

    .venv/bin/python benchmarks/bench_link.py --people 1000000 [--workdir DIR]

The world is generated and ingested under ``--workdir`` unless already there
(``world/`` and ``store/``). Then, each in a fresh Python process that reports
its own wall time and peak resident memory:

- ``link``: ``fivesafes.data.link.link(store)``, the whole command (reading the
  identifiers, standardising, Splink, the cluster step that splits clusters with
  conflicting identifiers or weak bridges, writing the person map), then its pairwise
  precision and recall against the world's truth (not timed);
- ``splink``: the same records (``run.stacked_sql`` and ``run._prepare``) and
  ``settings.settings()`` given to Splink directly: the same training calls,
  ``predict`` and ``cluster_pairwise_predictions_at_threshold``, the clusters
  fetched as Arrow, on a DuckDB connection with DuckDB's defaults; the records
  as a table of it (``--direct-input table``, as the wrapper) or as Arrow read
  in place (``--direct-input arrow``). Timed from reading the store to the
  clusters;
- ``pairs`` (``--count-pairs``): pairs per prediction blocking rule, counted by
  Splink's ``count_comparisons_from_blocking_rules`` (exact, marginal and
  cumulative).

Results are printed as JSON and as Markdown rows for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from machine_info import machine  # benchmarks/machine_info.py

STAGE = r"""
import json, resource, sys, time
from pathlib import Path
stage, people, work = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
threshold = float(sys.argv[4])
direct_input = sys.argv[5]
world, store = work / "world", work / "store"
out = {"stage": stage}
t0 = time.perf_counter()
if stage == "synth":
    from fivesafes.synth import WorldConfig, make_world
    make_world(WorldConfig(people=people, seed=1), world)
elif stage == "ingest":
    from fivesafes.data import ingest
    out["rows"] = ingest([world], store).rows_ingested
elif stage == "link":
    from fivesafes.data.link import link
    def progress(message, fraction):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
        print(f"  {time.perf_counter() - t0:7.1f} s  peak {rss:5.2f} GiB  {message}",
              file=sys.stderr, flush=True)
    s = link(store, threshold=threshold, progress=progress)
    out.update(records=s.records, persons=s.persons, pairs_scored=s.pairs_scored,
               pairs_matched=s.pairs_matched, notes=s.notes, cluster_step=s.cluster_step)
elif stage in ("splink", "pairs"):
    import duckdb
    from fivesafes.data.link import run, settings as model
    from fivesafes.data.link.engine import EM_MAX_PAIRS, EM_PROBE_RECORDS, SEED, U_MAX_PAIRS
    from fivesafes.data.store import open_store
    from splink import DuckDBAPI, Linker
    with open_store(store, read_only=True) as scon:
        raw = scon.sql(run.stacked_sql(run.person_datasets(scon))).to_arrow_table()
    # The same prepared records, on a DuckDB connection with DuckDB's defaults (no
    # memory limit or spill folder of ours): a table of it, or Arrow read in place.
    pcon = duckdb.connect()
    run._prepare(pcon, raw)
    del raw
    out["records"] = pcon.execute(f"SELECT count(*) FROM {run.RECORDS}").fetchall()[0][0]
    out["input"] = direct_input
    if direct_input == "arrow":
        records = pcon.table(run.RECORDS).to_arrow_table()
        pcon.close()
        db_api = DuckDBAPI()
        df = db_api.register(records, table_name="records_input")
        del records
    else:
        db_api = DuckDBAPI(connection=pcon)
        df = db_api.register(run.RECORDS, table_name="records_input")
    if stage == "pairs":
        from splink.blocking_analysis import count_comparisons_from_blocking_rules
        rules = model.prediction_blocking_rules()
        counts = count_comparisons_from_blocking_rules(
            df, blocking_rules=rules, link_type="dedupe_only", record_sample_proportion=1.0
        )
        out["rules"] = [
            {k: c[k] for k in ("blocking_rule", "marginal_comparison_count",
                               "cumulative_comparison_count")}
            for c in counts
        ]
    else:
        linker = Linker(df, model.settings())
        linker.training.estimate_probability_two_random_records_match(
            model.deterministic_rules(), recall=model.DETERMINISTIC_RECALL
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=SEED)
        probe = min(1.0, EM_PROBE_RECORDS / out["records"])
        for rule in model.training_blocking_rules():
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, max_pairs=EM_MAX_PAIRS, record_sample_proportion=probe
            )
        predictions = linker.inference.predict()
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold
        )
        table = clusters.as_pyarrow_table()
        out.update(pairs_scored=linker.misc.query_sql(
            f"SELECT count(*) AS n FROM {predictions.physical_name}", output_type="pandas"
        )["n"].iloc[0].item(), clusters=len(set(table.column("cluster_id").to_pylist())))
out["seconds"] = time.perf_counter() - t0
out["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
if stage == "link":
    from fivesafes.data.link import measured_quality
    out["quality"] = measured_quality(store, world / "truth" / "records.csv")
print(json.dumps(out, default=str))
"""


def stage(name: str, people: int, work: Path, threshold: float, direct: str = "table") -> dict:
    print(f"-- {name}", file=sys.stderr, flush=True)
    done = subprocess.run(
        [sys.executable, "-c", STAGE, name, str(people), str(work), str(threshold), direct],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(result), file=sys.stderr, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument(
        "--direct-input",
        choices=("table", "arrow"),
        default="table",
        help="how Splink direct gets the records: a DuckDB table (as the wrapper) or Arrow",
    )
    parser.add_argument("--skip-splink", action="store_true", help="time the wrapper only")
    parser.add_argument("--count-pairs", action="store_true", help="pairs per blocking rule")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="fivesafes-bench-link-"))
    results: dict[str, dict] = {}
    if not (work / "world" / "truth" / "records.csv").exists():
        results["synth"] = stage("synth", args.people, work, args.threshold)
    if not (work / "store").exists():
        results["ingest"] = stage("ingest", args.people, work, args.threshold)
    if args.count_pairs:
        results["pairs"] = stage("pairs", args.people, work, args.threshold)
    results["link"] = stage("link", args.people, work, args.threshold)
    if not args.skip_splink:
        results["splink"] = stage("splink", args.people, work, args.threshold, args.direct_input)
    print(json.dumps({"machine": machine(), "people": args.people, **results}, indent=1))
    a = results["link"]
    q = a["quality"]
    print(
        f"| {args.people:,} | {a['records']:,} | {a['pairs_scored']:,} | {a['seconds']:.1f} s"
        f" | {a['peak_gib']:.2f} GiB | {a['records'] / a['seconds']:,.0f}"
        f" | {q['precision']:.4f} | {q['recall']:.4f} |"
    )
    if "splink" in results:
        b = results["splink"]
        print(
            f"Splink directly: {b['seconds']:.1f} s, {b['peak_gib']:.2f} GiB, "
            f"{b['pairs_scored']:,} pairs; wrapper / direct = {a['seconds'] / b['seconds']:.3f}"
        )


if __name__ == "__main__":
    main()
