"""Benchmark: generate a synthetic world and ingest it (run by hand, not in CI).

    .venv/bin/python benchmarks/bench_synth_ingest.py --people 1000000

Each stage runs in a fresh Python process that reports its own wall time and
peak resident memory, so the figures are those a user of the CLI would see.
Results are printed as JSON and as a Markdown row for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from machine_info import machine  # benchmarks/machine_info.py

STAGE = r"""
import json, resource, sys, time
from pathlib import Path
stage, people, world, store = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
t0 = time.perf_counter()
if stage == "synth":
    from fivesafes.synth import WorldConfig, make_world
    summary = make_world(WorldConfig(people=people, seed=1), world)
    rows = sum(summary.datasets.values())
else:
    from fivesafes.data import ingest
    rows = ingest([world], store).rows_ingested
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
print(json.dumps({"stage": stage, "rows": rows, "seconds": seconds, "peak_gib": peak}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="fivesafes-bench-"))
    world, store = work / "world", work / "store"
    for old in (world, store):
        shutil.rmtree(old, ignore_errors=True)
    results = {}
    for stage in ("synth", "ingest"):
        out = subprocess.run(
            [sys.executable, "-c", STAGE, stage, str(args.people), str(world), str(store)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[stage] = json.loads(out.strip().splitlines()[-1])
    size = sum(f.stat().st_size for f in (world / "provider").glob("*.csv")) / 2**20
    report = {
        "people": args.people,
        "machine": machine(),
        "provider_files_mib": round(size),
        **{
            stage: {
                "rows": r["rows"],
                "seconds": round(r["seconds"], 1),
                "rows_per_second": round(r["rows"] / r["seconds"]),
                "peak_gib": round(r["peak_gib"], 2),
            }
            for stage, r in results.items()
        },
    }
    print(json.dumps(report, indent=2))
    s, i = report["synth"], report["ingest"]
    print(
        f"| {args.people:,} | {s['rows']:,} | {s['seconds']} s | {s['peak_gib']} GiB | "
        f"{i['seconds']} s | {i['rows_per_second']:,} | {i['peak_gib']} GiB |"
    )
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
