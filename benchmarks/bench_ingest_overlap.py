"""Benchmark: ingest with the next file read ahead, against one file at a time
(run by hand, not in CI).

    .venv/bin/python benchmarks/bench_ingest_overlap.py --world /tmp/lb/w1000000/world

"Overlapped" is ``fivesafes.data.ingest`` as the CLI runs it: while one file is
written, the next is hashed, read and checked in a second thread. "One at a
time" runs ``ingest_file`` (hash, read, check, write) for each file in turn, as
ingest did before. Each runs ``--repeat`` times, alternately, into a fresh store,
in this one process; the world must exist (``fivesafes synth``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fivesafes.data.ingest import ingest, ingest_file, provider_files
from fivesafes.data.store import open_store
from machine_info import machine  # benchmarks/machine_info.py


def one_at_a_time(world: Path, store: Path) -> int:
    files, _ = provider_files([world])
    with open_store(store) as con:
        return sum(ingest_file(con, path, ds).rows for path, ds in files)


def overlapped(world: Path, store: Path) -> int:
    return ingest([world], store).rows_ingested


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fivesafes-bench-ingest-"))
    runs: list[dict[str, object]] = []
    ways: dict[str, Callable[[Path, Path], int]] = {
        "one at a time": one_at_a_time,
        "overlapped": overlapped,
    }
    try:
        for rep in range(args.repeat):
            for name, run in ways.items():
                store = work / "store"
                shutil.rmtree(store, ignore_errors=True)
                t0 = time.perf_counter()
                rows = run(args.world, store)
                seconds = time.perf_counter() - t0
                runs.append({"way": name, "repeat": rep, "rows": rows, "seconds": seconds})
                print(f"{name:14} {seconds:6.2f} s  {rows / seconds:,.0f} rows/s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    best = {n: min(float(str(r["seconds"])) for r in runs if r["way"] == n) for n in ways}
    print(json.dumps({"machine": machine(), "runs": runs, "best_seconds": best}, indent=1))
    ratio = best["one at a time"] / best["overlapped"]
    print(f"best one at a time / best overlapped = {ratio:.2f}")


if __name__ == "__main__":
    main()
