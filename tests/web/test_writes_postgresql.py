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
