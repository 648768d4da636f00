"""Trained models in the airlock (issue 15, item 3): a model output holds its skops
file and the data it was fitted on; the model check runs on submission; an unsafe
model cannot be approved by any checker, nor released; a safe one goes through the
usual two-checker review, and only the model file leaves."""

from __future__ import annotations

import pickle
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from fivesafes import audit
from fivesafes.appdb import add_user, migrate, session_factory
from fivesafes.errors import FivesafesError, PolicyRefusal
from fivesafes.outputs import airlock
from fivesafes.outputs.airlock import ModelInputs, State
from fivesafes.outputs.bundle import read_manifest, verify_bundle
from fivesafes.outputs.models import roc_figure_png
from fivesafes.outputs.policy import tre_policy

pytest.importorskip("sacroml")

USERS = {"ann": "researcher", "carol": "output_checker", "dave": "output_checker"}


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("airlock-models") / "fivesafes.db"
    migrate(f"sqlite:///{path}")
    with session_factory(f"sqlite:///{path}")() as s:
        for name, role in USERS.items():
            add_user(s, name, role)
    return path


@pytest.fixture
def session(template_db: Path, tmp_path: Path, fast_model_policy: Path) -> Iterator[Session]:
    path = tmp_path / "fivesafes.db"
    shutil.copy(template_db, path)
    with session_factory(f"sqlite:///{path}")() as s:
        yield s


def _submitted(session: Session, files: Any, name: str = "model.skops") -> int:
    req = airlock.create_request(session, "ann", "p-001", "A trained model")
    airlock.add_output(
        session,
        req.id,
        "ann",
        name,
        files.model,
        "Classifier of the outcome from four standardised measures",
        model=ModelInputs(files.train, files.test, files.target),
    )
    airlock.submit(session, req.id, "ann")
    airlock.record_automatic_check(session, req.id)
    return req.id


def test_a_memorising_forest_is_unsafe_and_no_checker_can_approve_it(
    session: Session, model_files: Callable[[str], Any], tmp_path: Path
) -> None:
    rid = _submitted(session, model_files("forest"))
    req = airlock.get_request(session, rid, "carol")
    (out,) = req.outputs
    assert out.verdict == "fail" and out.kind == "model"
    assert out.check_report is not None
    check = out.check_report["model_check"]
    assert check["verdict"] == "unsafe" and check["model_type"] == "RandomForestClassifier"
    assert {a["name"] for a in check["attacks"]} == {"LiRA", "worst-case", "structural"}
    lira = next(a for a in check["attacks"] if a["name"] == "LiRA")
    assert lira["auc"] > 0.7 and lira["unsafe"] and len(lira["roc"]["fpr"]) >= 2
    airlock.start_review(session, rid, "carol")
    with pytest.raises(PolicyRefusal, match=r"fails the rules.*no checker can approve it"):
        airlock.review(session, rid, "model.skops", "carol", "approve")
    refused = audit.entries(session, action="airlock.refused")[-1]
    assert audit.details_of(refused)["attempted"] == "review"
    with pytest.raises(PolicyRefusal, match="fails the rules"):
        airlock.approve(session, rid, "carol")
    with pytest.raises(PolicyRefusal, match="is in_review"):
        airlock.release(session, rid, "carol", tmp_path / "bundles")
    # what a checker can do: ask for a safer model
    airlock.review(session, rid, "model.skops", "carol", "request_changes", "min_samples_leaf")
    airlock.return_to_researcher(session, rid, "carol", "the forest memorises its rows")
    assert airlock.get_request(session, rid, "ann").state == State.RETURNED
    assert not (tmp_path / "bundles").exists() or not any((tmp_path / "bundles").iterdir())


def test_a_safe_model_is_released_after_two_checkers_and_only_the_model_leaves(
    session: Session, model_files: Callable[[str], Any], tmp_path: Path
) -> None:
    files = model_files("logistic")
    rid = _submitted(session, files)
    out = airlock.get_request(session, rid, "carol").outputs[0]
    assert out.verdict == "pass", out.check_report
    assert out.check_report is not None and out.check_report["model_check"]["verdict"] == "safe"
    airlock.start_review(session, rid, "carol")
    airlock.review(session, rid, "model.skops", "carol", "approve")
    assert airlock.get_request(session, rid, "carol").state == State.IN_REVIEW  # one of two
    airlock.review(session, rid, "model.skops", "dave", "approve")
    bundle = airlock.release(session, rid, "carol", tmp_path / "bundles")
    assert verify_bundle(bundle).ok
    released = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert released == ["manifest.json", "outputs/model.skops", "reports/model.skops.json"]
    assert (bundle / "outputs/model.skops").read_bytes() == files.model.read_bytes()
    public = (bundle / "reports/model.skops.json").read_text()
    assert '"verdict": "safe"' in public and "roc" not in public and "age_z" not in public
    assert read_manifest(bundle)["outputs"][0]["verdict"] == "pass"


