"""Benchmark: linkage quality on the generator's errors and on independent ones,
side by side (issue 16; run by hand, not in CI).

    .venv/bin/python benchmarks/bench_link_errors.py --people 10000 [--seed 7]
        [--per-kind 300] [--workdir DIR]

Three worlds of the same size and seed:

- ``generator``: the world as generated, with the generator's real-world error
  kinds drawn from its own lists (``synth/name_forms.py``);
- ``independent``: the same world generated without those kinds, then perturbed
  with ``--per-kind`` records of each kind from the name lists of
  ``tests/integration/independent_errors.py`` (neither the generator's nor the
  linkage's);
- ``unperturbed``: that same world before it is perturbed, so that the false
  pairs and mixed clusters the independent errors add can be counted.

Each is ingested, linked (``fivesafes.data.link.link``, the cluster step
included) and reported against its truth (``link_report``): pairwise precision,
recall, false and missed pairs, the cluster step's splits, and the share of
records put with their own person per error kind. Printed as JSON and as
Markdown rows for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from machine_info import machine  # benchmarks/machine_info.py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from independent_errors import perturb, world_without_its_real_world_errors  # noqa: E402

from fivesafes.data import ingest  # noqa: E402
from fivesafes.data.link import link  # noqa: E402
from fivesafes.data.link.report import link_report  # noqa: E402
from fivesafes.synth import WorldConfig, make_world  # noqa: E402


def _run(world: Path, work: Path) -> dict[str, Any]:
    truth = work / "truth"
    shutil.move(world / "truth", truth)
    store = work / "store"
    ingest([world], store)
    t0 = time.perf_counter()
    summary = link(store)
    seconds = time.perf_counter() - t0
    report = link_report(store, work / "report", truth / "records.csv")
    h = report["headline"]
    return {
        "records": h["records"],
        "precision": h["precision"],
        "recall": h["recall"],
        "false_pairs": h["false_matches"],
        "missed_pairs": h["missed_matches"],
        "clusters_mixing_persons": h["clusters_mixing_persons"],
        "link_seconds": round(seconds, 1),
        "cluster_step": summary.cluster_step,
        "by_kind": h["share_with_own_person_by_error_kind"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-kind", type=int, default=300)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    base = args.workdir or Path(tempfile.mkdtemp(prefix="bench-link-errors-"))
    results: dict[str, Any] = {"machine": machine(), "people": args.people, "seed": args.seed}

    gen = base / "generator"
    make_world(WorldConfig(people=args.people, seed=args.seed), gen / "world")
    results["generator"] = _run(gen / "world", gen)

    ind = base / "independent"
    plain = base / "unperturbed"
    world_without_its_real_world_errors(ind / "world", args.people, args.seed)
    shutil.copytree(ind / "world", plain / "world")
    results["planted"] = perturb(ind / "world", np.random.default_rng(args.seed), args.per_kind)
    results["independent"] = _run(ind / "world", ind)
    results["unperturbed"] = _run(plain / "world", plain)

    print(json.dumps(results, indent=2))
    for name in ("generator", "independent", "unperturbed"):
        r = results[name]
        print(
            f"| {name} | {r['records']:,} | {r['precision']:.5f} | {r['recall']:.5f} | "
            f"{r['false_pairs']} | {r['missed_pairs']} | {r['clusters_mixing_persons']} | "
            f"{r['cluster_step'].get('clusters_split_conflicting_identifiers')} / "
            f"{r['cluster_step'].get('clusters_split_weak_bridges')} | {r['link_seconds']} |"
        )
        for kind, share in (r["by_kind"] or {}).items():
            print(f"|   {name} | {kind} | {share} |")


if __name__ == "__main__":
    main()
