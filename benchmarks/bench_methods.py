"""Benchmark: logistic regression and Moran's I, fivesafes beside the libraries
it wraps (run by hand, not in CI).

    .venv/bin/python benchmarks/bench_methods.py [--rows 1000000] [--areas 2000] [--repeat 1]

Every case runs in its own process (``python bench_methods.py --case NAME``),
which first makes its seeded data (not timed), then times the step and reports
its wall time, the process's CPU time and the peak resident memory of the
process (``resource.getrusage``, data included) beside the resident memory
before the step (the data and imports alone).

Logistic regression: 1,000,000 rows × 20 covariates (17 standard normal, 3 binary
with shares 0.2, 0.5, 0.8; numpy seed 11), a 0/1 outcome from a logistic model
with known coefficients.

- ``logit_sm_arrays``: ``statsmodels.api.Logit(y, X).fit()`` on numpy arrays;
- ``logit_sm_formula``: ``statsmodels.formula.api.logit(formula, df).fit()``;
- ``logit_fivesafes``: :func:`fivesafes.analysis.regression.logistic` with the
  same formula (odds-ratio table, checkable result; figure not drawn).

Moran's I: 2,000 areas on a 40 × 50 grid, queen contiguity (the neighbour-pairs
table fivesafes reads, 15,464 ordered pairs), a smooth field plus noise (seed
12), 999 permutations:

- ``moran_esda_global``: ``esda.Moran`` on a libpysal ``W`` built from the
  neighbour dict, row-standardised;
- ``moran_esda_both``: ``esda.Moran`` and ``esda.Moran_Local`` (what fivesafes
  computes: global and local);
- ``moran_fivesafes``: :func:`fivesafes.analysis.spatial.read_neighbours` on the
  pairs table and :func:`~fivesafes.analysis.spatial.moran` (global and local).

Prints JSON per case and a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CASES = [
    "logit_sm_arrays",
    "logit_sm_formula",
    "logit_fivesafes",
    "moran_esda_global",
    "moran_esda_both",
    "moran_fivesafes",
]
COVARIATES = [f"x{i}" for i in range(1, 21)]
FORMULA = "y ~ " + " + ".join(COVARIATES)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def logit_data(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((rows, 20))
    for j, share in zip((17, 18, 19), (0.2, 0.5, 0.8), strict=True):
        x[:, j] = rng.random(rows) < share
    beta = np.linspace(-0.5, 0.5, 20)
    y = rng.random(rows) < 1 / (1 + np.exp(-(-1.0 + x @ beta)))
    df = pd.DataFrame(x, columns=COVARIATES)
    df["y"] = y.astype(int)
    return df


def grid_areas(areas: int) -> tuple[list[str], np.ndarray, pd.DataFrame]:
    rows_n = 40
    cols_n = areas // rows_n
    rng = np.random.default_rng(12)
    ids = [f"A{r:02d}{c:02d}" for r in range(rows_n) for c in range(cols_n)]
    rr, cc = np.divmod(np.arange(rows_n * cols_n), cols_n)
    value = np.sin(rr / 6) + np.cos(cc / 8) + rng.normal(0, 0.7, rr.size)
    pairs = [
        (ids[r * cols_n + c], ids[(r + dr) * cols_n + (c + dc)])
        for r in range(rows_n)
        for c in range(cols_n)
        for dr in (-1, 0, 1)
        for dc in (-1, 0, 1)
        if (dr or dc) and 0 <= r + dr < rows_n and 0 <= c + dc < cols_n
    ]
    return ids, value, pd.DataFrame(pairs, columns=["area", "neighbour"])


def run_case(name: str, rows: int, areas: int) -> dict[str, Any]:
    out: dict[str, Any] = {"case": name}
    if name.startswith("logit"):
        import statsmodels.api as sm
        import statsmodels.formula.api as smf

        from fivesafes.analysis.regression import logistic

        df = logit_data(rows)
        out["rows"] = rows
        before = rss_mib()
        t0, c0 = time.perf_counter(), time.process_time()
        if name == "logit_sm_arrays":
            res = sm.Logit(df["y"].to_numpy(), sm.add_constant(df[COVARIATES].to_numpy())).fit(
                disp=False
            )
            params = np.asarray(res.params)
        elif name == "logit_sm_formula":
            res = smf.logit(FORMULA, df).fit(disp=False)
            params = np.asarray(res.params)
        else:
            result = logistic(df, FORMULA)
            params = result.table("coefficients")["coef"].to_numpy()
    else:
        from esda.moran import Moran, Moran_Local
        from libpysal.weights import W

        from fivesafes.analysis.spatial import moran, read_neighbours

        ids, value, pairs = grid_areas(areas)
        out["areas"] = len(ids)
        out["pairs"] = len(pairs)
        before = rss_mib()
        t0, c0 = time.perf_counter(), time.process_time()
        if name == "moran_fivesafes":
            result = moran(ids, value, read_neighbours(pairs, ids), permutations=999, seed=1)
            params = np.array([result.summary["I"], result.summary["p_sim"]])
        else:
            neigh: dict[str, list[str]] = {i: [] for i in ids}
            for a, b in zip(pairs["area"], pairs["neighbour"], strict=True):
                neigh[a].append(b)
            w = W(neigh, id_order=ids, silence_warnings=True)
            w.transform = "r"
            np.random.seed(1)
            mi = Moran(value, w, permutations=999)
            if name == "moran_esda_both":
                Moran_Local(value, w, permutations=999, seed=1, keep_simulations=False)
            params = np.array([mi.I, mi.p_sim])
    out["wall_s"] = round(time.perf_counter() - t0, 3)
    out["cpu_s"] = round(time.process_time() - c0, 3)
    out["rss_before_mib"] = round(before)
    out["peak_mib"] = round(rss_mib())
    out["result"] = [round(float(p), 6) for p in params[:4]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=CASES)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--areas", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.rows, args.areas)))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from machine_info import machine

    print(machine(), flush=True)
    best: dict[str, dict[str, Any]] = {}
    for _ in range(args.repeat):
        for case in CASES:
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--case",
                    case,
                    "--rows",
                    str(args.rows),
                    "--areas",
                    str(args.areas),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            res = json.loads(done.stdout.strip().splitlines()[-1])
            print(json.dumps(res), flush=True)
            if case not in best or res["wall_s"] < best[case]["wall_s"]:
                best[case] = res
    print(
        "\n| case | size | wall s | CPU s | RSS before MiB | peak MiB | wall / peer | CPU / peer |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for case in CASES:
        r = best[case]
        size = f"{r['rows']:,} × 20" if "rows" in r else f"{r['areas']:,} areas"
        peer = best["logit_sm_formula" if case.startswith("logit") else "moran_esda_both"]
        print(
            f"| {case} | {size} | {r['wall_s']} | {r['cpu_s']} | {r['rss_before_mib']} | "
            f"{r['peak_mib']} | {r['wall_s'] / peer['wall_s']:.2f}× | "
            f"{r['cpu_s'] / peer['cpu_s']:.2f}× |"
        )


if __name__ == "__main__":
    main()
