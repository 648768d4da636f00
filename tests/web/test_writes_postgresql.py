"""Writers on PostgreSQL (issue 14): no lock for the whole request, the audit
chain's advisory lock only from its append to commit. Two engines stand for two
server processes; each writes from several threads at once."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from fivesafes import audit
from fivesafes.appdb import migrate
from fivesafes.appdb.db import engine_for
from fivesafes.appdb.models import AuditEntry
from fivesafes.appdb.pgcluster import reachable
from fivesafes.web.db import Database


def _postgres_url() -> str | None:
    return reachable(os.environ.get("FIVESAFES_TEST_POSTGRES_URL"))


pytestmark = pytest.mark.skipif(
    _postgres_url() is None,
    reason="no PostgreSQL server reachable at $FIVESAFES_TEST_POSTGRES_URL",
)


@pytest.fixture
def url() -> str:
    found = _postgres_url()
    assert found is not None
    engine = engine_for(found)
    with engine.begin() as c:
        c.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()
    migrate(found)
    return found


def test_two_processes_writers_keep_the_chain_one_line(url: str) -> None:
    processes = [Database(url), Database(url)]

    def write(n: int) -> None:
        with processes[n % 2].session(write=True) as session:
            audit.record(session, "system", "test.many", f"test:{n}")
            session.commit()

    try:
        with ThreadPoolExecutor(max_workers=12) as pool:
            list(pool.map(write, range(60)))
        with processes[0].session() as reader:
            assert len(audit.entries(reader, action="test.many")) == 60
            assert audit.verify(reader).ok
    finally:
        for database in processes:
            database.dispose()


def test_a_writer_waits_only_for_another_writers_append(url: str) -> None:
    database = Database(url)
    try:
        first = database.session(write=True)
        first.execute(select(AuditEntry.seq).limit(1)).all()  # reads only

        def write(tag: str) -> None:
            with database.session(write=True) as other:
                audit.record(other, "system", "test.write", f"test:{tag}")
                other.commit()

        meanwhile = threading.Thread(target=write, args=("meanwhile",))
        meanwhile.start()
        meanwhile.join(timeout=30)
        assert not meanwhile.is_alive()  # not held up by a writer that only read
        audit.record(first, "system", "test.write", "test:first")
        waiting = threading.Thread(target=write, args=("after",))
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive()  # the chain's lock, until the first commits
        first.commit()
        first.close()
        waiting.join(timeout=30)
        assert not waiting.is_alive()
        with database.session() as reader:
            order = [e.subject for e in audit.entries(reader, action="test.write")]
            assert order == ["test:meanwhile", "test:first", "test:after"]
            assert audit.verify(reader).ok
    finally:
        database.dispose()


def test_failed_log_ins_from_two_processes_at_once_are_all_counted(url: str) -> None:
    """Failures of one pair from two processes at the same moment: the row is made
    once (insert if absent) and each failure counted (the row is locked to update)."""
    from fivesafes.appdb.models import LoginThrottle
    from fivesafes.web import throttle

    processes = [Database(url), Database(url)]
    start = threading.Barrier(8)

    def fail(n: int) -> list[throttle.Lock]:
        with processes[n % 2].session(write=True) as session:
            start.wait()
            locks = throttle.record_failure(session, "user:someone", "192.0.2.1")
            session.commit()
            return locks

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            started = [lock for locks in pool.map(fail, range(8)) for lock in locks]
        with processes[0].session() as reader:
            pair = reader.get(LoginThrottle, ("pair", "user:someone", "192.0.2.1"))
            client = reader.get(LoginThrottle, ("client", "", "192.0.2.1"))
            assert pair is not None and client is not None
            # Five failures lock the pair; the three after it are counted as refused.
            assert (pair.failures, pair.refused) == (throttle.LOCK_AFTER, 8 - throttle.LOCK_AFTER)
            assert client.failures == 8
            assert [lock.scope for lock in started] == ["pair"]
    finally:
        for database in processes:
            database.dispose()


def test_processes_starting_together_on_postgresql_share_one_secret(url: str) -> None:
    from fivesafes.web.app import stored_secret

    start = threading.Barrier(6)

    def boot(_n: int) -> bytes:
        database = Database(url)
        try:
            start.wait()
            return stored_secret(database, "csrf")
        finally:
            database.dispose()

    with ThreadPoolExecutor(max_workers=6) as pool:
        found = list(pool.map(boot, range(6)))
    assert len(set(found)) == 1 and len(found[0]) == 32
