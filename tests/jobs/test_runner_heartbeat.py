"""The heartbeat setting, ``FIVESAFES_JOB_HEARTBEAT``: a number of seconds more than
0 and at most a third of the job lease, else refused at start with a sentence
naming it; the value reaches the Runner that ``fivesafes runner`` and ``fivesafes
serve`` build (and what a Runner is given in Python wins)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import sessionmaker

from fivesafes.cli import jobs as jobs_cli
from fivesafes.cli import web as web_cli
from fivesafes.errors import FivesafesError
from fivesafes.jobs import runner as runner_module
from fivesafes.jobs.models import JobState
from fivesafes.jobs.queue import LEASE
from fivesafes.jobs.runner import (
    HEARTBEAT,
    HEARTBEAT_ENV,
    MAX_HEARTBEAT,
    Runner,
    heartbeat_from_env,
)

FIVESAFES = str(Path(sys.executable).parent / "fivesafes")


def test_unset_or_empty_is_the_default_and_a_number_in_range_is_taken() -> None:
    assert heartbeat_from_env({}) == HEARTBEAT == 10.0
    assert heartbeat_from_env({HEARTBEAT_ENV: "  "}) == HEARTBEAT
    assert heartbeat_from_env({HEARTBEAT_ENV: "2.5"}) == 2.5
    assert heartbeat_from_env({HEARTBEAT_ENV: " 5 "}) == 5.0
    assert MAX_HEARTBEAT == LEASE.total_seconds() / 3 == 20.0
    assert heartbeat_from_env({HEARTBEAT_ENV: "20"}) == 20.0


@pytest.mark.parametrize("given", ["0", "-1", "20.5", "60", "ten", "nan", "inf", "1e400", "5s"])
def test_a_bad_heartbeat_is_refused_naming_the_setting_and_what_it_must_be(given: str) -> None:
    with pytest.raises(FivesafesError) as refused:
        heartbeat_from_env({HEARTBEAT_ENV: given})
    message = str(refused.value)
    assert message.startswith(f"{HEARTBEAT_ENV}={given!r}:")
    assert "more than 0 and at most 20" in message
    assert "60-second job lease" in message


def _factory() -> sessionmaker[Any]:
    return sessionmaker()


def test_a_runner_takes_the_setting_unless_given_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HEARTBEAT_ENV, raising=False)
    assert Runner(_factory()).heartbeat_every == HEARTBEAT
    monkeypatch.setenv(HEARTBEAT_ENV, "2.5")
    assert Runner(_factory()).heartbeat_every == 2.5
    assert Runner(_factory(), heartbeat_every=0.2).heartbeat_every == 0.2
    monkeypatch.setenv(HEARTBEAT_ENV, "0")
    with pytest.raises(FivesafesError, match=HEARTBEAT_ENV):
        Runner(_factory())


def test_the_heartbeat_reaches_each_job_the_runner_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the Runner holds is what run_claimed (and so the sandbox's heartbeat) is
    given for the job it claims."""
    monkeypatch.setenv(HEARTBEAT_ENV, "3.5")
    claimed = [object()]
    given: list[float] = []
    monkeypatch.setattr(runner_module, "self_test", lambda: None)
    monkeypatch.setattr(runner_module, "recover_lost", lambda session: None)

    def claim(*args: Any, **kwargs: Any) -> Any:
        return claimed.pop() if claimed else None

    def run_claimed(*args: Any) -> str:
        *_, every = args
        given.append(every)
        return JobState.SUCCEEDED

    monkeypatch.setattr(runner_module, "claim_next", claim)
    monkeypatch.setattr(runner_module, "run_claimed", run_claimed)
    runner = Runner(_factory())
    assert runner.run(once=True) == 1
    assert given == [3.5]


def test_fivesafes_runner_builds_its_runner_with_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float] = []

    def run(self: Runner, once: bool = False) -> int:
        seen.append(self.heartbeat_every)
        return 0

    monkeypatch.setattr(Runner, "run", run)
    monkeypatch.setenv(HEARTBEAT_ENV, "2.5")
    jobs_cli.runner(db=f"sqlite:///{tmp_path / 'app.db'}", store=None, once=True, jobs=1)
    assert seen == [2.5]


def test_fivesafes_serve_builds_its_runner_with_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Runner, "start", lambda self: None)
    monkeypatch.setenv(HEARTBEAT_ENV, "4")
    assert web_cli.start_runner(_factory()).heartbeat_every == 4.0
    assert web_cli.start_runner(_factory(), 1.5).heartbeat_every == 1.5


@pytest.mark.parametrize("command", [["runner", "--once"], ["serve", "--port", "1"]])
def test_a_bad_heartbeat_stops_the_command_at_start(tmp_path: Path, command: list[str]) -> None:
    """Before anything is done: no database is made, no port opened; exit code 2
    (a user error) with the sentence."""
    db = tmp_path / "app.db"
    done = subprocess.run(
        [FIVESAFES, *command, "--db", f"sqlite:///{db}"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, HEARTBEAT_ENV: "90"},
    )
    assert done.returncode == 2, done.stdout + done.stderr
    said = " ".join((done.stdout + done.stderr).split())
    assert f"{HEARTBEAT_ENV}='90'" in said and "at most 20" in said
    assert not db.exists()
