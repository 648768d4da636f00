"""Jobs on the web app, as its users and as an attacker: a member submits a script
(multipart ``script`` and ``title`` with the CSRF token, 303 to the job's page),
reads ``.json`` (``state``, ``exit_code``, ``error``, ``outputs`` with ``name`` and
``verdict``), never the printed text; an output checker reads the log; every other
identity is refused and nothing is queued; an output goes into a release request.

The jobs run in the real sandbox (bubblewrap) by a runner on the same database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jobs_helpers import provision_demo_project
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes.appdb import session_factory
from fivesafes.appdb.models import AuditEntry
from fivesafes.jobs.models import Job
from fivesafes.jobs.runner import Runner
from fivesafes.sandbox import Limits

APPROVED = 1
COUNTS = b"""
import os, duckdb
con = duckdb.connect(os.environ["FIVESAFES_WORKSPACE"], read_only=True)
n = con.execute("SELECT count(*) FROM visits").fetchone()[0]
print("first row:", con.execute("SELECT * FROM visits LIMIT 1").fetchone())
with open(os.environ["FIVESAFES_OUTPUTS"] + "/by_group.csv", "w") as f:
    f.write("group,persons\\na,40\\nb,3\\n")
"""
FAILS = b"""secret = "P-ROW-0001 born 1990-01-01"
print(secret)
rows = {}
rows[secret]
"""


@pytest.fixture
def db(seeded_db: str) -> Iterator[Session]:
    with session_factory(seeded_db)() as session:
        yield session


@pytest.fixture
def workspace(db: Session, tmp_path: Path) -> Path:
    return provision_demo_project(db, tmp_path, APPROVED)


def _submit(client: Any, title: str, script: bytes, name: str = "analysis.py") -> Any:
    token = client.csrf_token(f"/projects/{APPROVED}/jobs")
    return client.post(
        f"/projects/{APPROVED}/jobs",
        data={"title": title, "csrf_token": token},
        files={"script": (name, script, "text/x-python")},
        follow_redirects=False,
    )


def _run_queued(url: str) -> int:
    return Runner(session_factory(url), limits=Limits(wall_seconds=120)).run(once=True)


def _jobs(db: Session) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(Job)) or 0)


def test_a_member_submits_watches_and_reads_the_verdicts(
    client: Any, db: Session, workspace: Path, seeded_db: str
) -> None:
    me = client.login_as("researcher")
    page = me.get(f"/projects/{APPROVED}/jobs")
    assert page.status_code == 200 and 'name="script"' in page.text
    submitted = _submit(me, "Counts by group", COUNTS, "counts.py")
    assert submitted.status_code == 303
    location = submitted.headers["location"]
    m = re.fullmatch(rf"/projects/{APPROVED}/jobs/(\d+)", location)
    assert m, location
    job_id = int(m.group(1))
    queued = me.get(f"{location}.json").json()
    assert queued["state"] == "queued" and queued["outputs"] == []
    assert _run_queued(seeded_db) == 1
    info = me.get(f"{location}.json").json()
    assert info["state"] == "succeeded" and info["exit_code"] == 0 and info["error"] is None
    assert [(o["name"], o["verdict"]) for o in info["outputs"]] == [("by_group.csv", "suppress")]
    html = me.get(location).text
    assert "by_group.csv" in html and "Add to a release request" in html
    assert "first row" not in html and "first row" not in str(info)
    actions = [
        a
        for (a,) in db.execute(
            select(AuditEntry.action).where(AuditEntry.subject == f"job:{job_id}")
        )
    ]
    assert actions == ["job.submit", "job.start", "job.end"]
    listing = me.get(f"/projects/{APPROVED}/jobs").text
    assert "Counts by group" in listing and "Succeeded" in listing


def test_a_failure_shows_its_type_and_line_and_only_a_checker_reads_the_log(
    client: Any, workspace: Path, seeded_db: str
) -> None:
    me = client.login_as("researcher")
    location = _submit(me, "Fails", FAILS, "fails.py").headers["location"]
    _run_queued(seeded_db)
    info = me.get(f"{location}.json").json()
    assert info["state"] == "failed"
    assert info["error"]["type"] == "KeyError" and info["error"]["line"] == 4
    page = me.get(location).text
    assert "KeyError" in page and "P-ROW-0001" not in page and "P-ROW-0001" not in str(info)
    job_id = location.rsplit("/", 1)[1]
    assert me.get(f"/jobs/{job_id}/log", follow_redirects=False).status_code == 403
    checker = client.fresh().login_as("output_checker")
    log = checker.get(f"/jobs/{job_id}/log")
    assert log.status_code == 200 and "P-ROW-0001" in log.text


@pytest.mark.parametrize(
    "who",
    [
        "researcher_not_member",
        "output_checker",
        "data_owner",
        "panel_member",
        "trainer",
        "administrator",
        "linkage_operator",
    ],
)
def test_no_one_but_a_trained_member_may_submit_or_read(
    client: Any, db: Session, workspace: Path, who: str
) -> None:
    me = client.login_as("researcher")
    _submit(me, "Mine", COUNTS)
    before = _jobs(db)
    other = client.fresh()
    if who == "researcher_not_member":
        other.login_as("researcher2")
        _leave(db, other.users["researcher2"]["name"])
    else:
        other.login_as(who)
    assert other.get(f"/projects/{APPROVED}/jobs", follow_redirects=False).status_code in (
        403,
        404,
    )
    token = other.csrf_token()
    posted = other.post(
        f"/projects/{APPROVED}/jobs",
        data={"title": "Theirs", "csrf_token": token},
        files={"script": ("x.py", COUNTS, "text/x-python")},
        follow_redirects=False,
    )
    assert posted.status_code in (403, 404)
    assert other.get(f"/projects/{APPROVED}/jobs/1.json").status_code in (403, 404)
    assert _jobs(db) == before


def _leave(db: Session, name: str) -> None:
    from fivesafes.appdb.models import User
    from fivesafes.projects.models import ProjectMember

    user = db.scalar(select(User).where(User.name == name))
    assert user is not None
    for m in db.scalars(select(ProjectMember).where(ProjectMember.user_id == user.id)):
        db.delete(m)
    db.commit()


def test_a_visitor_is_sent_to_log_in_and_a_post_without_the_token_is_refused(
    client: Any, db: Session, workspace: Path
) -> None:
    page = client.get(f"/projects/{APPROVED}/jobs", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    me = client.login_as("researcher")
    posted = me.post(
        f"/projects/{APPROVED}/jobs",
        data={"title": "No token"},
        files={"script": ("x.py", COUNTS, "text/x-python")},
        follow_redirects=False,
    )
    assert posted.status_code == 403
    assert _jobs(db) == 0


def test_bad_submissions_name_the_field_and_queue_nothing(
    client: Any, db: Session, workspace: Path
) -> None:
    me = client.login_as("researcher")
    empty = _submit(me, "", b"")
    assert empty.status_code == 422
    assert "Give the job a title" in empty.text and "Choose a Python script" in empty.text
    binary = _submit(me, "Binary", b"\xff\xfe\x00junk", "junk.py")
    assert binary.status_code == 422 and "not UTF-8" in binary.text
    named = _submit(me, "Odd name", COUNTS, "../../etc/passwd")
    assert named.status_code == 422
    assert _jobs(db) == 0


def test_an_output_goes_into_a_release_request(
    client: Any, db: Session, workspace: Path, seeded_db: str
) -> None:
    me = client.login_as("researcher")
    location = _submit(me, "Counts", COUNTS, "counts.py").headers["location"]
    _run_queued(seeded_db)
    output_id = me.get(f"{location}.json").json()["outputs"][0]["id"]
    added = me.post_form(f"{location}/outputs/{output_id}/release", {}, token_from=location)
    assert added.status_code == 303
    request_page = me.get(added.headers["location"])
    assert request_page.status_code == 200 and "by_group.csv" in request_page.text
    # Another identity cannot take a project's output into a request.
    checker = client.fresh().login_as("output_checker")
    taken = checker.post_form(f"{location}/outputs/{output_id}/release", {}, token_from="/")
    assert taken.status_code in (403, 404)


def test_a_member_cancels_a_queued_job(client: Any, db: Session, workspace: Path) -> None:
    me = client.login_as("researcher")
    location = _submit(me, "Later", COUNTS).headers["location"]
    cancelled = me.post_form(f"{location}/cancel", {}, token_from=location)
    assert cancelled.status_code == 303
    assert me.get(f"{location}.json").json()["state"] == "cancelled"


def test_the_log_leaves_only_as_an_output_of_a_release_request(
    client: Any, db: Session, workspace: Path, seeded_db: str
) -> None:
    me = client.login_as("researcher")
    location = _submit(me, "Fails", FAILS, "fails.py").headers["location"]
    early = me.post_form(f"{location}/log/release", {}, token_from=location)
    assert early.status_code == 409  # not finished: no complete log yet
    _run_queued(seeded_db)
    asked = me.post_form(f"{location}/log/release", {}, token_from=location)
    assert asked.status_code == 303
    request_page = me.get(asked.headers["location"]).text
    job_id = location.rsplit("/", 1)[1]
    assert f"job{job_id}.log" in request_page or f"job{job_id}_log" in request_page
    assert "P-ROW-0001" not in request_page  # still only for the checkers' eyes