def test_a_safe_model_needs_two_checkers_even_where_one_is_enough_for_a_table() -> None:
    policy = airlock.AirlockPolicy(single_review_for_passing_outputs=True)
    assert policy.required_for("pass", "table") == 1
    assert policy.required_for("pass", "model") == 2
    assert policy.required_for("review", "table") == 2


def test_the_check_runs_under_the_tre_policy_and_draws_the_roc_figure(
    session: Session, model_files: Callable[[str], Any]
) -> None:
    rid = _submitted(session, model_files("forest"))
    report = airlock.get_request(session, rid, "carol").outputs[0].check_report
    assert report is not None
    assert report["model_check"]["policy"] == tre_policy().label == "test-models 1"
    png = roc_figure_png(report)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    entry = audit.entries(session, action="airlock.add_output")[-1]
    assert audit.details_of(entry)["kind"] == "model"
    assert audit.details_of(entry)["target"] == "outcome"


def test_a_refused_model_is_never_added(
    session: Session, model_files: Callable[[str], Any], tmp_path: Path
) -> None:
    files = model_files("logistic")
    req = airlock.create_request(session, "ann", "p-001", "t")
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps({"a": 1}))
    cases: list[tuple[Path, ModelInputs, str]] = [
        (pickled, ModelInputs(files.train, files.test, "outcome"), "not a skops file"),
        (files.model, ModelInputs(files.train, files.test, "died"), "no target column 'died'"),
        (files.model, ModelInputs(files.train, files.test, " "), "name the target column"),
        (files.model, ModelInputs(tmp_path / "nope.csv", files.test, "outcome"), "nope.csv"),
    ]
    for model, inputs, message in cases:
        with pytest.raises(FivesafesError, match=message):
            airlock.add_output(session, req.id, "ann", "m", model, "d", model=inputs)
    with pytest.raises(FivesafesError, match="no report may be given"):
        airlock.add_output(
            session,
            req.id,
            "ann",
            "m",
            files.model,
            "d",
            {"verdict": "pass"},
            model=ModelInputs(files.train, files.test, "outcome"),
        )
    assert airlock.get_request(session, req.id, "ann").outputs == []
    with zipfile.ZipFile(files.model) as z:  # the model file was a skops archive all along
        assert "schema.json" in z.namelist()


def test_changing_the_data_of_a_model_makes_a_new_version_checked_again(
    session: Session, model_files: Callable[[str], Any], tmp_path: Path
) -> None:
    forest, logistic = model_files("forest"), model_files("logistic")
    rid = _submitted(session, forest)
    airlock.start_review(session, rid, "carol")
    airlock.return_to_researcher(session, rid, "carol", "regularise it")
    out = airlock.update_output(
        session,
        rid,
        "ann",
        "model.skops",
        path=logistic.model,
        model=ModelInputs(logistic.train, logistic.test, "outcome"),
    )
    assert out.version == 2 and out.verdict is None and out.model_data is not None
    assert out.model_data.train == logistic.train.read_bytes()
    airlock.submit(session, rid, "ann")
    airlock.record_automatic_check(session, rid)
    assert airlock.get_request(session, rid, "ann").outputs[0].verdict == "pass"


def test_data_changed_behind_the_airlocks_back_stops_the_check(
    session: Session, model_files: Callable[[str], Any]
) -> None:
    files = model_files("logistic")
    req = airlock.create_request(session, "ann", "p-001", "t")
    airlock.add_output(
        session,
        req.id,
        "ann",
        "m",
        files.model,
        "d",
        model=ModelInputs(files.train, files.test, "outcome"),
    )
    airlock.submit(session, req.id, "ann")
    out = airlock.get_request(session, req.id, "ann").outputs[0]
    assert out.model_data is not None
    out.model_data.train = out.model_data.train + b"1,2,3,4,1\n"
    session.commit()
    with pytest.raises(PolicyRefusal, match="no longer matches the SHA-256"):
        airlock.record_automatic_check(session, req.id)
    assert airlock.get_request(session, req.id, "ann").state == State.SUBMITTED
