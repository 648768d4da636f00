"""A job's model manifest (``model.skops.json``): its optional ``categorical`` key
names the feature columns the attribute-inference attack treats as categorical."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from fivesafes.errors import FivesafesError
from fivesafes.jobs.outputs import _manifest


def _job(manifest: dict[str, Any]) -> Any:
    outputs = [
        SimpleNamespace(name="model.skops", content=b"PK"),
        SimpleNamespace(name="model.skops.json", content=json.dumps(manifest).encode()),
        SimpleNamespace(name="data/train.csv", content=b"a,y\n1,0\n"),
        SimpleNamespace(name="data/test.csv", content=b"a,y\n1,0\n"),
    ]
    return SimpleNamespace(id=7, outputs=outputs)


BASE = {"train": "data/train.csv", "test": "data/test.csv", "target": "y"}


def test_categorical_columns_are_read_when_named() -> None:
    job = _job({**BASE, "categorical": ["a"]})
    found = _manifest(job, job.outputs[0])
    assert found is not None
    train, test, target, categorical = found
    assert (train.name, test.name, target, categorical) == (
        "data/train.csv",
        "data/test.csv",
        "y",
        ["a"],
    )
    job = _job(BASE)
    assert _manifest(job, job.outputs[0]) is not None
    assert _manifest(job, job.outputs[0])[3] is None  # type: ignore[index]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a", "key 'categorical' is not a list of column names"),
        (["a", 3], "key 'categorical' is not a list of column names"),
    ],
)
def test_a_bad_categorical_key_is_refused_naming_the_manifest(value: Any, message: str) -> None:
    job = _job({**BASE, "categorical": value})
    with pytest.raises(FivesafesError, match=f"job 7: model.skops.json: {message}"):
        _manifest(job, job.outputs[0])
    job = _job({**BASE, "categorcal": ["a"]})
    with pytest.raises(FivesafesError, match=r"unknown key 'categorcal'.*optionally categorical"):
        _manifest(job, job.outputs[0])
