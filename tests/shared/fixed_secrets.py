"""Project secrets that are the same on every test run, for the world-based tests.

A project's secret is 32 random bytes made the first time it is provisioned, so
its pseudonyms (and the workspace's row order, which sorts by them) differ from
run to run; a bootstrap or a permutation test with a fixed seed then resamples
different people each time, and an interval's edge can fall either side of a
planted value. Inside this context the secrets are drawn from a fixed sequence
instead (a different one per project, as in real use), so the statistical tests
see the same workspace on every run. Only for tests: never for real data.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock


@contextmanager
def fixed_project_secrets(label: str) -> Iterator[None]:
    counter = itertools.count()

    def token_bytes(n: int) -> bytes:
        seed = f"fivesafes-tests/{label}/{next(counter)}".encode()
        return hashlib.sha256(seed).digest()[:n]

    with mock.patch("fivesafes.data.provision.secrets.token_bytes", token_bytes):
        yield
