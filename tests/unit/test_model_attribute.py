"""Attribute inference in the model check: SACRO-ML's AttributeAttack when the policy
asks for it, its Attribute Risk Ratio rule, and the policy keys that govern it."""

from __future__ import annotations

import json
import os
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

from fivesafes.errors import FivesafesError, PolicyRefusal
from fivesafes.outputs.models import categorical_features, check_model, check_model_files
from fivesafes.outputs.policy import ACRO, load_policy, tre_policy

pytest.importorskip("sacroml")

#: few shadow models and repetitions, so a full check runs in seconds
FAST = replace(tre_policy(), lira_shadow_models=4, worst_case_reps=1)
ATTRIBUTE = replace(FAST, attribute_inference=True)


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A categorical group (0-3) that shifts the label, two measurements, noisy labels."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 4, size=n).astype(float)
    x = np.column_stack([group, rng.normal(size=(n, 2))])
    y = ((group >= 2) + x[:, 1] + rng.normal(scale=3.0, size=n) > 0.5).astype(int)
    return x, y


TRAIN = _data(100, 3)
TEST = _data(100, 103)
COLS = ["group", "m1", "m2"]


def _forest() -> RandomForestClassifier:
    """Memorises its noisy labels: on a training record, the record's own group gives
    the model's most confident answer, so the group of members can be inferred."""
    return RandomForestClassifier(
        n_estimators=10, bootstrap=False, min_samples_leaf=1, random_state=0
    ).fit(*TRAIN)


def _logistic() -> LogisticRegression:
    return LogisticRegression(C=0.1).fit(*TRAIN)


def _direct(model: object, tmp_path: Path) -> tuple[bool, dict[str, float]]:
    """SACRO-ML's AttributeAttack run directly (its own Target, features described with
    ``add_feature``), and the documented rule applied to its metrics here: an attribute
    leaks when the share of training records at risk over the share of test records
    (the Attribute Risk Ratio) is above 1, the excess significant at p < 0.05."""
    from sacroml.attacks.attribute_attack import AttributeAttack
    from sacroml.attacks.target import Target
    from scipy.stats import fisher_exact

    (xa, ya), (xb, yb) = TRAIN, TEST
    target = Target(
        model=model,
        X_train=xa,
        y_train=ya,
        X_test=xb,
        y_test=yb,
        X_train_orig=xa,
        y_train_orig=ya,
        X_test_orig=xb,
        y_test_orig=yb,
    )
    target.add_feature("group", [0], "int")
    target.add_feature("m1", [1], "float")
    target.add_feature("m2", [2], "float")
    attack = AttributeAttack(output_dir=str(tmp_path), write_report=False, n_cpu=1)
    attack.attack(target)
    m = attack.attack_metrics
    counts: dict[str, tuple[int, int]] = {}
    for f in m["categorical"]:
        counts[f["name"]] = (f["train"][0], f["test"][0])
    for f in m["quantitative"]:
        counts[f["name"]] = (round(f["train"] * len(ya)), round(f["test"] * len(yb)))
    ratios: dict[str, float] = {}
    leaks = False
    for name, (a, b) in counts.items():
        share_a, share_b = a / len(ya), b / len(yb)
        ratios[name] = share_a / share_b if share_b else (np.inf if share_a else 0.0)
        p = fisher_exact([[a, len(ya) - a], [b, len(yb) - b]], alternative="greater").pvalue
        leaks = leaks or bool(ratios[name] > 1 and p < 0.05)
    return leaks, ratios


def test_attribute_inference_is_off_by_default() -> None:
    assert not tre_policy().attribute_inference
    check = check_model(_logistic(), TRAIN, TEST, FAST)
    assert [a.name for a in check.attacks] == ["LiRA", "worst-case", "structural"]


