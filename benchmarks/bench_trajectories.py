"""Benchmark: a five-group trajectory model on 100,000 people × 5 waves, beside StepMix
(issue #6; run by hand, not in CI).

    .venv/bin/python benchmarks/bench_trajectories.py [--people 100000] [--only CASE ...]

Data (seeded, generated inside each case's own process): the synthetic world's
five attainment groups (docs/synthetic-world.md: shares 0.20/0.35/0.10/0.10/0.25,
intercepts 63/51/40/55/37, slopes 0/0/+2.2/−2.4/0, curvatures 0/0/−0.05/−0.05/0)
observed at t = 0, 2, 4, 6, 8 (years 2, 4, 6, 8, 10) with noise sd 3.2 (the
world's person effect and noise together) and 3% of the values missing.

Cases, each in a fresh Python process; wall and CPU time of the fit only (the
machine is shared, so CPU time is the steadier figure), peak resident
memory of the whole process (``resource.getrusage``, data included) and the
resident memory before the fit (the data alone):

* ``fivesafes-5``: ``fit_gbtm`` with 5 groups, degree 2, one sigma, 10 k-means
  starts of 30 EM iterations, the best 2 to convergence, standard errors.
* ``fivesafes-1-6``: ``fit_trajectories`` for 1..6 groups and the BIC choice (what
  ``fivesafes analyse trajectories`` does by default), standard errors for the
  chosen model.
* ``stepmix-5``: StepMix 3.0 latent profile model, 5 classes,
  ``gaussian_spherical_nan`` (free means per wave, one variance per class, full
  information likelihood for missing waves), ``n_init=10`` (as many starts as
  ours), its default tolerance, on one BLAS thread as ours (``threadpoolctl``).
* ``stepmix-5-1init``: the same with one start.

Each case reports the share of people assigned to their true group and the
largest error of the estimated group shares. Prints a Markdown table and JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from machine_info import machine  # benchmarks/machine_info.py

SHARES = np.array([0.20, 0.35, 0.10, 0.10, 0.25])
COEFS = np.array(
    [
        [63.0, 0.0, 0.0],
        [51.0, 0.0, 0.0],
        [40.0, 2.2, -0.05],
        [55.0, -2.4, -0.05],
        [37.0, 0.0, 0.0],
    ]
)
TIMES = np.array([0.0, 2.0, 4.0, 6.0, 8.0])
CASES = ("fivesafes-5", "fivesafes-1-6", "stepmix-5", "stepmix-5-1init")


def make_data(people: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    group = rng.choice(5, people, p=SHARES)
    x = np.vander(TIMES, 3, increasing=True)
    y = (x @ COEFS.T).T[group] + rng.normal(0.0, 3.2, (people, len(TIMES)))
    y[rng.random(y.shape) < 0.03] = np.nan
    return y, group


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def match(labels: np.ndarray, truth: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    """Share correctly assigned after mapping each fitted class to the true group
    it shares most people with; and the estimated share per true group."""
    table = np.zeros((k, 5))
    np.add.at(table, (labels, truth), 1)
    best = table.argmax(axis=1)
    correct = table[np.arange(k), best].sum() / len(truth)
    return float(correct), best


def run_case(case: str, people: int) -> dict[str, object]:
    y, truth = make_data(people)
    before = rss_mib()
    t0 = time.perf_counter()
    c0 = time.process_time()
    if case.startswith("fivesafes"):
        from fivesafes.analysis.gbtm import Panel, fit_gbtm
        from fivesafes.analysis.trajectories import bic, fit_trajectories

        if case == "fivesafes-5":
            fit = fit_gbtm(Panel(y, TIMES), 5, 2, seed=1)
            k, chosen = 5, None
        else:
            import pandas as pd

            long = pd.DataFrame(
                {
                    "id": np.repeat(np.arange(people), len(TIMES)),
                    "t": np.tile(TIMES, people),
                    "y": y.ravel(),
                }
            )
            result = fit_trajectories(long, "id", "t", "y", groups=range(1, 7))
            fit, k, chosen = result.model, result.chosen, result.chosen
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - c0
        labels = fit.posteriors.argmax(axis=1)
        shares = np.exp(fit.log_pi)
        extra = {
            "log_likelihood": fit.log_likelihood,
            "parameters": fit.parameters,
            "standard_errors": fit.covariance is not None,
            "bic": bic(fit, people),
            "chosen_groups": chosen,
        }
    else:
        from stepmix.stepmix import StepMix
        from threadpoolctl import threadpool_limits

        model = StepMix(
            n_components=5,
            measurement="gaussian_spherical_nan",
            n_init=1 if case.endswith("1init") else 10,
            random_state=1,
            progress_bar=0,
            verbose=0,
        )
        with threadpool_limits(limits=1, user_api="blas"):  # as ours: one BLAS thread
            model.fit(y)
            labels = model.predict(y)
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - c0
        shares = model.get_parameters()["weights"]
        k = 5
        extra = {
            "bic": float(model.bic(y)),
            "log_likelihood": float(model.score(y)) * people,
            "parameters": int(model.n_parameters),
        }
    correct, best = match(labels, truth, k)
    est = np.zeros(5)
    np.add.at(est, best, shares)
    return {
        "case": case,
        "people": people,
        "waves": len(TIMES),
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_mib": round(rss_mib()),
        "data_mib": round(before),
        "correct": round(correct, 4),
        "share_error_pp": round(float(np.abs(est - SHARES).max() * 100), 2),
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--only", nargs="*", choices=CASES, default=list(CASES))
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.people)))
        return
    here = os.path.dirname(os.path.abspath(__file__))
    results = []
    for case in args.only:
        out = subprocess.run(
            [sys.executable, __file__, "--case", case, "--people", str(args.people)],
            capture_output=True,
            text=True,
            cwd=here,
            check=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(results[-1], file=sys.stderr)
    print(f"\nMachine: {machine()}\n")
    print(
        "| case | people × waves | wall s | CPU s | peak MiB (data alone) | log-likelihood "
        "(parameters) | correct | share error (pp) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r['case']} | {r['people']:,} × {r['waves']} | {r['seconds']} | "
            f"{r['cpu_seconds']} | {r['peak_mib']} ({r['data_mib']}) | "
            f"{float(r['log_likelihood']):,.1f} ({r['parameters']}) | "
            f"{100 * float(r['correct']):.1f}% | "
            f"{r['share_error_pp']} |"
        )
    print("\n" + json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
