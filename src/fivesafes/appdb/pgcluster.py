"""A throwaway PostgreSQL cluster, for tests and benchmarks that need a server.

:func:`temporary_cluster` runs ``initdb`` in a folder, starts the server on a free
loopback port (as the current user, or as ``postgres`` when run by root, which
``initdb`` refuses), creates a database and yields its URL; the server is stopped
when the block ends. :func:`postgres_bin` finds the binaries of the newest
PostgreSQL that Debian's packages installed (``/usr/lib/postgresql/N/bin``) or
``$PG_BIN``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def postgres_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or None if there is none."""
    configured = os.environ.get("PG_BIN")
    candidates = [Path(configured)] if configured else []
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        versions = sorted(
            (p for p in root.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
        )
        candidates += [v / "bin" for v in reversed(versions)]
    return next((c for c in candidates if (c / "initdb").exists()), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def temporary_cluster(folder: Path, database: str = "fivesafes") -> Iterator[str]:
    """A PostgreSQL cluster in ``folder`` for the duration of the block; yields the
    URL (``postgresql+psycopg://...``) of a new database ``database`` in it."""
    pg_bin = postgres_bin()
    if pg_bin is None:
        raise RuntimeError("no PostgreSQL binaries (install Debian's postgresql, or set PG_BIN)")
    data = folder / "pgdata"
    data.mkdir(parents=True)
    prefix: list[str] = []
    user = os.environ.get("USER") or "postgres"
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as postgres
        if shutil.which("runuser") is None:
            raise RuntimeError("run as root without runuser: cannot start PostgreSQL")
        shutil.chown(folder, "postgres")
        shutil.chown(data, "postgres")
        prefix, user = ["runuser", "-u", "postgres", "--"], "postgres"
    port = free_port()

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, text=True)

    run(str(pg_bin / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8")
    run(
        str(pg_bin / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(folder / "pg.log"),
        "-w",
        "start",
        "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200 "
        "-c fsync=on -c synchronous_commit=on",
    )
    try:
        run(str(pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, database)
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/{database}"
    finally:
        run(str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")


def reachable(url: str | None) -> str | None:
    """``url`` if a database answers there, else None (for tests that skip without one)."""
    if not url:
        return None
    from fivesafes.appdb.db import engine_for

    try:
        with engine_for(url).connect():
            return url
    except Exception:
        return None
