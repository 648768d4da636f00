"""Jobs in the application database: who may submit and cancel, the states, the
audit log, claims by runners and recovery of jobs whose runner was lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from jobs_world import FakePlan, World

from fivesafes import audit
from fivesafes.appdb.models import utcnow
from fivesafes.errors import PolicyRefusal
from fivesafes.jobs import JobState, cancel_job, describe_job, get_job, jobs_of, queue, submit_job
from fivesafes.jobs.models import Job
from fivesafes.projects.applications import FormErrors

SCRIPT = b"print('hello')\n"


def test_a_member_submits_and_the_submission_is_audited(world: World) -> None:
    s, ana = world.session, world.people["ana"]
    job = submit_job(s, world.project.id, ana, "First look", script=SCRIPT, filename="look.py")
    assert job.state == JobState.QUEUED
    assert [j.id for j in jobs_of(s, world.project.id)] == [job.id]
    assert jobs_of(s, world.other.id) == []
    found = audit.entries(s, subject=f"job:{job.id}", action="job.submit")
    assert len(found) == 1 and found[0].actor == "ana"
    view = describe_job(get_job(s, world.project.id, job.id))
    assert view["state"] == "queued" and view["outputs"] == [] and "log" not in view


@pytest.mark.parametrize("who", ["eve", "olly", "cy"])
def test_anyone_but_a_member_is_refused(world: World, who: str) -> None:
    with pytest.raises(PolicyRefusal, match="not a member"):
        submit_job(world.session, world.project.id, world.people[who], "x", script=SCRIPT)
    assert audit.entries(world.session, action="job.refused")


def test_a_member_whose_learning_plan_is_incomplete_is_refused(
    world: World, plan: FakePlan
) -> None:
    plan.outstanding = ["Safe researcher training"]
    with pytest.raises(PolicyRefusal, match="learning plan"):
        submit_job(world.session, world.project.id, world.people["ben"], "x", script=SCRIPT)


def test_bad_submissions_name_the_field(world: World) -> None:
    ana = world.people["ana"]
    with pytest.raises(FormErrors) as caught:
        submit_job(world.session, world.project.id, ana, " ", script=b"")
    assert set(caught.value.errors) == {"title", "script"}
    with pytest.raises(FormErrors, match="not a script"):
        submit_job(world.session, world.project.id, ana, "t", script=SCRIPT, filename="x.sh")
    with pytest.raises(FormErrors, match="UTF-8"):
        submit_job(world.session, world.project.id, ana, "t", script=b"\xff\xfe", filename="a.py")


def test_a_study_is_submitted_by_name(world: World) -> None:
    job = submit_job(
        world.session, world.project.id, world.people["ana"], "S", study="asd_clusters"
    )
    assert job.kind == "study" and job.script_name == "asd_clusters.py" and job.script


def test_cancel_a_queued_job_and_refuse_a_finished_one(world: World) -> None:
    s = world.session
    job = submit_job(s, world.project.id, world.people["ana"], "t", script=SCRIPT)
    with pytest.raises(PolicyRefusal, match="not a member"):
        cancel_job(s, world.project.id, job.id, world.people["eve"])
    done = cancel_job(s, world.project.id, job.id, world.people["ben"])
    assert done.state == JobState.CANCELLED and "ben" in done.reason
    assert queue.claim_next(s, "r1") is None  # a cancelled job is never claimed
    with pytest.raises(PolicyRefusal, match="cancelled"):
        cancel_job(s, world.project.id, job.id, world.people["ana"])
    assert audit.entries(s, subject=f"job:{job.id}", action="job.cancel")


def test_cancelling_a_running_job_asks_its_runner(world: World) -> None:
    s = world.session
    job = submit_job(s, world.project.id, world.people["ana"], "t", script=SCRIPT)
    claimed = queue.claim_next(s, "r1")
    assert claimed is not None and claimed.id == job.id
    assert queue.heartbeat(s, job.id, "r1") is False
    cancel_job(s, world.project.id, job.id, world.people["ana"])
    assert queue.heartbeat(s, job.id, "r1") is True
    assert queue.finish(s, job.id, "r1", JobState.CANCELLED, reason="cancelled")
    assert get_job(s, world.project.id, job.id).state == JobState.CANCELLED


def test_claims_take_the_oldest_first_and_never_twice(world: World) -> None:
    s = world.session
    first = submit_job(s, world.project.id, world.people["ana"], "1", script=SCRIPT)
    second = submit_job(s, world.other.id, world.people["eve"], "2", script=SCRIPT)
    a, b = queue.claim_next(s, "r1"), queue.claim_next(s, "r2")
    assert a is not None and b is not None
    assert (a.id, b.id) == (first.id, second.id)
    assert queue.claim_next(s, "r3") is None
    assert str(a.workspace).endswith("project-1/workspace.duckdb")
    assert audit.entries(s, subject=f"job:{first.id}", action="job.start")
    # another runner cannot finish a job it does not hold
    assert not queue.finish(s, first.id, "r2", JobState.SUCCEEDED)


def test_a_job_whose_runner_was_lost_is_failed_not_rerun(world: World) -> None:
    s = world.session
    job = submit_job(s, world.project.id, world.people["ana"], "t", script=SCRIPT)
    assert queue.claim_next(s, "r1") is not None
    assert queue.recover_lost(s) == []  # the lease still holds
    row = s.get(Job, job.id)
    assert row is not None
    row.lease_until = utcnow() - timedelta(seconds=1)
    s.commit()
    assert queue.recover_lost(s) == [job.id]
    failed = get_job(s, world.project.id, job.id)
    assert failed.state == JobState.FAILED and "not rerun" in failed.reason
    assert queue.claim_next(s, "r2") is None
    assert not queue.finish(s, job.id, "r1", JobState.SUCCEEDED)  # too late
