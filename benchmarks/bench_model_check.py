"""Benchmark: ``fivesafes outputs check-model`` against SACRO-ML's attacks run directly.

A 100-tree random forest fitted on 10,000 rows (noisy labels, unpruned), checked
by fivesafes (load the skops file, read the CSVs, run LiRA, worst-case and the
structural checks, build the verdict) and, in the same run, by SACRO-ML's three
attacks called directly on the same model and arrays with the same settings.
Run by hand: ``python benchmarks/bench_model_check.py [--rows N] [--shadow K]``.
``--attribute`` adds SACRO-ML's attribute-inference attack to both runs (the
policy's ``attribute_inference``); it asks the model about 100 values of each of
the 10 features for every row, so give it far fewer rows (``--rows 500``).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.ensemble import RandomForestClassifier

from fivesafes.outputs.models import check_model_files
from fivesafes.outputs.policy import tre_policy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--shadow", type=int, default=10)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--attribute", action="store_true", help="add the attribute attack")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = args.rows
    x = rng.normal(size=(2 * n, 10))
    y = ((x[:, 0] + x[:, 1] + rng.normal(scale=2.0, size=2 * n)) > 0).astype(int)
    xtr, ytr, xte, yte = x[:n], y[:n], x[n:], y[n:]
    model = RandomForestClassifier(n_estimators=args.trees, n_jobs=1, random_state=0)
    model.fit(xtr, ytr)
    policy = replace(
        tre_policy(),
        lira_shadow_models=args.shadow,
        worst_case_reps=args.reps,
        attribute_inference=args.attribute,
    )
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        sio.dump(model, d / "m.skops")
        cols = [f"x{i}" for i in range(10)]
        pd.DataFrame(xtr, columns=cols).assign(y=ytr).to_csv(d / "train.csv", index=False)
        pd.DataFrame(xte, columns=cols).assign(y=yte).to_csv(d / "test.csv", index=False)

        from sacroml.attacks.likelihood_attack import LIRAAttack
        from sacroml.attacks.structural_attack import StructuralAttack
        from sacroml.attacks.target import Target
        from sacroml.attacks.worst_case_attack import WorstCaseAttack

        t0 = time.perf_counter()
        target = Target(model=model, X_train=xtr, y_train=ytr, X_test=xte, y_test=yte)
        out = str(d / "direct")
        LIRAAttack(output_dir=out, write_report=False, n_shadow_models=args.shadow).attack(target)
        WorstCaseAttack(
            output_dir=out, write_report=False, n_reps=args.reps, n_dummy_reps=0
        ).attack(target)
        StructuralAttack(output_dir=out, write_report=False).attack(target)
        if args.attribute:
            from sacroml.attacks.attribute_attack import AttributeAttack

            raw = Target(
                model=model,
                X_train=xtr,
                y_train=ytr,
                X_test=xte,
                y_test=yte,
                X_train_orig=xtr,
                y_train_orig=ytr,
                X_test_orig=xte,
                y_test_orig=yte,
            )
            for i, col in enumerate(cols):
                raw.add_feature(col, [i], "float")
            AttributeAttack(output_dir=out, write_report=False).attack(raw)
        direct = time.perf_counter() - t0

        t0 = time.perf_counter()
        check = check_model_files(d / "m.skops", d / "train.csv", d / "test.csv", "y", policy)
        ours = time.perf_counter() - t0
    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, "
        f"python {platform.python_version()}"
    )
    print(f"{args.trees}-tree forest, {n} train + {n} test rows, {args.shadow} shadow models")
    print(f"verdict {check.verdict}: " + ", ".join(f"{a.name} AUC {a.auc}" for a in check.attacks))
    if args.attribute:
        attr = check.attacks[-1]
        print(f"attribute: at risk {attr.metrics['attributes_at_risk'] or 'none'}")
    print(
        f"sacroml direct: {direct:.1f} s; fivesafes check-model: {ours:.1f} s; "
        f"overhead {100 * (ours - direct) / direct:+.1f}%"
    )


if __name__ == "__main__":
    main()
