"""Model outputs: skops-only loading with trusted types, and the SACRO-ML verdicts."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier

from fivesafes.errors import FivesafesError
from fivesafes.outputs.models import check_model, load_model
from fivesafes.outputs.policy import tre_policy

pytest.importorskip("sacroml")

POLICY = replace(tre_policy(), lira_shadow_models=8, worst_case_reps=3)


def _noisy(n: int, seed: int, p: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    y = ((x[:, 0] + rng.normal(scale=1.5, size=n)) > 0).astype(int)
    return x, y


TRAIN = _noisy(400, 1)
TEST = _noisy(400, 2)


def _forest() -> RandomForestClassifier:
    return RandomForestClassifier(
        n_estimators=30, min_samples_leaf=1, bootstrap=False, random_state=0
    ).fit(*TRAIN)


def test_memorising_forest_is_unsafe() -> None:
    check = check_model(_forest(), TRAIN, TEST, POLICY)
    assert check.verdict == "unsafe"
    by = {a.name: a for a in check.attacks}
    assert by["LiRA"].unsafe and by["LiRA"].auc is not None and by["LiRA"].auc > 0.7
    assert any("AUC" in r for r in check.reasons)


def test_regularised_logistic_regression_is_safe() -> None:
    x, y = _noisy(3000, 3)
    xt, yt = _noisy(3000, 4)
    model = LogisticRegression(C=0.1).fit(x, y)
    check = check_model(model, (x, y), (xt, yt), POLICY)
    assert check.verdict == "safe", check.reasons
    structural = next(a for a in check.attacks if a.name == "structural")
    # every record has its own probabilities, so SACRO-ML's k-anonymity fires,
    # but a rule for leaves does not apply to a logistic regression
    assert structural.metrics["k_anonymity_risk"] and not structural.unsafe


def test_tree_with_one_record_leaves_is_flagged_structurally() -> None:
    model = DecisionTreeClassifier(min_samples_leaf=1, random_state=0).fit(*TRAIN)
    check = check_model(model, TRAIN, TEST, POLICY, attacks=["structural"])
    (structural,) = check.attacks
    assert structural.unsafe and structural.metrics["k_anonymity_risk"]
    assert check.verdict == "unsafe"
    assert any("fewer than 10 training records" in r for r in check.reasons)


def test_verdicts_agree_with_sacroml_run_directly(tmp_path: Path) -> None:
    from sacroml import metrics
    from sacroml.attacks.likelihood_attack import LIRAAttack
    from sacroml.attacks.structural_attack import StructuralAttack
    from sacroml.attacks.target import Target

    for model, expected in ((_forest(), True), (LogisticRegression(C=0.1).fit(*TRAIN), False)):
        target = Target(
            model=model, X_train=TRAIN[0], y_train=TRAIN[1], X_test=TEST[0], y_test=TEST[1]
        )
        lira = LIRAAttack(output_dir=str(tmp_path), write_report=False, n_shadow_models=8)
        lira.attack(target)
        m = lira.attack_metrics[0]
        p, _ = metrics.auc_p_val(m["AUC"], m["n_pos_test_examples"], m["n_neg_test_examples"])
        direct_unsafe = m["AUC"] > POLICY.mia_auc_max and p < POLICY.mia_p_value
        structural = StructuralAttack(output_dir=str(tmp_path), write_report=False)
        structural.attack(target)
        assert structural.results is not None
        ours = check_model(model, TRAIN, TEST, POLICY, attacks=["lira", "structural"])
        assert direct_unsafe == expected
        assert (ours.verdict == "unsafe") == expected
        ours_struct = next(a for a in ours.attacks if a.name == "structural")
        assert ours_struct.metrics["k_anonymity_risk"] == structural.results.k_anonymity_risk


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, (f"touch {MARKER}",))


MARKER = Path("/tmp/fivesafes-pickle-ran")


def test_pickle_carrying_code_is_refused_and_never_runs(tmp_path: Path) -> None:
    MARKER.unlink(missing_ok=True)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(FivesafesError, match=r"not a skops file.*skops\.io\.dump"):
        load_model(path)
    assert not MARKER.exists()


def _double(x: np.ndarray) -> np.ndarray:
    return x * 2


def test_skops_file_naming_untrusted_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    sio.dump(FunctionTransformer(_double), path)
    with pytest.raises(FivesafesError, match=r"not scikit-learn's or numpy's.*_double"):
        load_model(path)


def test_skops_model_loads(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    sio.dump(_forest(), path)
    assert isinstance(load_model(path), RandomForestClassifier)


def _csvs(tmp_path: Path) -> tuple[Path, Path]:
    cols = [f"x{i}" for i in range(5)]
    paths = []
    for name, (x, y) in (("train", TRAIN), ("test", TEST)):
        df = pd.DataFrame(x, columns=cols).assign(outcome=y)
        df.to_csv(tmp_path / f"{name}.csv", index=False)
        paths.append(tmp_path / f"{name}.csv")
    return paths[0], paths[1]


def _run(*args: str, policy: Path) -> subprocess.CompletedProcess[str]:
    """The CLI under a TRE policy with few shadow models (a small, quick check)."""
    cmd = [sys.executable, "-m", "fivesafes.cli.main", *args]
    env = {**os.environ, "FIVESAFES_POLICY": str(policy)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_cli_check_model_json_and_user_errors(tmp_path: Path) -> None:
    train, test = _csvs(tmp_path)
    model = tmp_path / "model.skops"
    sio.dump(DecisionTreeClassifier(min_samples_leaf=1, random_state=0).fit(*TRAIN), model)
    policy = tmp_path / "p.toml"
    policy.write_text('name = "test"\nversion = "1"\nlira_shadow_models = 8\nworst_case_reps = 3\n')
    args = ["outputs", "check-model", "--model", str(model), "--train", str(train)]
    args += ["--test", str(test), "--target", "outcome", "--json"]
    res = _run(*args, policy=policy)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["verdict"] == "unsafe" and out["reasons"]
    names = [a["name"] for a in out["attacks"]]
    assert names == ["LiRA", "worst-case", "structural"]
    assert all("auc" in a for a in out["attacks"][:2])
    bad = [*args]
    bad[bad.index("outcome")] = "nope"
    res = _run(*bad, policy=policy)
    assert res.returncode == 2 and "no target column 'nope'" in res.stderr
    pkl = tmp_path / "m.pkl"
    pkl.write_bytes(pickle.dumps({"a": 1}))
    bad = [*args]
    bad[bad.index(str(model))] = str(pkl)
    res = _run(*bad, policy=policy)
    assert res.returncode == 2 and "not a skops file" in res.stderr
