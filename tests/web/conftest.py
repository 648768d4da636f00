"""Fixtures of the web app's tests.

- ``app_db``: the URL of a fresh, empty SQLite database (migrated by create_app).
- ``seeded_db``: the URL of a copy of a database seeded with the demo site
  (``fivesafes web seed-demo``: one user per role, then every seeder); the seeded
  file is made once per test session (per xdist worker) and copied per test.
- ``demo_users``: key ("researcher", "output_checker", ...) -> {"email",
  "password", "roles", "name"} of the seeded users (passwords: ``<key>-pass-2026``).
- ``app``: the app on ``seeded_db``; ``client``: a ``webclient.WebClient`` on it
  (``client.login_as("researcher")``, ``client.csrf_token("/profile")``,
  ``client.post_form(path, data)`` which adds the CSRF token); ``client.fresh()``
  gives another browser (no cookies) on the same app.
- ``live_server``: the base URL of uvicorn serving ``app`` in a thread on a free
  port; ``browser_page``: a Playwright page in headless Debian chromium;
  ``shot(page, name)``: a full-page screenshot in test-artifacts/screenshots/.
"""

from __future__ import annotations

import os

# argon2's cheapest parameters in tests (see fivesafes.web.security); set before any
# password is hashed.
os.environ["FIVESAFES_PASSWORD_HASHING"] = "fast"

import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from webclient import WebClient

from fivesafes.demo.site import DEMO_USERS, seed_demo
from fivesafes.web.app import create_app

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORDS = {d.key: f"{d.key}-pass-2026" for d in DEMO_USERS}


@pytest.fixture
def app_db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fivesafes.db'}"


@pytest.fixture(scope="session")
def _seeded_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    path = tmp_path_factory.mktemp("seeded") / "fivesafes.db"
    listing = seed_demo(f"sqlite:///{path}", passwords=PASSWORDS)
    return path, listing


@pytest.fixture
def seeded_db(tmp_path: Path, _seeded_template: tuple[Path, list[dict[str, Any]]]) -> str:
    target = tmp_path / "seeded.db"
    shutil.copyfile(_seeded_template[0], target)
    return f"sqlite:///{target}"


@pytest.fixture
def demo_users(_seeded_template: tuple[Path, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {u["key"]: u for u in _seeded_template[1]}


@pytest.fixture
def app(seeded_db: str) -> Iterator[FastAPI]:
    application = create_app(seeded_db)
    yield application
    application.state.db.dispose()


@pytest.fixture
def client(app: FastAPI, demo_users: dict[str, dict[str, Any]]) -> Iterator[WebClient]:
    with WebClient(app) as c:
        c.users = demo_users
        yield c


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    """The base URL (http://127.0.0.1:<port>) of uvicorn serving ``app``.

    The socket is bound here, before uvicorn starts, and handed to it: a port
    picked free and bound later can be taken in between by another test worker
    (a CI run once failed so)."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported by the fixture below
            failure.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120  # a loaded 2-core CI machine can be slow
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            sock.close()
            raise RuntimeError(f"the test server did not start: {failure or 'timed out'}")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="session")
def _browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(_browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh Playwright page (its own cookies); a screenshot is saved if the test fails."""
    context = _browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        _save(page, f"{request.node.name}-FAILED")
    context.close()


def _save(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Any:
    """``shot(page, "step")`` saves test-artifacts/screenshots/<test>-<step>.png."""
    counter = iter(range(1, 1000))

    def take(page: Any, name: str) -> Path:
        return _save(page, f"{request.node.name}-{next(counter):02d}-{name}")

    return take


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
