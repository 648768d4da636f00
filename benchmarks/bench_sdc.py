"""Benchmark: disclosure control of tables beside ACRO (issue #5; run by hand, not in CI).

    .venv/bin/python benchmarks/bench_sdc.py

Cases, each in a fresh Python process that generates its (seeded) data, then
reports the wall time of the measured step and the peak resident memory of the
whole process (data included) via ``resource.getrusage``:

* ``pandas-2way``: ``pd.crosstab`` with margins of a 200 x 20 table from 1,000,000
  rows (skewed so that about 2,800 of the 4,000 cells are below 10).
* ``fivesafes-primary``: ``FrequencyTable.from_microdata`` plus the primary rules
  and suppression (``primary``) under the ``acro`` preset, no secondary suppression.
* ``fivesafes-check``: the same table through ``check`` (primary and secondary
  suppression, audited).
* ``fivesafes-primary-persons``: the primary check with counts of distinct people.
* ``acro-suppress``: ``ACRO(suppress=True).crosstab(a, b, margins=True)`` with ACRO's
  default configuration (threshold 10) on the same rows. If it runs past
  ``--acro-timeout`` seconds it is stopped and run on the first ``--acro-sample``
  rows instead, and the full time estimated by scaling (said so in the output).
* ``pandas-3way`` / ``fivesafes-3way-primary`` / ``fivesafes-3way-check``: a
  50 x 20 x 10 table (11,781 cells with margins) from 10,000,000 rows.
* ``secondary-200x50``: ``secondary.protect(..., method="heuristic")`` alone on a
  200 x 50 table with margins (10,251 cells) from 1,000,000 rows, then the
  attacker's audit (``audit_lp.audit``) timed on its own.

Margins are checked against totals computed independently (pandas group-bys on
the microdata): "margins correct" means every published margin equals its true
total. Prints a Markdown table and JSON.

``--before SRC`` also runs the fivesafes cases with another copy of the package
(e.g. ``--before /work/main/src``, the code before a change) in the same run,
as ``CASE@before``; the import of secondary suppression (scipy.optimize) is timed
apart from the check (``import_secondary``), in both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from itertools import combinations

import numpy as np

from machine_info import machine  # benchmarks/machine_info.py

THRESHOLD = 10
# Zipf-like exponents per dimension, tuned so that the expected number of cells
# below 10 is about 2,800 of 4,000 (200 x 20, 1,000,000 rows).
TWO_WAY = {"shape": (200, 20), "exponents": (1.909, 1.0)}
THREE_WAY = {"shape": (50, 20, 10), "exponents": (1.5, 1.0, 1.0)}
SECONDARY = {"shape": (200, 50), "exponents": (1.0, 0.5)}
DIMS = ("a", "b", "c")


# ---------------------------------------------------------------------------------------
# Data


def make_data(rows: int, shape: tuple[int, ...], exponents: tuple[float, ...], seed: int):
    """Seeded microdata: one categorical per dimension (category k has weight
    (k+1)^-exponent), a person id (1-5 rows per person) and a magnitude."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = {}
    for d, n, e in zip(DIMS, shape, exponents, strict=False):
        p = np.arange(1, n + 1, dtype=float) ** -e
        codes = rng.choice(n, size=rows, p=p / p.sum()).astype(np.int16)
        cats = [f"{d.upper()}{k:03d}" for k in range(n)]
        data[d] = pd.Categorical.from_codes(codes, categories=cats)
    per = rng.integers(1, 6, size=rows // 2 + 1)
    data["pid"] = np.repeat(np.arange(len(per), dtype=np.int64), per)[:rows]
    data["amount"] = np.round(rng.lognormal(6.0, 1.0, size=rows), 2)
    return pd.DataFrame(data)


def true_totals(df, dims: list[str]) -> dict[tuple[str, ...], float]:
    """Every margin's true value (rows), from pandas group-bys on the microdata."""
    out: dict[tuple[str, ...], float] = {}
    for r in range(len(dims)):
        for subset in combinations(dims, r):
            if subset:
                sizes = df.groupby(list(subset), observed=False).size()
                for key, v in sizes.items():
                    key = key if isinstance(key, tuple) else (key,)
                    lab = dict(zip(subset, (str(k) for k in key), strict=True))
                    out[tuple(lab.get(d, "Total") for d in dims)] = float(v)
            else:
                out[tuple("Total" for _ in dims)] = float(len(df))
    return out


def fivesafes_margins(verdicts, truth) -> tuple[bool, int, int]:
    """(every published margin equals its true total, margins published, withheld)."""
    ok, shown, withheld = True, 0, 0
    for v in verdicts:
        if not v.margin:
            continue
        if v.safe_value is None:
            withheld += 1
            continue
        shown += 1
        ok &= bool(np.isclose(v.safe_value, truth[tuple(v.label)]))
    return ok, shown, withheld


# ---------------------------------------------------------------------------------------
# Cases (run in a child process)


def run_case(case: str, rows: int, seed: int) -> dict:
    import resource

    import pandas as pd

    spec = THREE_WAY if "3way" in case else SECONDARY if case.startswith("secondary") else TWO_WAY
    dims = list(DIMS[: len(spec["shape"])])
    df = make_data(rows, spec["shape"], spec["exponents"], seed)
    interior = df.groupby(dims, observed=False).size().to_numpy()
    out: dict = {
        "case": case,
        "rows": rows,
        "interior_cells": int(interior.size),
        "cells": int(np.prod([n + 1 for n in spec["shape"]])),
        "small_cells": int((interior < THRESHOLD).sum()),
        "zero_cells": int((interior == 0).sum()),
    }
    needs_truth = not case.startswith(("pandas", "secondary"))
    truth = true_totals(df, dims) if needs_truth else {}
    data_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timings: dict[str, float] = {}

    if case.startswith("pandas"):
        t0 = time.perf_counter()
        if len(dims) == 2:
            pd.crosstab(df.a, df.b, margins=True, dropna=False)
        else:
            pd.crosstab([df.a, df.b], df.c, margins=True, dropna=False)
        timings["total"] = time.perf_counter() - t0

    elif case.startswith("fivesafes"):
        from fivesafes.outputs import FrequencyTable, check, load_policy
        from fivesafes.outputs.primary import primary

        policy = load_policy("acro")
        person = "pid" if case.endswith("persons") else None
        if "check" in case:  # once per process in real use: timed on its own
            ti = time.perf_counter()
            import fivesafes.outputs.secondary  # noqa: F401

            timings["import_secondary"] = time.perf_counter() - ti
        t0 = time.perf_counter()
        table = FrequencyTable.from_microdata(df, dims, person=person)
        t1 = time.perf_counter()
        timings["build"] = t1 - t0
        if "check" in case:
            result = check(table, policy)
            verdicts = result.verdicts
            out["secondary_status"] = result.secondary
            if result.protection is not None:
                out["secondary_cells"] = len(result.protection.secondary)
                out["secondary_messages"] = result.protection.messages
        else:
            cells = table.cells()
            t2 = time.perf_counter()
            timings["cells"] = t2 - t1
            verdicts = primary(cells, policy)
            out["additive_constraints"] = len(cells.constraints)
        t3 = time.perf_counter()
        timings["check"] = t3 - t1
        timings["total"] = t3 - t0
        out["suppressed"] = sum(v.status == "suppress" for v in verdicts)
        out["primary_suppressed"] = sum(
            v.status == "suppress" and "secondary" not in v.rules for v in verdicts
        )
        if person is None:
            ok, shown, withheld = fivesafes_margins(verdicts, truth)
            out.update(margins_correct=ok, margins_published=shown, margins_withheld=withheld)
        else:
            out["margins_correct"] = None  # distinct people: not comparable to row totals
            out["notes"] = table.notes

    elif case.startswith("acro"):
        import logging

        from acro import ACRO

        logging.getLogger("acro").setLevel(logging.WARNING)
        acro = ACRO(suppress=True)
        t0 = time.perf_counter()
        if len(dims) == 2:
            got = acro.crosstab(df.a, df.b, margins=True)
        else:
            got = acro.crosstab([df.a, df.b], df.c, margins=True)
        timings["total"] = time.perf_counter() - t0
        inner = got.drop(index="All", columns="All", errors="ignore")
        out["suppressed"] = int(inner.isna().to_numpy().sum())
        bad, withheld, shown = 0, 0, 0
        worst = 0.0
        if len(dims) == 2:
            for a, v in got["All"].items():
                key = (str(a), "Total") if a != "All" else ("Total", "Total")
                if np.isnan(v):
                    withheld += 1
                    continue
                shown += 1
                diff = abs(float(v) - truth[key])
                bad += diff > 0
                worst = max(worst, diff / max(truth[key], 1))
            for b, v in got.loc["All"].items():
                if b == "All":
                    continue
                key = ("Total", str(b))
                if np.isnan(v):
                    withheld += 1
                    continue
                shown += 1
                diff = abs(float(v) - truth[key])
                bad += diff > 0
                worst = max(worst, diff / max(truth[key], 1))
            out.update(
                margins_correct=bad == 0,
                margins_published=shown,
                margins_withheld=withheld,
                margins_wrong=bad,
                margins_worst_relative_error=worst,
            )
            grand = got.loc["All", "All"]
            out["grand_total_published"] = float(grand)
            out["grand_total_true"] = truth[("Total", "Total")]

    elif case.startswith("secondary"):
        import inspect

        from fivesafes.outputs import FrequencyTable, load_policy
        from fivesafes.outputs.audit_lp import audit
        from fivesafes.outputs.linear import LinearTable
        from fivesafes.outputs.primary import primary
        from fivesafes.outputs.secondary import protect, required_for

        policy = load_policy("acro")
        table = FrequencyTable.from_microdata(df, dims)
        cells = table.cells()
        verdicts = primary(cells, policy)
        prim = {v.cell for v in verdicts if v.status == "suppress"}
        lin = LinearTable(
            values=np.asarray(cells.values, dtype=float),
            constraints=cells.constraints,
            labels=[v.label for v in verdicts],
        )
        out["primary_suppressed"] = len(prim)
        # The threshold rule's safety range, where the code has it (issue 17).
        small = {v.cell for v in verdicts if "threshold" in v.rules}
        extra, freq = {}, {}
        if "threshold_cells" in inspect.signature(protect).parameters:
            from fivesafes.outputs.secondary import frequency_for

            extra = {"threshold_cells": small}
            freq = {"frequency": frequency_for(lin, small, policy.minimum_count)}
        t0 = time.perf_counter()
        res = protect(lin, prim, policy, method="heuristic", intervals="primary", **extra)
        t1 = time.perf_counter()
        failures = audit(lin, res.suppressed, required_for(lin, prim, policy), **freq)
        t2 = time.perf_counter()
        timings.update(protect=t1 - t0, audit=t2 - t1, total=t2 - t0)
        out.update(
            secondary_cells=len(res.secondary),
            suppressed=len(res.suppressed),
            audit_failures=len(failures),
            messages=res.messages,
            margins_correct=True,  # protect never changes a value; it only withholds
            margins_withheld=int(
                sum(any(x == "Total" for x in lin.labels[c]) for c in res.suppressed)
            ),
        )
    else:
        raise ValueError(f"unknown case {case!r}")

    out["seconds"] = timings["total"]
    out["timings"] = timings
    out["data_mib"] = data_mib
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


# ---------------------------------------------------------------------------------------
# Driver


def child(
    case: str, rows: int, seed: int, timeout: float | None = None, src: str | None = None
) -> dict | None:
    """Run one case in a fresh process; ``src`` puts another copy of the package first."""
    cmd = [sys.executable, __file__, "--child", case, "--rows", str(rows), "--seed", str(seed)]
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    try:
        done = subprocess.run(
            cmd, check=True, capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as exc:
        sys.stderr.write(exc.stderr)
        raise
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load_after"] = os.getloadavg()
    print(
        f"  {case}: {result['seconds']:.3f} s, peak {result['peak_mib']:.0f} MiB",
        file=sys.stderr,
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the 2-way table")
    parser.add_argument("--rows-3way", type=int, default=10_000_000)
    parser.add_argument("--rows-secondary", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--acro-timeout", type=float, default=900.0)
    parser.add_argument("--acro-sample", type=int, default=100_000)
    parser.add_argument("--acro-3way", action="store_true", help="also run ACRO on the 3-way")
    parser.add_argument(
        "--case-timeout", type=float, default=480.0, help="stop any other case after this"
    )
    parser.add_argument("--only", nargs="*", default=None, help="run only these cases")
    parser.add_argument(
        "--before",
        default=None,
        help="also run the fivesafes cases with the package at this src folder (CASE@before)",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child, args.rows, args.seed)))
        return

    load_before = os.getloadavg()
    plan = [
        ("pandas-2way", args.rows),
        ("fivesafes-primary", args.rows),
        ("fivesafes-primary-persons", args.rows),
        ("acro-suppress", args.rows),
        ("pandas-3way", args.rows_3way),
        ("fivesafes-3way-primary", args.rows_3way),
        ("secondary-200x50", args.rows_secondary),
        ("fivesafes-3way-check", args.rows_3way),
        ("fivesafes-check", args.rows),
    ]
    if args.acro_3way:
        plan.append(("acro-3way-suppress", args.rows_3way))
    if args.only:
        plan = [p for p in plan if p[0] in args.only]
    if args.before:
        plan += [
            (f"{case}@before", rows)
            for case, rows in plan
            if case.startswith(("fivesafes", "secondary"))
        ]
    results: dict[str, dict] = {}
    for name, rows in plan:
        case, _, tag = name.partition("@")
        print(f"running {name} ({rows:,} rows) ...", file=sys.stderr, flush=True)
        timeout = args.acro_timeout if case.startswith("acro") else args.case_timeout
        r = child(case, rows, args.seed, timeout, src=args.before if tag else None)
        if r is not None:
            r["case"] = name
        if r is None and not case.startswith("acro"):
            print(f"  {case} stopped after {timeout:.0f} s", file=sys.stderr, flush=True)
            like = results.get(case.replace("-check", "-primary"), {})
            r = {
                "case": name,
                "rows": rows,
                "cells": like.get("cells", 0),
                "small_cells": like.get("small_cells", 0),
                "seconds": timeout,
                "peak_mib": None,
                "timed_out": True,
                "margins_correct": None,
            }
        elif r is None:  # ACRO ran too long: a sample, scaled
            print(f"  {case} stopped after {timeout:.0f} s; sampling", file=sys.stderr)
            r = child(case, args.acro_sample, args.seed)
            assert r is not None
            full = results.get("fivesafes-primary", {}).get("primary_suppressed")
            scale = (rows / args.acro_sample) * (full / r["suppressed"] if full else 1.0)
            r.update(
                sampled_rows=args.acro_sample,
                sampled_seconds=r["seconds"],
                seconds=r["seconds"] * scale,
                estimated=True,
                note=(
                    f"stopped after {timeout:.0f} s on {rows:,} rows; run on the first "
                    f"{args.acro_sample:,} rows and scaled by rows and by flagged cells"
                ),
            )
        results[name] = r
    load_after = os.getloadavg()

    acro = results.get("acro-suppress")
    same_data = {"pandas-2way", "fivesafes-primary", "fivesafes-check", "fivesafes-primary-persons"}
    lines = [
        "| case | rows | cells | small cells | wall s | peak MiB | margins correct | "
        "withheld (secondary) | ACRO time / this |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for case, r in results.items():
        ratio = ""
        if acro and case in same_data:
            x = acro["seconds"] / r["seconds"]
            ratio = f"{x:,.0f}×" if x >= 10 else f"{x:.2f}×"
        elif case.startswith("acro"):
            ratio = "1×"
        mc = r.get("margins_correct")
        margins = (
            "n/a" if mc is None else ("yes" if mc else f"**no** ({r.get('margins_wrong')} wrong)")
        )
        if mc and r.get("margins_withheld"):
            margins += f" ({r['margins_withheld']} withheld)"
        secs = f"{r['seconds']:,.3f}" if r["seconds"] < 10 else f"{r['seconds']:,.1f}"
        if r.get("estimated"):
            secs = f"≈ {secs} (est.)"
        if r.get("timed_out"):
            secs = f"> {secs} (stopped)"
        withheld = ""
        if r.get("suppressed") is not None and not case.startswith("acro"):
            withheld = f"{r['suppressed']:,}"
            if r.get("secondary_cells") is not None:
                withheld += f" ({r['secondary_cells']:,})"
        lines.append(
            f"| {case} | {r['rows']:,} | {r['cells']:,} | {r['small_cells']:,} | {secs} | "
            f"{'?' if r['peak_mib'] is None else format(r['peak_mib'], ',.0f')} | "
            f"{margins} | {withheld} | {ratio} |"
        )
    report = {
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "results": results,
    }
    print(json.dumps(report, indent=2))
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
