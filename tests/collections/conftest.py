"""Fixtures of the collections' web tests: a demo site seeded once per module,
copied for each test, and a logged-out client of its app."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from fivesafes.collections import submissions as subs
from fivesafes.web.app import create_app

WEB_TESTS = Path(__file__).resolve().parents[1] / "web"


@pytest.fixture(scope="module")
def seeded_template(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, dict[str, Any]]]:
    from fivesafes.demo.site import DEMO_USERS, seed_demo

    path = tmp_path_factory.mktemp("web") / "web.db"
    listing = seed_demo(
        f"sqlite:///{path}", passwords={d.key: f"{d.key}-pass-2026" for d in DEMO_USERS}
    )
    return path, {u["key"]: u for u in listing}


@pytest.fixture
def seeded(
    seeded_template: tuple[Path, dict[str, dict[str, Any]]], tmp_path: Path
) -> tuple[str, dict[str, dict[str, Any]]]:
    target = tmp_path / "web.db"
    shutil.copyfile(seeded_template[0], target)
    return f"sqlite:///{target}", seeded_template[1]


@pytest.fixture
def web(
    seeded: tuple[str, dict[str, dict[str, Any]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    sys.path.insert(0, str(WEB_TESTS))
    from webclient import WebClient  # tests/web/webclient.py

    monkeypatch.setenv(subs.COLLECTIONS_DIR_ENV, str(tmp_path / "coll"))
    app: FastAPI = create_app(seeded[0])
    try:
        with WebClient(app) as client:
            client.users = seeded[1]
            yield client
    finally:
        app.state.db.dispose()
