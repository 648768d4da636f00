"""The web app's database handle: one engine, sessions for reading and for writing.

Requests run side by side, writers too; what must take turns takes them in the
database, for as short a time as it can:

- The audit log's hash chain is extended one entry at a time. :func:`fivesafes.audit.record`
  takes the chain's lock just before its append and holds it to the end of that
  transaction, which in the web app's writers comes right after (a route reads,
  checks, renders and parses *before* it writes). On PostgreSQL the lock is a
  transaction-level advisory lock (it serialises every server process on the
  database); on SQLite it is the database's write lock (``BEGIN IMMEDIATE``).
- A writer's session on SQLite reads without a transaction (each statement sees
  what is committed) until its first change: the first INSERT, UPDATE or DELETE
  (or :func:`fivesafes.appdb.db.begin_write`) starts ``BEGIN IMMEDIATE`` there, so
  the database's single writer's lock is held only from a request's first change
  to its commit, not while it checks a form or an upload. Within the process the
  writers take turns on a lock (:class:`_SqliteTurns`: each wakes as soon as the one
  before commits); writers outside the app, such as the CLI, meet in SQLite's busy
  wait (WAL journal, 30 s busy timeout).
- Read-then-write checks do not rely on writers taking turns: capacity is an atomic
  conditional update, "already enrolled" a unique constraint, an airlock request's
  state is locked (``FOR UPDATE``; on SQLite, ``BEGIN IMMEDIATE``) where an action
  reads it.

Reads run in a transaction of their own (one snapshot per request). A route that
has changed something does not ``await`` before it commits: on SQLite it holds the
single writer's lock, and every other writer would wait for the event loop too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.appdb.db import database_url, engine_for

WRITE_OPTION = "fivesafes_write"
_STARTS_NOTHING = ("SELECT", "PRAGMA", "BEGIN", "EXPLAIN")


def _sqlite_setup(dbapi_connection: Any, _record: Any) -> None:
    # Transactions are begun here, not by pysqlite (whose implicit ones cannot be
    # IMMEDIATE): see the events below.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # A reader's transaction is one snapshot; a writer's starts at its first change.
    if not connection.get_execution_options().get(WRITE_OPTION, False):
        connection.exec_driver_sql("BEGIN")


#: How long a writer waits for the process's other writers before it goes on to
#: SQLite's own busy wait (the same 30 s).
TURN_TIMEOUT = 30.0
_HOLDS_TURN = "fivesafes_sqlite_turn"


class _SqliteTurns:
    """Within one process, SQLite's writers take turns on a lock: each wakes as soon
    as the one before it commits, where SQLite's busy wait polls with sleeps of up
    to 100 ms (with 50 writers at once, a write waited seconds for nothing). Taken
    where the write transaction begins, given back when its connection returns to
    the pool (after its commit or rollback). Writers in other processes (the CLI)
    still meet in SQLite's busy wait."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def before_execute(
        self,
        connection: Any,
        cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        """A writer's first change begins its write transaction (``BEGIN IMMEDIATE``)."""
        if not connection.get_execution_options().get(WRITE_OPTION, False):
            return
        dbapi = connection.connection.dbapi_connection
        if dbapi is None or dbapi.in_transaction:
            return
        text = statement.lstrip().upper()
        begins = text.startswith("BEGIN IMMEDIATE")
        if not begins and text.startswith(_STARTS_NOTHING):
            return
        info = connection.connection.info
        if not info.get(_HOLDS_TURN):
            info[_HOLDS_TURN] = self.lock.acquire(timeout=TURN_TIMEOUT)
        if not begins:
            cursor.execute("BEGIN IMMEDIATE")

    def checkin(self, _dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(_HOLDS_TURN, False):
            self.lock.release()


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
            turns = _SqliteTurns()
            event.listen(self.engine, "before_cursor_execute", turns.before_execute)
            event.listen(self.engine.pool, "checkin", turns.checkin)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )

    async def run_write(self, work: Callable[[Session], None]) -> None:
        """Run ``work(session)`` in a worker thread in a writer's session, and commit."""

        def run() -> None:
            with self.session(write=True) as session:
                work(session)
                session.commit()

        await anyio.to_thread.run_sync(run)

    def session(self, write: bool = False) -> Session:
        """A new session; ``write=True`` for one that will change things (its write
        transaction starts at its first change)."""
        return (self._write if write else self._read)()

    @property
    def writer(self) -> sessionmaker[Session]:
        """Writers' sessions (e.g. for the in-process job runner: its audit appends
        take the same turns as the requests')."""
        return self._write

    def dispose(self) -> None:
        self.engine.dispose()
