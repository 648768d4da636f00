"""A trained model in the web airlock (issue 15, items 3 and 4): a member who has
not passed "Protecting privacy in AI models" cannot put a model into a request;
once they have, the model goes in with its data, the model check runs on
submission, and checkers see the attack metrics and the ROC figure; an unsafe
model cannot be approved over HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.appdb import session_factory
from fivesafes.appdb.models import ReleaseRequest
from fivesafes.appdb.users import get_user
from fivesafes.people import learning
from fivesafes.people.models import Course
from fivesafes.projects.release import BUNDLES_ENV

pytest.importorskip("sacroml")

APPROVED = 1
COURSE = "Protecting privacy in AI models"


@pytest.fixture
def db(seeded_db: str) -> Iterator[Session]:
    with session_factory(seeded_db)() as session:
        yield session


@pytest.fixture(autouse=True)
def _setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_model_policy: Path) -> None:
    monkeypatch.setenv(BUNDLES_ENV, str(tmp_path / "bundles"))


def _pass_course(db: Session, name: str) -> None:
    course = db.scalar(select(Course).where(Course.slug == "ai-model-privacy"))
    assert course is not None and course.required_for_outputs == ["model"]
    user = get_user(db, name)
    learning.record_attendance(db, learning.enrol(db, course, user), "trainer")


def _upload(me: Any, page: str, files: Any, name: str = "model.skops") -> Any:
    return me.post(
        f"{page}/models",
        data={
            "csrf_token": me.csrf_token(page),
            "target": files.target,
            "model_name": name,
            "model_description": "Outcome from four standardised measures",
        },
        files={
            "model_upload": (files.model.name, files.model.read_bytes(), "application/zip"),
            "train_upload": ("train.csv", files.train.read_bytes(), "text/csv"),
            "test_upload": ("test.csv", files.test.read_bytes(), "text/csv"),
        },
        follow_redirects=False,
    )


def _request(me: Any, title: str) -> str:
    started = me.post_form(f"/projects/{APPROVED}/airlock", {"title": title})
    assert started.status_code == 303
    return str(started.headers["location"])


def test_a_model_needs_the_course_then_checkers_see_the_report_and_the_figure(
    client: Any, db: Session, model_files: Callable[[str], Any]
) -> None:
    me = client.login_as("researcher")
    page = _request(me, "A trained model")
    files = model_files("forest")
    refused = _upload(me, page, files)
    assert refused.status_code == 403
    assert COURSE in refused.text
    assert not db.get(ReleaseRequest, int(page.rsplit("/", 1)[1])).outputs  # type: ignore[union-attr]

    _pass_course(db, "researcher")
    bad = me.post(
        f"{page}/models",
        data={"csrf_token": me.csrf_token(page), "target": "died", "model_description": "d"},
        files={
            "model_upload": ("m.skops", files.model.read_bytes(), "application/zip"),
            "train_upload": ("train.csv", files.train.read_bytes(), "text/csv"),
            "test_upload": ("test.csv", files.test.read_bytes(), "text/csv"),
        },
    )
    assert bad.status_code == 422
    assert "no target column" in bad.text and 'href="#target"' in bad.text
    added = _upload(me, page, files)
    assert added.status_code == 303
    assert me.post_form(f"{page}/submit", {}).status_code == 303
    request_id = int(page.rsplit("/", 1)[1])

    checker = client.fresh().login_as("output_checker")
    review = checker.get(f"/airlock/requests/{request_id}")
    assert review.status_code == 200
    text = review.text
    assert "Model check: unsafe" in text and "Attacks on model.skops" in text
    assert "LiRA" in text and "worst-case" in text and "structural" in text
    db.expire_all()
    req = db.get(ReleaseRequest, request_id)
    assert req is not None
    figure = f"/airlock/requests/{request_id}/roc/{req.outputs[0].id}.png"
    assert f'src="{figure}"' in text
    png = checker.get(figure)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    # the author sees the same figure on their page; another project's member does not
    assert me.get(f"{page.replace('/airlock/', '/airlock/')}").status_code == 200
    assert (
        me.get(f"/projects/{APPROVED}/airlock/{request_id}/roc/{req.outputs[0].id}.png").status_code
        == 200
    )
    approve = checker.post_form(
        f"/airlock/requests/{request_id}/review",
        {"output": "model.skops", "decision": "approve", "comment": ""},
    )
    assert approve.status_code == 403 and "no checker can approve it" in approve.text
    db.expire_all()
    assert db.get(ReleaseRequest, request_id).state == "in_review"  # type: ignore[union-attr]


def test_a_project_that_releases_models_puts_the_course_in_the_learning_plan(
    client: Any, db: Session
) -> None:
    from fivesafes.projects.models import Project

    me = client.login_as("researcher")
    plan = me.get(f"/learning/plan?project={APPROVED}")
    assert COURSE not in plan.text
    project = db.get(Project, APPROVED)
    assert project is not None
    project.releases_models = True
    db.commit()
    plan = me.get(f"/learning/plan?project={APPROVED}")
    assert COURSE in plan.text and "releasing models" in plan.text
    # and the whole airlock waits for it, as for any course the project requires
    assert me.post_form(f"/projects/{APPROVED}/airlock", {"title": "t"}).status_code == 403
    _pass_course(db, "researcher")
    assert me.post_form(f"/projects/{APPROVED}/airlock", {"title": "t"}).status_code == 303


def test_categorical_columns_from_the_form_reach_the_checkers_attribute_table(
    client: Any, db: Session, coded_model_files: Any, attribute_model_policy: Path
) -> None:
    me = client.login_as("researcher")
    _pass_course(db, "researcher")
    page = _request(me, "A coded model")
    files = coded_model_files

    def upload(categorical: str) -> Any:
        return me.post(
            f"{page}/models",
            data={
                "csrf_token": me.csrf_token(page),
                "target": "outcome",
                "categorical": categorical,
                "model_name": "model.skops",
                "model_description": "Outcome from region and two measures",
            },
            files={
                "model_upload": ("coded.skops", files.model.read_bytes(), "application/zip"),
                "train_upload": ("train.csv", files.train.read_bytes(), "text/csv"),
                "test_upload": ("test.csv", files.test.read_bytes(), "text/csv"),
            },
            follow_redirects=False,
        )

    form = me.get(page).text
    assert 'name="categorical"' in form and "Categorical feature columns" in form
    bad = upload("region, sex")
    assert bad.status_code == 422
    assert "no feature column &#39;sex&#39; to treat as categorical" in bad.text
    assert 'href="#categorical"' in bad.text and 'value="region, sex"' in bad.text
    request_id = int(page.rsplit("/", 1)[1])
    assert not db.get(ReleaseRequest, request_id).outputs  # type: ignore[union-attr]
    assert upload("region").status_code == 303
    assert me.post_form(f"{page}/submit", {}).status_code == 303
    db.expire_all()
    req = db.get(ReleaseRequest, request_id)
    assert req is not None and req.outputs[0].model_data is not None
    assert req.outputs[0].model_data.categorical == ["region"]

    checker = client.fresh().login_as("output_checker")
    text = checker.get(f"/airlock/requests/{request_id}").text
    assert "Attribute inference on model.skops, feature by feature" in text
    rows = re.findall(
        r'<tr(?: class="row-bad")?>\s*<th scope="row">(\w+)</th>\s*<td>(\w+)</td>', text
    )
    assert dict(rows) == {"region": "categorical", "m1": "numeric", "m2": "numeric"}
    assert "Categorical features" in text
