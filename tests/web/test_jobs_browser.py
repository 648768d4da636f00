"""The safe setting in headless chromium and from ``fivesafes serve``, as a
researcher uses it: from the workspace page, submit a script, watch it finish, see
its outputs' verdicts and put one into a release request (screenshots under
test-artifacts/screenshots/). And the server as started from the command line:
its in-process runner runs a submitted job; with ``--no-runner`` the job waits for
``fivesafes runner``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from jobs_helpers import provision_demo_project
from playwright.sync_api import expect
from webclient import csrf_from

from fivesafes.appdb import session_factory
from fivesafes.appdb.pgcluster import free_port
from fivesafes.cli.web import start_runner

pytestmark = pytest.mark.slow
APPROVED = 1
FIVESAFES = str(Path(sys.executable).parent / "fivesafes")
SCRIPT = """import os, duckdb
con = duckdb.connect(os.environ["FIVESAFES_WORKSPACE"], read_only=True)
rows = con.execute(
    "SELECT clinic, count(DISTINCT person_pseudonym) FROM visits GROUP BY 1 ORDER BY 1"
).fetchall()
with open(os.path.join(os.environ["FIVESAFES_OUTPUTS"], "by_clinic.csv"), "w") as f:
    f.write("clinic,persons\\n" + "".join(f"{c},{n}\\n" for c, n in rows))
"""


@pytest.fixture
def provisioned(seeded_db: str, tmp_path: Path) -> Path:
    with session_factory(seeded_db)() as db:
        return provision_demo_project(db, tmp_path, APPROVED)


@pytest.fixture
def runner(app: FastAPI, provisioned: Path) -> Iterator[Any]:
    """The in-process runner ``fivesafes serve`` starts, on the served app's database."""
    started = start_runner(app.state.db.writer)
    assert started is not None, "the sandbox cannot be set up here (is bubblewrap installed?)"
    yield started
    started.stop()


def _log_in(page: Any, base: str, user: dict[str, Any]) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.get_by_label("E-mail address").fill(user["email"])
    page.get_by_label("Password").fill(user["password"])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Logged in as")).to_be_visible()


def test_a_researcher_submits_watches_reads_verdicts_and_requests_release(
    runner: Any,
    live_server: str,
    browser_page: Any,
    demo_users: dict[str, dict[str, Any]],
    shot: Any,
    tmp_path: Path,
) -> None:
    page, base = browser_page, live_server
    script = tmp_path / "by_clinic.py"
    script.write_text(SCRIPT)
    _log_in(page, base, demo_users["researcher"])
    page.goto(f"{base}/projects/{APPROVED}/workspace")
    shot(page, "workspace")
    page.get_by_role("link", name="Submit a job").click()
    page.get_by_label("Title").fill("Persons by clinic")
    page.get_by_label("Python script").set_input_files(str(script))
    shot(page, "submit-form")
    page.get_by_role("button", name="Submit the job").click()
    expect(page.locator("h1")).to_contain_text("Persons by clinic")
    shot(page, "queued")
    # The page refreshes itself until the job has finished.
    expect(page.locator("#job-state")).to_have_text("Succeeded", timeout=90_000)
    shot(page, "finished")
    body = page.locator("main")
    expect(body).to_contain_text("by_clinic.csv")
    expect(body).to_contain_text("Cells suppressed or rounded by the rules")
    page.get_by_role("button", name="Add to a release request").click()
    expect(page.locator("main")).to_contain_text("by_clinic.csv")
    assert re.search(rf"/projects/{APPROVED}/airlock/\d+$", page.url), page.url
    shot(page, "in-release-request")


def _serve(db_url: str, port: int, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIVESAFES_")}
    cmd = [FIVESAFES, "serve", "--db", db_url]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120  # a loaded 2-core CI machine can be slow
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError(
        f"fivesafes serve did not start: {proc.stdout.read() if proc.stdout else ''}"
    )


def _logged_in(base: str, user: dict[str, Any]) -> httpx.Client:
    c = httpx.Client(base_url=base, follow_redirects=False, timeout=20)
    form = {"email": user["email"], "password": user["password"]}
    logged = c.post("/login", data={**form, "csrf_token": csrf_from(c.get("/login").text)})
    assert logged.status_code == 303
    return c


def _submit_over_http(base: str, user: dict[str, Any]) -> str:
    c = _logged_in(base, user)
    try:
        token = csrf_from(c.get(f"/projects/{APPROVED}/jobs").text)
        posted = c.post(
            f"/projects/{APPROVED}/jobs",
            data={"title": "From the command line's server", "csrf_token": token},
            files={"script": ("by_clinic.py", SCRIPT.encode(), "text/x-python")},
        )
        assert posted.status_code == 303
        return str(posted.headers["location"])
    finally:
        c.close()


def _state(base: str, user: dict[str, Any], location: str) -> str:
    c = _logged_in(base, user)
    try:
        return str(c.get(f"{location}.json").json()["state"])
    finally:
        c.close()


def test_serve_runs_jobs_in_process_and_no_runner_leaves_them_queued(
    seeded_db: str, provisioned: Path, demo_users: dict[str, dict[str, Any]]
) -> None:
    user = demo_users["researcher"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _serve(seeded_db, port, "--no-runner")
    try:
        waiting = _submit_over_http(base, user)
        time.sleep(3)
        assert _state(base, user, waiting) == "queued"
    finally:
        proc.terminate()
        proc.wait(20)
    ran = subprocess.run(
        [FIVESAFES, "runner", "--db", seeded_db, "--once"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 job run" in ran.stdout
    proc = _serve(seeded_db, port)
    try:
        assert _state(base, user, waiting) == "succeeded"
        served = _submit_over_http(base, user)
        deadline = time.monotonic() + 120
        while (state := _state(base, user, served)) in ("queued", "running"):
            assert time.monotonic() < deadline, "the in-process runner did not run the job"
            time.sleep(1)
        assert state == "succeeded"
    finally:
        proc.terminate()
        proc.wait(20)
