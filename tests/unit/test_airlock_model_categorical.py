"""The categorical feature columns of a model in the airlock: named when the model
is added, checked against the train CSV's columns, stored with the output, and
passed to the model check, whose attribute-inference attack then treats those
columns (and only those) as categorical."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from fivesafes import audit
from fivesafes.appdb import add_user, migrate, session_factory
from fivesafes.errors import FivesafesError
from fivesafes.outputs import airlock
from fivesafes.outputs.airlock import ModelInputs
from fivesafes.outputs.policy import tre_policy

pytest.importorskip("sacroml")


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("airlock-categorical") / "fivesafes.db"
    migrate(f"sqlite:///{path}")
    with session_factory(f"sqlite:///{path}")() as s:
        add_user(s, "ann", "researcher")
        add_user(s, "carol", "output_checker")
    return path


@pytest.fixture
def session(template_db: Path, tmp_path: Path, fast_model_policy: Path) -> Iterator[Session]:
    path = tmp_path / "fivesafes.db"
    shutil.copy(template_db, path)
    with session_factory(f"sqlite:///{path}")() as s:
        yield s


def _add(session: Session, files: Any, categorical: tuple[str, ...] | None) -> int:
    req = airlock.create_request(session, "ann", "p-001", "A coded model")
    airlock.add_output(
        session,
        req.id,
        "ann",
        "model.skops",
        files.model,
        "Outcome from region and two measures",
        model=ModelInputs(files.train, files.test, "outcome", categorical),
    )
    return req.id


def _kinds(session: Session, rid: int) -> dict[str, str]:
    policy = replace(tre_policy(), attribute_inference=True, worst_case_reps=1)
    airlock.submit(session, rid, "ann")
    airlock.record_automatic_check(session, rid, model_policy=policy)
    report = airlock.get_request(session, rid, "carol").outputs[0].check_report
    assert report is not None
    attack = next(a for a in report["model_check"]["attacks"] if a["name"] == "attribute")
    return {row["name"]: row["kind"] for row in attack["attributes"]}


def test_named_categorical_columns_are_stored_and_reach_the_attribute_attack(
    session: Session, coded_model_files: Any
) -> None:
    rid = _add(session, coded_model_files, (" region", "region"))
    out = airlock.get_request(session, rid, "ann").outputs[0]
    assert out.model_data is not None and out.model_data.categorical == ["region"]
    shown = airlock.summary(airlock.get_request(session, rid, "ann"))["outputs"][0]
    assert shown["model"]["categorical"] == ["region"]
    entry = audit.entries(session, action="airlock.add_output")[-1]
    assert audit.details_of(entry)["categorical"] == ["region"]
    assert _kinds(session, rid) == {
        "region": "categorical",
        "m1": "quantitative",
        "m2": "quantitative",
    }


def test_without_them_the_check_decides_and_a_12_value_code_is_numeric(
    session: Session, coded_model_files: Any
) -> None:
    rid = _add(session, coded_model_files, None)
    out = airlock.get_request(session, rid, "ann").outputs[0]
    assert out.model_data is not None and out.model_data.categorical is None
    assert set(_kinds(session, rid).values()) == {"quantitative"}


def test_an_unknown_column_or_the_target_is_refused_naming_it(
    session: Session, coded_model_files: Any
) -> None:
    files = coded_model_files
    req = airlock.create_request(session, "ann", "p-001", "t")
    for cats, message in (
        (("region", "sex"), r"model output m: train\.csv: no feature column 'sex' to treat as "
         r"categorical \(the feature columns are region, m1, m2\)"),
        (("outcome",), "'outcome' is the target column, not a feature"),
    ):  # fmt: skip
        with pytest.raises(FivesafesError, match=message):
            airlock.add_output(
                session,
                req.id,
                "ann",
                "m",
                files.model,
                "d",
                model=ModelInputs(files.train, files.test, "outcome", cats),
            )
    assert airlock.get_request(session, req.id, "ann").outputs == []


def test_changing_the_model_file_keeps_its_categorical_columns(
    session: Session, coded_model_files: Any
) -> None:
    rid = _add(session, coded_model_files, ("region",))
    out = airlock.update_output(session, rid, "ann", "model.skops", path=coded_model_files.model)
    assert out.version == 2 and out.model_data is not None
    assert out.model_data.categorical == ["region"]
    out = airlock.update_output(
        session,
        rid,
        "ann",
        "model.skops",
        model=ModelInputs(coded_model_files.train, coded_model_files.test, "outcome", ("m1",)),
    )
    assert out.model_data is not None and out.model_data.categorical == ["m1"]
