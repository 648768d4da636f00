"""Benchmark: validate a 1,000,000-row children looked after return (run by hand).

    .venv/bin/python benchmarks/bench_collections.py --rows 1000000

The return is a clean synthetic return (:mod:`fivesafes.synth.returns`) repeated
with new child ids until it has ``--rows`` rows, with 100 mistakes of each kind
planted (900 rows, so that the report path is exercised too). Two measurements,
each in a fresh Python process reporting its wall time and peak resident memory:

- ``validate``: read the file (every whole-file check) and run every rule of
  ``cla_episodes.yaml`` in DuckDB, issues kept in a table;
- ``submit``: the whole ``fivesafes collections submit`` path in the library
  (copy and hash the file, read, run the rules, store the issues, write the
  HTML and CSV reports, record the submission in SQLite).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from machine_info import machine  # benchmarks/machine_info.py

STAGE = r"""
import json, resource, sys, time
from pathlib import Path
stage, path, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
t0 = time.perf_counter()
phases = {}
if stage == "validate":
    import duckdb
    from fivesafes.collections.reader import read_return
    from fivesafes.collections.rules import Context, run_rules
    from fivesafes.collections.spec import load_spec
    spec = load_spec("cla_episodes")
    t0 = time.perf_counter()
    table = read_return(path, spec)
    phases["read"] = time.perf_counter() - t0
    con = duckdb.connect()
    con.register("incoming", table)
    v = run_rules(con, "incoming", Context(spec, "X06000001", 2022), None)
    phases["rules"] = v.seconds
    rows, errors, warnings = v.rows, v.errors, v.warnings
else:
    from fivesafes.collections import submissions as subs
    from fivesafes.appdb import add_user, migrate, session_factory
    url = f"sqlite:///{work / 'state.db'}"
    migrate(url)
    with session_factory(url)() as s:
        add_user(s, "ann", "data_owner")
        subs.add_provider(s, "X06000001", "Abermere")
        subs.add_member(s, "X06000001", "ann")
        t0 = time.perf_counter()
        r = subs.submit(s, "ann", "cla_episodes", 2022, path, directory=work / "coll")
        rows, errors, warnings = r.submission.rows, r.submission.errors, r.submission.warnings
seconds = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
peak = usage.ru_maxrss / 1024 / 1024
phases["cpu_seconds_whole_process"] = usage.ru_utime + usage.ru_stime
print(json.dumps({"stage": stage, "rows": rows, "errors": errors, "warnings": warnings,
                  "seconds": seconds, "peak_gib": peak, "phases": phases}))
"""


def big_return(rows: int, path: Path) -> int:
    """A clean return repeated with fresh child ids, mistakes planted; its rows."""
    from fivesafes.synth import returns as rt

    a = rt.make_authority(rt.ReturnsConfig(children=3000), 0)
    base = rt.cla_return(a, 2022)
    copies = -(-rows // base.num_rows)
    ids = base.column("child_id").to_numpy(zero_copy_only=False)
    uniq, index = np.unique(ids, return_inverse=True)
    tables = []
    for k in range(copies):
        serial = 1_000_000 + k * uniq.size + index
        new_ids = pa.array(np.char.add("800-", serial.astype(str)).astype(object))
        tables.append(base.set_column(0, "child_id", new_ids))
    table = pa.concat_tables(tables).slice(0, rows).combine_chunks()
    table, planted = rt.with_errors(table, "cla_episodes", np.random.default_rng(1), 100)
    assert pc.all(pc.starts_with(table.column("child_id"), "800-")).as_py()
    rt.write_csv(table, path)
    return len(planted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="fivesafes-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / "X06000001_2022.csv"
    planted = big_return(args.rows, path)
    size = path.stat().st_size
    results = {}
    for stage in ("validate", "submit"):
        shutil.rmtree(work / "coll", ignore_errors=True)
        (work / "state.db").unlink(missing_ok=True)
        out = subprocess.run(
            [sys.executable, "-c", STAGE, stage, str(path), str(work)],
            capture_output=True,
            text=True,
            check=True,
        )
        results[stage] = json.loads(out.stdout.strip().splitlines()[-1])
    report = {
        "machine": machine(),
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
        "rows": args.rows,
        "file_mib": round(size / 2**20, 1),
        "mistakes_planted": planted,
        **{
            stage: {
                "seconds": round(r["seconds"], 2),
                "rows_per_second": round(r["rows"] / r["seconds"]),
                "peak_gib": round(r["peak_gib"], 2),
                "errors": r["errors"],
                "warnings": r["warnings"],
                "phases": {k: round(v, 2) for k, v in r["phases"].items()},
            }
            for stage, r in results.items()
        },
    }
    print(json.dumps(report, indent=2))
    for stage in ("validate", "submit"):
        r = report[stage]
        print(
            f"| {stage} | {args.rows:,} | {r['seconds']} s | {r['rows_per_second']:,} | "  # type: ignore[index]
            f"{r['peak_gib']} GiB | {r['errors']:,} |"  # type: ignore[index]
        )


if __name__ == "__main__":
    main()
