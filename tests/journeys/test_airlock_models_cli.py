"""A trained model through the airlock on the command line (issue 15, item 3): a
memorising forest is found unsafe on submission and no checker can approve it; a
regularised logistic regression is safe and is released after two checkers, the
model file alone in the bundle."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sacroml")

USERS = (("ana", "researcher"), ("bo", "output_checker"), ("cy", "output_checker"))


def _setup(tmp_path: Path, fivesafes_at: Any, one_json: Any, fast_model_policy: Path) -> Any:
    fs = fivesafes_at(tmp_path / "state", policy=str(fast_model_policy))
    for user, role in USERS:
        one_json(fs("users", "add", user, "--role", role, "--json"))
    one_json(
        fs("airlock", "create", "--as", "ana", "--project", "p1", "--title", "Model", "--json")
    )
    return fs


def _add(fs: Any, files: Any, *more: str) -> Any:
    return fs(
        "airlock", "add", "1", "--as", "ana", "--name", "model.skops", "--file", files.model,
        "--description", "Outcome classifier", "--train", files.train, "--test", files.test,
        *more, "--json",
    )  # fmt: skip


@pytest.mark.slow
def test_a_memorising_forest_is_unsafe_and_cannot_be_approved(
    tmp_path: Path,
    fivesafes_at: Any,
    one_json: Any,
    refused: Callable[..., str],
    fast_model_policy: Path,
    model_files: Callable[[str], Any],
) -> None:
    fs = _setup(tmp_path, fivesafes_at, one_json, fast_model_policy)
    files = model_files("forest")
    added = one_json(_add(fs, files, "--target", "outcome"))["request"]["outputs"][0]
    assert added["kind"] == "model" and added["model"]["target"] == "outcome"
    assert added["verdict"] is None  # the attacks run on submission
    out = one_json(fs("airlock", "submit", "1", "--as", "ana", "--json"))["request"]["outputs"][0]
    assert (out["verdict"], out["model"]["verdict"]) == ("fail", "unsafe")
    line = refused(
        fs("airlock", "review", "1", "--as", "bo", "--output", "model.skops",
           "--decision", "approve", "--json"),
        "fails the rules", "no checker can approve it",
    )  # fmt: skip
    assert "membership" in line or "AUC" in line or "structural" in line
    shown = one_json(fs("airlock", "show", "1", "--as", "bo", "--json"))["request"]
    assert shown["state"] == "in_review" and shown["outputs"][0]["approvals"] == []
    refused(
        fs("airlock", "release", "1", "--as", "bo", "--out", tmp_path / "out", "--json"),
        "is in_review",
    )


@pytest.mark.slow
def test_a_regularised_model_is_released_after_two_checkers(
    tmp_path: Path,
    fivesafes_at: Any,
    one_json: Any,
    refused: Callable[..., str],
    fast_model_policy: Path,
    model_files: Callable[[str], Any],
) -> None:
    fs = _setup(tmp_path, fivesafes_at, one_json, fast_model_policy)
    files = model_files("logistic")
    refused(_add(fs, files), "--train, --test and --target together", "--target missing")
    refused(_add(fs, files, "--target", "died"), "no target column 'died'")
    one_json(_add(fs, files, "--target", "outcome"))
    out = one_json(fs("airlock", "submit", "1", "--as", "ana", "--json"))["request"]["outputs"][0]
    assert (out["verdict"], out["model"]["verdict"]) == ("pass", "safe")
    for checker in ("bo", "cy"):
        one_json(
            fs("airlock", "review", "1", "--as", checker, "--output", "model.skops",
               "--decision", "approve", "--json")
        )  # fmt: skip
    doc = one_json(fs("airlock", "release", "1", "--as", "bo", "--out", tmp_path / "out", "--json"))
    bundle = Path(doc["bundle"])
    files_out = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert files_out == ["manifest.json", "outputs/model.skops", "reports/model.skops.json"]
    assert zipfile.is_zipfile(bundle / "outputs/model.skops")
    report = json.loads((bundle / "reports/model.skops.json").read_text())
    assert report["model_check"]["verdict"] == "safe"
    assert {a["name"] for a in report["model_check"]["attacks"]} == {
        "LiRA",
        "worst-case",
        "structural",
    }


@pytest.mark.slow
def test_categorical_columns_are_checked_stored_and_used_by_the_attribute_attack(
    tmp_path: Path,
    fivesafes_at: Any,
    one_json: Any,
    refused: Callable[..., str],
    attribute_model_policy: Path,
    coded_model_files: Any,
) -> None:
    fs = _setup(tmp_path, fivesafes_at, one_json, attribute_model_policy)
    files = coded_model_files
    refused(
        _add(fs, files, "--target", "outcome", "--categorical", "region,sex"),
        "model output model.skops: train.csv: no feature column 'sex' to treat as categorical",
        "(the feature columns are region, m1, m2)",
    )
    refused(
        fs("airlock", "add", "1", "--as", "ana", "--name", "t", "--file", files.train,
           "--description", "d", "--categorical", "region", "--json"),
        "--categorical is for a trained model",
    )  # fmt: skip
    added = one_json(_add(fs, files, "--target", "outcome", "--categorical", "region"))
    assert added["request"]["outputs"][0]["model"]["categorical"] == ["region"]
    one_json(fs("airlock", "submit", "1", "--as", "ana", "--json"))
    shown = one_json(fs("airlock", "show", "1", "--as", "bo", "--json"))["request"]
    assert shown["outputs"][0]["model"]["categorical"] == ["region"]
    rows = {r["name"]: r for r in shown["outputs"][0]["model"]["attributes"]}
    assert {name: r["kind"] for name, r in rows.items()} == {
        "region": "categorical",
        "m1": "quantitative",
        "m2": "quantitative",
    }
    assert all(0 <= r["p_value"] <= 1 and isinstance(r["at_risk"], bool) for r in rows.values())
    text = fs("airlock", "show", "1", "--as", "bo")
    assert text.returncode == 0, text.stderr
    said = " ".join(text.stdout.split())
    assert "Attribute inference on model.skops" in said
    assert "region │ categorical" in said and "m1 │ numeric" in said
