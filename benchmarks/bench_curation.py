"""Benchmark: curation, profiling, missingness and target trial emulation (issue #6;
run by hand, not in CI).

    .venv/bin/python benchmarks/bench_curation.py --people 100000 --tte-people 100000

A synthetic world goes through ingest and provisioning (the linkage is replaced
by the truth's record → person map, as in tests/analysis/curation_world.py: the
benchmark measures the workspace side, and linkage has its own benchmark),
without the earnings survey. Then, on the workspace: the standard curation
steps (first run; a re-run with nothing changed; a re-run after one justice
record is deleted), the profile of every table, and the missingness analysis
of hospital ethnicity against the census ethnic group. Target trial emulation
runs on the simulation of tests/analysis/tte_simulation.py (clone-censor-weight,
5 periods, 200 bootstrap replicates). Prints a Markdown table and JSON; peak
memory is the process's maximum resident set (``resource.getrusage``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

from machine_info import machine  # benchmarks/machine_info.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "analysis"))

DATASETS = (
    "pupil_census",
    "justice_offences",
    "cla_episodes",
    "cin_census",
    "hospital_admissions",
    "census_2021",
    "areas",
)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(base: Path, people: int, seed: int, rows: list[dict[str, object]]) -> Path:
    from fivesafes.data import ingest
    from fivesafes.data.link.run import MAP_TABLE
    from fivesafes.data.provision import provision
    from fivesafes.data.store import open_store
    from fivesafes.synth import WorldConfig, make_world

    world, store = base / "world", base / "store"
    t = time.perf_counter()
    make_world(WorldConfig(people=people, seed=seed), world)
    files = [
        p
        for p in sorted((world / "provider").glob("*.csv"))
        if any(p.name.startswith(d) for d in DATASETS)
    ]
    summary = ingest([*files, world / "reference" / "areas.csv"], store)
    truth = pd.read_csv(world / "truth" / "records.csv", usecols=["file", "row", "person_id"])
    with open_store(store) as con:
        con.register("truth", truth)
        union = " UNION ALL ".join(
            f"SELECT record_id, '{d}' AS dataset, source_file, source_row FROM idz.\"{d}\""
            for d in DATASETS
            if d != "areas"
        )
        con.execute(
            f"CREATE OR REPLACE TABLE idz.{MAP_TABLE} AS SELECT r.record_id, r.dataset, "
            "CAST(t.person_id AS BIGINT) AS person_id "
            f"FROM ({union}) r JOIN truth t ON t.file = r.source_file AND t.row = r.source_row"
        )
    ws = provision(store, "bench", list(DATASETS))
    rows.append(
        {
            "case": "synth + ingest + truth map + provision (setup)",
            "rows": sum(ws.rows.values()),
            "seconds": time.perf_counter() - t,
            "detail": f"{summary.to_dict()['rows_ingested']:,} rows ingested, "
            f"{ws.persons:,} persons",
        }
    )
    return ws.workspace


def timed(rows: list[dict[str, object]], case: str, n: int, fn, detail=lambda r: ""):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    result = fn()
    rows.append(
        {"case": case, "rows": n, "seconds": time.perf_counter() - t, "detail": detail(result)}
    )
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tte-people", type=int, default=100_000)
    ap.add_argument("--bootstrap", type=int, default=200)
    args = ap.parse_args()

    from tte_simulation import risk, simulate

    from fivesafes.analysis.curation import standard_pipeline
    from fivesafes.analysis.missingness import missingness
    from fivesafes.analysis.profile import profile_workspace
    from fivesafes.analysis.target_trial import Protocol, emulate

    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = build(Path(tmp), args.people, args.seed, rows)
        con = duckdb.connect(str(path))
        ((n,),) = con.execute(
            "SELECT sum(estimated_size) FROM duckdb_tables() WHERE NOT table_name LIKE '\\_%' "
            "ESCAPE '\\'"
        ).fetchall()
        n = int(n)
        pipeline = standard_pipeline(con)
        timed(
            rows,
            "curate: 8 standard steps, first run",
            n,
            lambda: pipeline.run(con),
            lambda r: f"{len(r.ran)} ran",
        )
        timed(
            rows,
            "curate: re-run, nothing changed",
            n,
            lambda: pipeline.run(con),
            lambda r: f"{len(r.ran)} ran",
        )
        con.execute(
            "DELETE FROM justice_offences WHERE rowid = (SELECT min(rowid) FROM justice_offences)"
        )
        timed(
            rows,
            "curate: re-run after one justice record deleted",
            n,
            lambda: pipeline.run(con),
            lambda r: f"{len(r.ran)} ran: {', '.join(r.ran)}",
        )
        timed(
            rows,
            "profile: every table (datasets and derived)",
            n,
            lambda: profile_workspace(con),
            lambda r: (
                f"{len(r.datasets)} tables, {sum(len(d.variables) for d in r.datasets)} variables"
            ),
        )
        df = con.execute(
            "WITH c AS (SELECT person_pseudonym, any_value(ethnicity) AS e FROM census_2021 "
            "WHERE ethnicity IS NOT NULL GROUP BY 1) "
            "SELECT h.ethnicity, left(c.e, 1) AS group_5, h.sex, "
            "year(h.admission_date) - h.birth_year AS age "
            "FROM hospital_admissions h JOIN c USING (person_pseudonym)"
        ).df()
        timed(
            rows,
            "missingness: hospital ethnicity ~ group, sex, age",
            len(df),
            lambda: missingness(df, "ethnicity", ["group_5", "sex", "age"]),
            lambda r: f"{r.missing_pct:.1f}% missing; related: {', '.join(r.related)}",
        )
        con.close()

    tte = simulate(args.tte_people, 5, seed=2)
    protocol = Protocol(
        id="id",
        period="period",
        treatment="treated",
        outcome="event",
        confounders=["L"],
        follow_up=5,
    )
    truth = risk(5, "always") - risk(5, "never")
    timed(
        rows,
        f"target trial: clone-censor-weight, {args.bootstrap} bootstrap replicates",
        len(tte),
        lambda: emulate(tte, protocol, bootstrap=args.bootstrap, seed=1),
        lambda r: (
            f"RD {r.weighted.risk_difference:.4f} ({r.ci['risk_difference'][0]:.4f} to "
            f"{r.ci['risk_difference'][1]:.4f}), truth {truth:.4f}; naive "
            f"{r.naive.risk_difference:.4f}"
        ),
    )

    print(
        f"\n{machine()}; {args.people:,} people (seed {args.seed}); "
        f"target trial {args.tte_people:,} persons; peak {peak_mib():,.0f} MiB\n"
    )
    print("| case | rows | wall s | detail |\n| --- | ---: | ---: | --- |")
    for r in rows:
        print(f"| {r['case']} | {r['rows']:,} | {r['seconds']:.2f} | {r['detail']} |")
    print(json.dumps({"machine": machine(), "peak_mib": peak_mib(), "cases": rows}, default=str))


if __name__ == "__main__":
    main()