def test_policy_turns_it_on_and_the_entry_has_its_metrics() -> None:
    check = check_model(_logistic(), TRAIN, TEST, ATTRIBUTE, features=COLS)
    assert [a.name for a in check.attacks] == ["LiRA", "worst-case", "structural", "attribute"]
    entry = check.to_dict()["attacks"][-1]
    assert entry["name"] == "attribute" and entry["risk_ratio_max"] == 1.0
    rows = {r["name"]: r for r in entry["attributes"]}
    assert set(rows) == set(COLS)
    assert rows["group"]["kind"] == "categorical" and rows["group"]["n_values"] == 4
    assert rows["m1"]["kind"] == "quantitative"
    for r in rows.values():
        assert 0 <= r["train_share"] <= 1 and 0 <= r["p_value"] <= 1
    json.dumps(entry)  # no infinities or numpy types in the report


def test_a_model_that_leaks_an_attribute_is_unsafe_and_names_it(tmp_path: Path) -> None:
    direct_leaks, ratios = _direct(_forest(), tmp_path)
    assert direct_leaks and ratios["group"] > 1.5
    check = check_model(_forest(), TRAIN, TEST, ATTRIBUTE, attacks=["attribute"], features=COLS)
    (attr,) = check.attacks
    assert check.verdict == "unsafe" and attr.unsafe
    assert attr.metrics["attributes_at_risk"] == ["group"]
    assert any("'group'" in r and "risk ratio" in r for r in check.reasons)
    ours = {r["name"]: r["risk_ratio"] for r in attr.metrics["attributes"]}
    assert ours["group"] == pytest.approx(ratios["group"])


@pytest.mark.parametrize("make", [_forest, _logistic])
def test_verdict_agrees_with_sacroml_run_directly(make: object, tmp_path: Path) -> None:
    model = make()  # type: ignore[operator]
    direct_leaks, ratios = _direct(model, tmp_path)
    check = check_model(model, TRAIN, TEST, ATTRIBUTE, attacks=["attribute"], features=COLS)
    (attr,) = check.attacks
    assert attr.unsafe == direct_leaks
    assert (check.verdict == "unsafe") == direct_leaks
    for row in attr.metrics["attributes"]:
        if np.isfinite(ratios[row["name"]]) and row["risk_ratio"] is not None:
            assert row["risk_ratio"] == pytest.approx(ratios[row["name"]])


def test_labels_that_are_not_positions_give_the_same_result() -> None:
    """SACRO-ML's attack takes labels to be 0..k-1; a model fitted on "no"/"yes" is
    seen through its labels' positions, so it is judged exactly as the 0/1 model."""
    names = np.array(["no", "yes"])
    y_train, y_test = names[TRAIN[1]], names[TEST[1]]
    model = RandomForestClassifier(
        n_estimators=10, bootstrap=False, min_samples_leaf=1, random_state=0
    ).fit(TRAIN[0], y_train)
    words = check_model(
        model, (TRAIN[0], y_train), (TEST[0], y_test), ATTRIBUTE, attacks=["attribute"]
    )
    digits = check_model(_forest(), TRAIN, TEST, ATTRIBUTE, attacks=["attribute"])
    assert words.attacks[0].metrics == digits.attacks[0].metrics
    assert words.verdict == digits.verdict == "unsafe"


def test_which_features_are_categorical() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack(
        [
            rng.integers(0, 2, 50),  # a flag
            rng.integers(0, 10, 50),  # a code, at most 10 values
            rng.integers(18, 90, 50),  # an age in years: whole numbers, too many
            rng.normal(size=50),  # a measurement
        ]
    ).astype(float)
    assert categorical_features(x[:25], x[25:], ["flag", "code", "age", "bp"]) == ["flag", "code"]
    with pytest.raises(FivesafesError, match="categorical column nope not among"):
        check_model(_logistic(), TRAIN, TEST, ATTRIBUTE, features=COLS, categorical=["nope"])


