"""The runner: claims queued jobs and runs each in the sandbox, then records how it
ended, what it used and its outputs with their verdicts.

Several runners may share one queue on PostgreSQL (claims by ``FOR UPDATE SKIP
LOCKED``); on SQLite one. A runner holds a lease on each job it runs and renews
it while the job runs; a job whose runner stopped (killed, machine lost) is
marked failed by the next runner when its lease runs out, never rerun by
itself. Before it takes a job a runner checks that the sandbox can be set up
(:func:`fivesafes.sandbox.self_test`) and refuses to run otherwise.

At every heartbeat (every :data:`HEARTBEAT` seconds) the runner renews its lease,
stops a job a member cancelled, and stops a job whose submitter no longer meets
the membership rule (:func:`fivesafes.jobs.queue.why_stop`): that job is recorded
failed, ``not finished: <reason>``, in the audit log as ``job.end``, and nothing it
wrote or printed is kept, so none of it can be offered for release.

The heartbeat is a site setting, ``FIVESAFES_JOB_HEARTBEAT`` (seconds, default
:data:`HEARTBEAT`), read when a :class:`Runner` is built
(:func:`heartbeat_from_env`): a value that is not a number more than 0 and at most
:data:`MAX_HEARTBEAT` (a third of the lease) stops it with a sentence naming the
setting.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from fivesafes.errors import FivesafesError
from fivesafes.jobs.models import JobOutput, JobState
from fivesafes.jobs.outputs import output_row
from fivesafes.jobs.queue import (
    LEASE,
    Claimed,
    claim_next,
    finish,
    heartbeat,
    recover_lost,
    why_stop,
)
from fivesafes.sandbox import Limits, SandboxError, run_in_sandbox, self_test
from fivesafes.sandbox.bwrap import SandboxResult

IDLE = 1.0
#: Seconds between a running job's heartbeats (lease renewed, cancellation and the
#: submitter's membership checked); well inside the lease
#: (:data:`fivesafes.jobs.queue.LEASE`).
HEARTBEAT = 10.0
#: The setting of the heartbeat (seconds), read by :func:`heartbeat_from_env`.
HEARTBEAT_ENV = "FIVESAFES_JOB_HEARTBEAT"
#: The longest heartbeat allowed: a third of the lease, so that a late heartbeat or
#: two never lets another runner take a running job for lost.
MAX_HEARTBEAT = LEASE.total_seconds() / 3


def heartbeat_from_env(environ: Mapping[str, str] | None = None) -> float:
    """The seconds between a running job's heartbeats the site's setting
    :data:`HEARTBEAT_ENV` gives (``environ``, default the process's environment);
    unset or empty, :data:`HEARTBEAT`. A value that is not a number more than 0 and
    at most :data:`MAX_HEARTBEAT` is refused with :class:`FivesafesError` naming
    the setting."""
    env = os.environ if environ is None else environ
    given = env.get(HEARTBEAT_ENV, "").strip()
    if not given:
        return HEARTBEAT
    try:
        value = float(given)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_HEARTBEAT):
        lease = LEASE.total_seconds()
        raise FivesafesError(
            f"{HEARTBEAT_ENV}={given!r}: give the seconds between a running job's "
            f"heartbeats as a number more than 0 and at most {MAX_HEARTBEAT:g} (a third "
            f"of the {lease:g}-second job lease, which each heartbeat renews); the "
            f"default is {HEARTBEAT:g}"
        )
    return value


def runner_name(n: int = 0, token: str = "") -> str:
    """``host:pid[:token]:n``: unique to each worker of each runner (``token`` tells
    apart several runners in one process, e.g. the web app's and a test's)."""
    return f"{socket.gethostname()}:{os.getpid()}:{token + ':' if token else ''}{n}"


def _state_and_reason(result: SandboxResult, limits: Limits) -> tuple[JobState, str]:
    if result.cancelled:
        return JobState.CANCELLED, "cancelled by a member while it ran"
    if result.limit is not None:
        return JobState.KILLED, f"stopped: {limits.describe(result.limit)}"
    if result.exit_code == 0:
        return JobState.SUCCEEDED, ""
    error = result.error or {}
    if error.get("type"):
        where = f" at {error['file']} line {error['line']}" if error.get("line") else ""
        return JobState.FAILED, f"the script raised {error['type']}{where}"
    return JobState.FAILED, f"the script ended with exit code {result.exit_code}"


def _outputs(result: SandboxResult, folder: Path) -> list[JobOutput]:
    rows = []
    for path in result.outputs:
        rel = path.relative_to(folder).as_posix()
        rows.append(output_row(rel, path.read_bytes()))
    return rows


def run_claimed(
    factory: sessionmaker[Session],
    job: Claimed,
    name: str,
    limits: Limits,
    store: Path | None = None,
    heartbeat_every: float = HEARTBEAT,
) -> JobState:
    """Run one claimed job in the sandbox and record its end; returns its state.
    Every ``heartbeat_every`` seconds the lease is renewed and the job stopped if a
    member cancelled it or its submitter no longer meets the membership rule."""
    workspace = job.workspace
    if store is not None and not workspace.is_absolute():
        workspace = store / workspace
    work = Path(tempfile.mkdtemp(prefix=f"fivesafes-job-{job.id}-"))
    with factory() as beat:
        lapsed: list[str] = []

        def keep_going() -> bool:
            if heartbeat(beat, job.id, name):
                return False
            if reason := why_stop(beat, job.id):
                lapsed.append(reason)
                return False
            return True

        try:
            result = run_in_sandbox(
                job.kind,
                job.script_name,
                job.script,
                workspace=workspace if workspace.is_file() else None,
                outputs=work / "outputs",
                limits=limits,
                study=job.study,
                keep_going=keep_going,
                heartbeat_every=heartbeat_every,
            )
        except SandboxError as exc:
            with factory() as s:
                finish(s, job.id, name, JobState.FAILED, reason=f"not run: {exc}")
            shutil.rmtree(work, ignore_errors=True)
            return JobState.FAILED
    if result.cancelled and lapsed:
        shutil.rmtree(work, ignore_errors=True)  # nothing it wrote is kept
        with factory() as s:
            finish(
                s,
                job.id,
                name,
                JobState.FAILED,
                reason=f"not finished: {lapsed[0]}",
                duration=round(result.duration, 3),
                cpu_seconds=round(result.cpu_seconds, 3),
                max_rss_kb=result.max_rss_kb,
            )
        return JobState.FAILED
    try:
        state, reason = _state_and_reason(result, limits)
        outputs = _outputs(result, work / "outputs")
        with factory() as s:
            finish(
                s,
                job.id,
                name,
                state,
                reason=reason,
                limit=result.limit,
                exit_code=result.exit_code,
                error=result.error if state == JobState.FAILED else None,
                duration=round(result.duration, 3),
                cpu_seconds=round(result.cpu_seconds, 3),
                max_rss_kb=result.max_rss_kb,
                log=result.log,
                outputs=outputs,
            )
        return state
    finally:
        shutil.rmtree(work, ignore_errors=True)


class Runner:
    """Runs queued jobs, ``jobs`` at a time, until stopped (or, with ``once``, until
    the queue is empty), each with a heartbeat every ``heartbeat_every`` seconds
    (default: the site's setting, :func:`heartbeat_from_env`, refused here if bad)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        store: Path | None = None,
        jobs: int = 1,
        limits: Limits | None = None,
        on_job: Callable[[int, JobState], None] | None = None,
        heartbeat_every: float | None = None,
    ) -> None:
        self.factory = factory
        self.store = store
        self.jobs = max(1, jobs)
        self.limits = limits or Limits.from_env()
        self.on_job = on_job
        self.heartbeat_every = heartbeat_from_env() if heartbeat_every is None else heartbeat_every
        self.stopping = threading.Event()
        self.ran = 0
        self.token = uuid.uuid4().hex[:6]
        self._count = threading.Lock()

    def check(self) -> None:
        """Refuse to run (:class:`SandboxError`) where the sandbox cannot be set up."""
        self_test()

    def _worker(self, n: int, once: bool) -> None:
        name = runner_name(n, self.token)
        while not self.stopping.is_set():
            with self.factory() as s:
                recover_lost(s)
                job = claim_next(s, name)
            if job is None:
                if once:
                    return
                self.stopping.wait(IDLE)
                continue
            state = run_claimed(
                self.factory, job, name, self.limits, self.store, self.heartbeat_every
            )
            with self._count:
                self.ran += 1
            if self.on_job is not None:
                self.on_job(job.id, state)

    def run(self, once: bool = False) -> int:
        """Run jobs in this thread (and ``jobs - 1`` more); returns how many ran."""
        self.check()
        threads = [
            threading.Thread(target=self._worker, args=(n, once), daemon=True)
            for n in range(1, self.jobs)
        ]
        for t in threads:
            t.start()
        try:
            self._worker(0, once)
        finally:
            if not once:
                self.stopping.set()
            for t in threads:
                t.join()
        return self.ran

    def start(self) -> threading.Thread:
        """Run in a background thread (the web app's in-process runner)."""
        self.check()
        thread = threading.Thread(target=self.run, name="fivesafes-runner", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stopping.set()


def wait_for(factory: sessionmaker[Session], job_id: int, timeout: float = 120) -> str:
    """The job's state once it has finished (for tests and the demo)."""
    from fivesafes.jobs.models import FINISHED, Job

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with factory() as s:
            job = s.get(Job, job_id)
            if job is not None and job.state in FINISHED:
                return job.state
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} did not finish within {timeout:.0f} s")
