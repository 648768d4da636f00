"""The web app's database handle: one engine, sessions for reading and for writing.

Write requests (POST, PUT, PATCH, DELETE) run one at a time. In the app they take
their turn on an asyncio lock (:meth:`Database.write_lock`) *before* any worker
thread is used, so that a request waiting to write never holds one of the
threadpool's threads (with threads blocked in SQLite's busy wait, the writer that
holds the lock could starve for a thread and everything would stall). Then, in the
database: on SQLite the transaction starts with ``BEGIN IMMEDIATE`` (WAL journal,
30 s busy timeout, for writers outside the app such as the CLI), on PostgreSQL it
takes a transaction-level advisory lock (for other processes). This keeps the
audit log's hash chain a single line and makes read-then-write checks (capacity,
"already enrolled", state transitions) safe under concurrent users, at the price
of serialising writes; reads stay concurrent.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.appdb.db import database_url, engine_for
from fivesafes.audit.log import CHAIN_LOCK_KEY

#: Key of the PostgreSQL advisory lock that serialises the web app's writes (the
#: audit log's own lock: a write request holds it from its first statement).
WRITE_LOCK_KEY = CHAIN_LOCK_KEY
WRITE_OPTION = "fivesafes_write"


def _sqlite_setup(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own
    # implicit transactions cannot be IMMEDIATE).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    write = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _postgres_begin(connection: Any) -> None:
    if connection.get_execution_options().get(WRITE_OPTION, False):
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")


class Database:
    """The application database as the web app uses it."""

    def __init__(self, url: str | None = None) -> None:
        self.url = database_url(url)
        # Enough connections for every worker thread (40) and the requests between
        # two of their steps: a request keeps its connection from its first query
        # to its end, and must never wait for one that a thread waiting for a
        # worker thread holds.
        self.engine: Engine = engine_for(self.url, pool_size=20, max_overflow=60, pool_timeout=60)
        self.backend = self.engine.dialect.name
        if self.backend == "sqlite":
            event.listen(self.engine, "connect", _sqlite_setup)
            event.listen(self.engine, "begin", _sqlite_begin)
        elif self.backend == "postgresql":
            event.listen(self.engine, "begin", _postgres_begin)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def write_lock(self) -> anyio.Lock:
        """The lock the app's writers take their turn on (one per event loop)."""
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = anyio.Lock()
        return lock

    async def run_write(self, work: Callable[[Session], None]) -> None:
        """Run ``work(session)`` in a worker thread in its turn among the writers, and
        commit."""

        def run() -> None:
            with self.session(write=True) as session:
                work(session)
                session.commit()

        async with self.write_lock():
            await anyio.to_thread.run_sync(run)

    def session(self, write: bool = False) -> Session:
        """A new session; ``write=True`` for one that will change things (it waits
        for the other writers)."""
        return (self._write if write else self._read)()

    def dispose(self) -> None:
        self.engine.dispose()
