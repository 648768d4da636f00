"""The runner end to end on a real queue: it claims each queued job, runs it in the
sandbox on its project's workspace, and records how it ended — a job's table of
counts checked with its verdict, a failure as the exception's type and line (the
printed text kept for checkers only, never in the researcher's view), a job over a
limit killed saying which — and it carries on with the next job."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import pytest
from jobs_world import World

from fivesafes import audit
from fivesafes.appdb import session_factory
from fivesafes.errors import FivesafesError
from fivesafes.jobs import add_log_to_release_request, describe_job, get_job, submit_job
from fivesafes.jobs.runner import Runner
from fivesafes.people import accreditation
from fivesafes.projects.applications import MEMBER_ACCREDITATION
from fivesafes.sandbox import Limits

TABLE = b"""
import os, duckdb
con = duckdb.connect(os.environ["FIVESAFES_WORKSPACE"], read_only=True)
tables = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
open(os.environ["FIVESAFES_OUTPUTS"] + "/counts.csv", "w").write("group,n\\na,40\\nb,3\\n")
print("tables", tables)
"""
FAILS = b"""print("a person's row: P0001, 1990-01-01")
rows = {}

rows["P0001"]
"""
LOOPS = b"while True:\n    pass\n"
SLEEPS = b"""
import os, time
open(os.environ["FIVESAFES_OUTPUTS"] + "/counts.csv", "w").write("group,n\\na,40\\nb,30\\n")
time.sleep(600)
print("slept")
"""


def test_the_runner_runs_each_queued_job_and_records_how_it_ended(world: World) -> None:
    s, ana = world.session, world.people["ana"]
    ok = submit_job(s, world.project.id, ana, "Counts", script=TABLE, filename="counts.py")
    bad = submit_job(s, world.project.id, ana, "Fails", script=FAILS, filename="fails.py")
    hog = submit_job(s, world.project.id, ana, "Loops", script=LOOPS, filename="loops.py")
    ran = Runner(session_factory(world.url), limits=Limits(cpu_seconds=2, wall_seconds=30)).run(
        once=True
    )
    assert ran == 3
    s.expire_all()
    done = describe_job(get_job(s, world.project.id, ok.id))
    assert done["state"] == "succeeded" and done["exit_code"] == 0
    assert [(o["name"], o["verdict"]) for o in done["outputs"]] == [("counts.csv", "suppress")]
    failed = describe_job(get_job(s, world.project.id, bad.id))
    assert failed["state"] == "failed"
    assert failed["error"]["type"] == "KeyError" and failed["error"]["line"] == 4
    assert "P0001" not in str(failed) and "log" not in failed
    assert b"P0001" in (get_job(s, world.project.id, bad.id).log or b"")  # for checkers
    killed = describe_job(get_job(s, world.project.id, hog.id))
    assert killed["state"] == "killed" and killed["limit"] == "cpu"


def _wait_for_file(pattern: str, folder: Path, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while not list(folder.glob(pattern)):
        assert time.monotonic() < end, f"no {pattern} in {folder} after {seconds:.0f} s"
        time.sleep(0.05)


def test_a_running_job_stops_when_its_submitter_no_longer_meets_the_rule(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job has written an output and sleeps; the submitter's accreditation is
    revoked; at its next heartbeat the runner stops it, records it failed with the
    reason and keeps nothing it wrote or printed (nothing to offer for release)."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the runner's folders go
    s, ana = world.session, world.people["ana"]
    job = submit_job(s, world.project.id, ana, "Sleeps", script=SLEEPS, filename="sleeps.py")
    runner = Runner(
        session_factory(world.url), limits=Limits(wall_seconds=900), heartbeat_every=0.2
    )
    thread = threading.Thread(target=runner.run, kwargs={"once": True}, daemon=True)
    thread.start()
    _wait_for_file(f"fivesafes-job-{job.id}-*/outputs/counts.csv", scratch)
    s.expire_all()
    assert get_job(s, world.project.id, job.id).state == "running"
    for held in accreditation.accreditations_of(s, ana.id):
        if held.kind == MEMBER_ACCREDITATION and held.valid:
            accreditation.revoke(s, held.row, "administrator", "left the organisation")
    s.commit()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the job was not stopped"
    s.expire_all()
    row = get_job(s, world.project.id, job.id)
    info = describe_job(row)
    assert info["state"] == "failed" and info["limit"] is None
    assert info["reason"].startswith("not finished: ana had their safe researcher accreditation")
    assert "stays a member" in info["reason"]
    assert info["outputs"] == [] and row.log is None  # nothing it wrote or printed is kept
    assert not list(scratch.glob(f"fivesafes-job-{job.id}-*"))
    end = audit.entries(s, subject=f"job:{job.id}", action="job.end")[-1]
    details = audit.details_of(end)
    assert details["state"] == "failed" and details["reason"] == info["reason"]
    assert details["outputs"] == {}
    # ben, who meets the rule, has nothing of it to put into a release request
    with pytest.raises(FivesafesError, match="kept no log"):
        add_log_to_release_request(s, world.project.id, job.id, world.people["ben"])
