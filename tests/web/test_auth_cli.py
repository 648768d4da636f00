"""The web app's commands: ``fivesafes web seed-demo`` (human and --json output, a
second run refused; the demo data owner submits for a provider) and ``fivesafes serve``
(help with an example)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fivesafes.demo.site import DEMO_USERS
from fivesafes.web.app import create_app

ENV = {k: v for k, v in os.environ.items() if not k.startswith("FIVESAFES_")} | {
    "FIVESAFES_PASSWORD_HASHING": "fast",
    "COLUMNS": "120",
}


def fivesafes(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fivesafes.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV | {"FIVESAFES_STATE_DIR": str(state)},
    )


@pytest.mark.slow
def test_seed_demo_prints_every_user_once_and_refuses_a_second_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    run = fivesafes("web", "seed-demo", "--db", url, "--json", state=tmp_path / "state")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert list(data) == ["users"]
    assert [sorted(u) for u in data["users"]] == [["email", "password", "roles"]] * len(DEMO_USERS)
    roles = sorted(r for u in data["users"] for r in u["roles"])
    assert roles == sorted(
        [
            "researcher",
            "researcher",
            "output_checker",
            "output_checker",
            "data_owner",
            "panel_member",
            "trainer",
            "administrator",
            "linkage_operator",
        ]
    )
    # Each printed password logs its user in.
    app = create_app(url)
    try:
        for user in data["users"]:
            with TestClient(app) as client:
                page = client.get("/login")
                token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
                response = client.post(
                    "/login",
                    data={
                        "email": user["email"],
                        "password": user["password"],
                        "csrf_token": token,
                    },
                    follow_redirects=False,
                )
                assert response.status_code == 303, user["email"]
    finally:
        app.state.db.dispose()
    again = fivesafes("web", "seed-demo", "--db", url, state=tmp_path / "state")
    assert again.returncode == 2
    assert again.stderr.strip().startswith("error: this database already has the demo users")
    assert len(again.stderr.strip().splitlines()) == 1 and "Traceback" not in again.stderr


@pytest.mark.slow
def test_seed_demo_shows_a_table_and_the_default_database_is_in_the_state_dir(
    tmp_path: Path,
) -> None:
    run = fivesafes("web", "seed-demo", state=tmp_path / "state")
    assert run.returncode == 0, run.stderr
    assert "administrator@example.org" in run.stdout and "fivesafes serve" in run.stdout
    assert (tmp_path / "state" / "fivesafes.db").is_file()


def test_serve_has_help_with_an_example(tmp_path: Path) -> None:
    run = fivesafes("serve", "--help", state=tmp_path)
    assert run.returncode == 0
    for option in ("--host", "--port", "--db", "Example: fivesafes serve --port 8000"):
        assert option in run.stdout


def test_the_demo_data_owner_can_submit_returns_on_the_collections_pages(client: Any) -> None:
    # fivesafes.demo.collections:seed (in SEEDERS) makes them a provider's member
    page = client.login_as("data_owner").get("/collections")
    assert page.status_code == 200
    assert "Submit a return" in page.text
    assert "You do not submit for any provider" not in page.text
