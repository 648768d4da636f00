"""Several runners on one PostgreSQL queue (``SELECT … FOR UPDATE SKIP LOCKED``):
two runner "processes" (two engines), two workers each, drain a queue of jobs
with every job run exactly once; a runner that died mid-job leaves its job failed
with the reason when its lease lapses, and the surviving runners carry on."""

from __future__ import annotations

import os
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from jobs_world import PEOPLE, add_project
from sqlalchemy import select, update

from fivesafes.appdb import add_user, migrate, session_factory
from fivesafes.appdb.db import engine_for
from fivesafes.appdb.models import AuditEntry, User, utcnow
from fivesafes.appdb.pgcluster import reachable
from fivesafes.jobs import submit_job
from fivesafes.jobs.models import Job
from fivesafes.jobs.queue import claim_next
from fivesafes.jobs.runner import Runner
from fivesafes.sandbox import Limits


def _postgres_url() -> str | None:
    return reachable(os.environ.get("FIVESAFES_TEST_POSTGRES_URL"))


pytestmark = pytest.mark.skipif(
    _postgres_url() is None,
    reason="no PostgreSQL server reachable at $FIVESAFES_TEST_POSTGRES_URL",
)
JOBS = 8


@pytest.fixture
def url() -> str:
    found = _postgres_url()
    assert found is not None
    engine = engine_for(found)
    with engine.begin() as c:
        c.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()
    migrate(found)
    return found


def test_runners_share_one_queue_and_each_job_runs_once(url: str, tmp_path: Path) -> None:
    with session_factory(url)() as s:
        for name, role in PEOPLE.items():
            add_user(s, name, role)
        people = {u.name: u for u in s.scalars(select(User))}
        project = add_project(s, tmp_path / "store", "project-1", [people["ana"]])
        for i in range(JOBS):
            script = f"open(__import__('os').environ['FIVESAFES_OUTPUTS'] + '/{i}.txt', 'w')"
            submit_job(s, project.id, people["ana"], f"job {i}", script=script.encode())
        # A runner that claimed the first job and died: its lease has lapsed.
        lost = claim_next(s, "dead-runner")
        assert lost is not None
        s.execute(update(Job).where(Job.id == lost.id).values(lease_until=utcnow() - timedelta(1)))
        s.commit()
    runners = [
        Runner(session_factory(engine_for(url)), jobs=2, limits=Limits(wall_seconds=60))
        for _ in range(2)
    ]
    import threading

    counts: list[int] = []
    threads = [
        threading.Thread(target=lambda r=r: counts.append(r.run(once=True))) for r in runners
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sum(counts) == JOBS - 1  # the lost job is not rerun
    with session_factory(url)() as s:
        states = Counter(s.scalars(select(Job.state)))
        assert states == {"succeeded": JOBS - 1, "failed": 1}
        failed = s.get(Job, lost.id)
        assert failed is not None and "dead-runner" in failed.reason
        starts = Counter(
            s.scalars(select(AuditEntry.subject).where(AuditEntry.action == "job.start"))
        )
        assert len(starts) == JOBS and set(starts.values()) == {1}  # each started once
        runners_used = {j.runner for j in s.scalars(select(Job)) if j.id != lost.id}
        assert len(runners_used) >= 2