def test_named_categorical_columns_are_the_only_ones(tmp_path: Path) -> None:
    train, test, model = _files(tmp_path)
    check = check_model_files(model, train, test, "outcome", ATTRIBUTE, categorical=[])
    kinds = {r["name"]: r["kind"] for r in check.attacks[-1].metrics["attributes"]}
    assert kinds == dict.fromkeys(COLS, "quantitative")
    check = check_model_files(model, train, test, "outcome", ATTRIBUTE, categorical=["m1"])
    kinds = {r["name"]: r["kind"] for r in check.attacks[-1].metrics["attributes"]}
    assert kinds == {"group": "quantitative", "m1": "categorical", "m2": "quantitative"}
    with pytest.raises(FivesafesError, match=r"train\.csv: no feature column 'age'"):
        check_model_files(model, train, test, "outcome", ATTRIBUTE, categorical=["age"])


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    paths = []
    for name, (x, y) in (("train", TRAIN), ("test", TEST)):
        path = tmp_path / f"{name}.csv"
        pd.DataFrame(x, columns=COLS).assign(outcome=y).to_csv(path, index=False)
        paths.append(path)
    model = tmp_path / "model.skops"
    sio.dump(_logistic(), model)
    return paths[0], paths[1], model


@pytest.mark.slow
def test_cli_json_includes_the_attribute_attack(tmp_path: Path) -> None:
    train, test, model = _files(tmp_path)
    policy = tmp_path / "tre.toml"
    policy.write_text(
        'name = "tre"\nversion = "1"\nlira_shadow_models = 4\nworst_case_reps = 1\n'
        "attribute_inference = true\n"
    )
    env = {**os.environ, "FIVESAFES_POLICY": str(policy)}
    args = [sys.executable, "-m", "fivesafes.cli.main", "outputs", "check-model"]
    args += ["--model", str(model), "--train", str(train), "--test", str(test)]
    args += ["--target", "outcome", "--json", "--categorical", "group"]
    res = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    attr = next(a for a in out["attacks"] if a["name"] == "attribute")
    assert {r["name"]: r["kind"] for r in attr["attributes"]} == {
        "group": "categorical",
        "m1": "quantitative",
        "m2": "quantitative",
    }
    assert attr["unsafe"] is False and out["verdict"] == "safe", out["reasons"]
    bad = [*args[:-1], "group,age"]
    res = subprocess.run(bad, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 2 and "no feature column 'age'" in res.stderr


def test_policy_keys_are_checked(tmp_path: Path) -> None:
    for text, error in (
        ("attribute_inference = 1", "attribute_inference is true or false"),
        ("attribute_risk_ratio_max = 0", "attribute_risk_ratio_max is a positive number"),
        ('attribute_risk_ratio_max = "one"', "attribute_risk_ratio_max is a positive number"),
        ("attribute_p_value = 0", r"attribute_p_value is a probability in \(0, 1\]"),
    ):
        path = tmp_path / "p.toml"
        path.write_text(f'name = "p"\nversion = "1"\n{text}\n')
        with pytest.raises(FivesafesError, match=error):
            load_policy(path)
    path = tmp_path / "p.toml"
    path.write_text('name = "p"\nversion = "1"\nattribute_p_value = 1\n')
    assert load_policy(path).attribute_p_value == 1


def test_a_project_may_turn_attribute_inference_on_but_not_off() -> None:
    on = replace(ACRO, name="project", attribute_inference=True)
    combined = ACRO.tighten(on, strict=True)
    assert combined.attribute_inference and combined.tightened_by == ("project 1.0.2",)
    site = replace(ACRO, name="site", attribute_inference=True)
    with pytest.raises(PolicyRefusal, match="attribute_inference off"):
        site.tighten(replace(site, name="project", attribute_inference=False), strict=True)
    assert site.tighten(replace(site, name="project", attribute_inference=False)) is site


def test_attribute_thresholds_only_tighten() -> None:
    stricter = replace(ACRO, name="project", attribute_risk_ratio_max=0.9, attribute_p_value=0.1)
    combined = ACRO.tighten(stricter, strict=True)
    assert (combined.attribute_risk_ratio_max, combined.attribute_p_value) == (0.9, 0.1)
    with pytest.raises(PolicyRefusal, match=r"attribute_risk_ratio_max 2\.0"):
        ACRO.tighten(replace(ACRO, name="p", attribute_risk_ratio_max=2.0), strict=True)
    with pytest.raises(PolicyRefusal, match=r"attribute_p_value 0\.01"):
        ACRO.tighten(replace(ACRO, name="p", attribute_p_value=0.01), strict=True)
