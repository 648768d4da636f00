"""The ``fivesafes`` command as users and attackers run it, for the journeys.

Every run is a subprocess with its own state folder (``FIVESAFES_STATE_DIR``, never
the real home) and the TRE's policy set (``FIVESAFES_POLICY``, default ``acro``);
no other ``FIVESAFES_*`` variable of the calling shell leaks in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ENV = {k: v for k, v in os.environ.items() if not k.startswith("FIVESAFES_")} | {"COLUMNS": "100"}


@dataclass(frozen=True)
class Fivesafes:
    """Runs ``fivesafes ARGS`` against one state folder under one TRE policy."""

    state: Path
    policy: str = "acro"

    def __call__(
        self, *args: str | Path, cwd: Path | None = None, policy: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = ENV | {
            "FIVESAFES_STATE_DIR": str(self.state),
            "FIVESAFES_POLICY": policy or self.policy,
        }
        return subprocess.run(
            [sys.executable, "-m", "fivesafes.cli.main", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=cwd or self.state.parent,
        )


def _refused(run: subprocess.CompletedProcess[str], *says: str) -> str:
    """Exit 2, one line on stderr saying why, no traceback, nothing on stdout."""
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stdout + run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error: "), lines[0]
    for phrase in says:
        assert phrase in lines[0], (phrase, lines[0])
    assert run.stdout == ""
    return lines[0]


def _one_json(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """Exit 0 and exactly one JSON document (an object) on stdout."""
    assert run.returncode == 0, (run.returncode, run.stderr)
    assert "Traceback" not in run.stderr
    doc = json.loads(run.stdout)  # fails on anything but exactly one document
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="session")
def fivesafes_at() -> type[Fivesafes]:
    """``fivesafes_at(state_dir)`` is a runner of the command on that state."""
    return Fivesafes


@pytest.fixture(scope="session")
def refused() -> Callable[..., str]:
    """``refused(run, *phrases)``: asserts a refusal (exit 2, one line) naming them."""
    return _refused


@pytest.fixture(scope="session")
def one_json() -> Callable[[subprocess.CompletedProcess[str]], dict[str, Any]]:
    """``one_json(run)``: asserts exit 0 and returns the one JSON document printed."""
    return _one_json


def _together(
    jobs: Sequence[Callable[[], subprocess.CompletedProcess[str]]],
) -> list[subprocess.CompletedProcess[str]]:
    """Run independent commands (each on its own state) at once, one per core."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return list(pool.map(lambda job: job(), jobs))


@pytest.fixture(scope="session")
def together() -> Callable[..., list[subprocess.CompletedProcess[str]]]:
    """``together(jobs)``: the results of independent commands run in parallel (each
    fivesafes call is mostly start-up time, so this keeps the journeys quick)."""
    return _together
