"""The runner end to end on a real queue: it claims each queued job, runs it in the
sandbox on its project's workspace, and records how it ended — a job's table of
counts checked with its verdict, a failure as the exception's type and line (the
printed text kept for checkers only, never in the researcher's view), a job over a
limit killed saying which — and it carries on with the next job."""

from __future__ import annotations

from jobs_world import World

from fivesafes.appdb import session_factory
from fivesafes.jobs import describe_job, get_job, submit_job
from fivesafes.jobs.runner import Runner
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
