"""A job writes a trained model (issue 15, item 3): a skops file with its manifest
(``model.skops.json``: train, test, target) goes into a release request as a model
output, checked by the attacks on submission; the data it was fitted on can never
be put into a request itself; the course on AI models comes first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jobs_helpers import provision_demo_project
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.appdb import session_factory
from fivesafes.appdb.models import ReleaseRequest
from fivesafes.appdb.users import get_user
from fivesafes.jobs.models import Job
from fivesafes.jobs.runner import Runner
from fivesafes.people import learning
from fivesafes.people.models import Course
from fivesafes.sandbox import Limits

pytest.importorskip("sacroml")

APPROVED = 1
#: Fits a regularised logistic regression on 1,000 synthetic rows and saves it
#: with skops, with its data and the manifest naming them.
FITS = b"""
import json, os
import numpy as np, pandas as pd, skops.io as sio
from sklearn.linear_model import LogisticRegression
out = os.environ["FIVESAFES_OUTPUTS"]
def frame(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(1000, 4))
    y = ((x[:, 0] + rng.normal(scale=1.5, size=1000)) > 0).astype(int)
    f = pd.DataFrame(x, columns=["a", "b", "c", "d"]); f["outcome"] = y
    return f
train, test = frame(11), frame(12)
model = LogisticRegression(C=0.1).fit(train.drop(columns="outcome"), train["outcome"])
os.makedirs(out + "/data")
train.to_csv(out + "/data/train.csv", index=False)
test.to_csv(out + "/data/test.csv", index=False)
sio.dump(model, out + "/model.skops")
with open(out + "/model.skops.json", "w") as f:
    json.dump({"train": "data/train.csv", "test": "data/test.csv", "target": "outcome"}, f)
"""


@pytest.fixture
def db(seeded_db: str) -> Iterator[Session]:
    with session_factory(seeded_db)() as session:
        yield session


def _output(client: Any, location: str, name: str) -> int:
    info = client.get(f"{location}.json").json()
    return next(o["id"] for o in info["outputs"] if o["name"] == name)


@pytest.mark.slow
def test_a_job_writes_a_model_that_goes_into_the_airlock(
    client: Any, db: Session, tmp_path: Path, seeded_db: str, fast_model_policy: Path
) -> None:
    provision_demo_project(db, tmp_path, APPROVED)
    me = client.login_as("researcher")
    token = me.csrf_token(f"/projects/{APPROVED}/jobs")
    location = me.post(
        f"/projects/{APPROVED}/jobs",
        data={"title": "Fit a model", "csrf_token": token},
        files={"script": ("fit.py", FITS, "text/x-python")},
        follow_redirects=False,
    ).headers["location"]
    Runner(session_factory(seeded_db), limits=Limits(wall_seconds=300)).run(once=True)
    info = me.get(f"{location}.json").json()
    assert info["state"] == "succeeded", info
    verdicts = {o["name"]: o["verdict"] for o in info["outputs"]}
    assert verdicts["model.skops"] == "review" and "model.skops.json" in verdicts

    def put(name: str) -> Any:
        return me.post_form(
            f"{location}/outputs/{_output(me, location, name)}/release", {"description": ""}
        )

    refused = put("model.skops")
    assert refused.status_code == 403 and "Protecting privacy in AI models" in refused.text
    course = db.scalar(select(Course).where(Course.slug == "ai-model-privacy"))
    assert course is not None
    learning.record_attendance(db, learning.enrol(db, course, get_user(db, "researcher")), "t")
    data = put("data/train.csv")
    assert data.status_code == 403 and "stays inside the TRE" in data.text
    added = put("model.skops")
    assert added.status_code == 303
    request_page = added.headers["location"]
    request_id = int(request_page.rsplit("/", 1)[1])
    db.expire_all()
    req = db.get(ReleaseRequest, request_id)
    assert req is not None
    (out,) = req.outputs
    assert out.kind == "model" and out.model_data is not None
    assert out.model_data.target == "outcome" and out.model_data.train_name == "train.csv"
    assert me.post_form(f"{request_page}/submit", {}).status_code == 303
    db.expire_all()
    out = db.get(ReleaseRequest, request_id).outputs[0]  # type: ignore[union-attr]
    assert out.verdict == "pass" and out.check_report["model_check"]["verdict"] == "safe"
    assert db.get(Job, int(location.rsplit("/", 1)[1])) is not None
