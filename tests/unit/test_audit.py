"""The audit log: a hash chain that shows any edited, deleted, inserted or
reordered entry. The attacker here edits the SQLite rows directly with SQL."""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from fivesafes import audit
from fivesafes.appdb import migrate, session_factory
from fivesafes.audit import log as audit_log


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audit-template") / "fivesafes.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def session(template_db: Path, tmp_path: Path) -> Iterator[Session]:
    shutil.copy(template_db, tmp_path / "fivesafes.db")
    with session_factory(f"sqlite:///{tmp_path / 'fivesafes.db'}")() as s:
        for i in range(1, 7):
            audit.record(s, f"user{i}", "test.step", f"thing:{i}", {"n": i, "note": "é"})
        s.commit()
        yield s


def attack(session: Session, *statements: str) -> None:
    """Run SQL as someone with write access to the database file, who first drops
    the triggers that keep the log append-only."""
    connection = session.connection()
    connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_update")
    connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_delete")
    for sql in statements:
        connection.exec_driver_sql(sql)
    session.commit()
    session.expire_all()


def test_an_untouched_log_verifies(session: Session) -> None:
    result = audit.verify(session)
    assert result.ok
    assert result.entries == 6
    assert (result.head_seq, result.head_hash) == audit.head(session)
    assert result.to_dict()["first_bad_seq"] is None


def test_each_hash_is_sha256_of_prev_hash_and_canonical_json(session: Session) -> None:
    first, second = audit.entries(session, limit=2)
    assert first.prev_hash == audit.GENESIS
    assert second.prev_hash == first.hash
    body = json.dumps(
        {
            "action": "test.step",
            "actor": "user1",
            "at": first.at,
            "details": {"n": 1, "note": "é"},
            "seq": 1,
            "subject": "thing:1",
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert first.hash == hashlib.sha256((audit.GENESIS + body).encode()).hexdigest()


def test_an_edited_entry_is_found(session: Session) -> None:
    attack(session, 'UPDATE audit_log SET details = \'{"n":30,"note":"é"}\' WHERE seq = 3')
    result = audit.verify(session)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert result.problem == "entry 3 was changed after it was written"
    assert result.entries == 2


@pytest.mark.parametrize("column", ["actor", "action", "subject", "at"])
def test_an_edit_of_any_field_is_found(session: Session, column: str) -> None:
    attack(session, f"UPDATE audit_log SET {column} = {column} || 'x' WHERE seq = 4")
    assert audit.verify(session).first_bad_seq == 4


def test_an_edit_that_also_recomputes_its_own_hash_is_found(session: Session) -> None:
    entry = audit.entries(session)[2]
    details = '{"n":30,"note":"é"}'
    forged = audit.entry_hash(
        3, entry.at, entry.actor, entry.action, entry.subject, details, entry.prev_hash
    )
    attack(session, f"UPDATE audit_log SET details = '{details}', hash = '{forged}' WHERE seq = 3")
    result = audit.verify(session)
    assert result.first_bad_seq == 4  # the next entry no longer follows it
    assert "does not follow entry 3" in (result.problem or "")


def test_a_deleted_entry_is_found(session: Session) -> None:
    attack(session, "DELETE FROM audit_log WHERE seq = 2")
    result = audit.verify(session)
    assert not result.ok
    assert result.first_bad_seq == 2
    assert result.problem == "entry 2 is missing (the log jumps to 3)"


def test_a_deleted_and_renumbered_entry_is_found(session: Session) -> None:
    attack(
        session,
        "DELETE FROM audit_log WHERE seq = 2",
        "UPDATE audit_log SET seq = seq - 1 WHERE seq > 2",
    )
    assert audit.verify(session).first_bad_seq == 2


def test_a_deleted_first_entry_is_found(session: Session) -> None:
    attack(session, "DELETE FROM audit_log WHERE seq = 1")
    assert audit.verify(session).first_bad_seq == 1


def test_a_reordered_pair_is_found(session: Session) -> None:
    attack(
        session,
        "UPDATE audit_log SET seq = -1 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = 4",
        "UPDATE audit_log SET seq = 4 WHERE seq = -1",
    )
    result = audit.verify(session)
    assert result.first_bad_seq == 3
    assert "does not follow entry 2" in (result.problem or "")


def test_an_inserted_entry_is_found(session: Session) -> None:
    attack(
        session,
        "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 4",
        "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 100",
        "INSERT INTO audit_log VALUES (4, '2026-01-01T00:00:00+00:00', 'mallory', "
        "'airlock.approve', 'request:1', '{}', '" + "0" * 64 + "', '" + "f" * 64 + "')",
    )
    assert audit.verify(session).first_bad_seq == 4


def test_a_cut_off_tail_or_rewritten_chain_is_found_with_an_anchor(session: Session) -> None:
    anchor = audit.head(session)
    assert audit.verify(session, anchor=anchor).ok
    attack(session, "DELETE FROM audit_log WHERE seq = 6")
    assert audit.verify(session).ok  # the chain alone cannot tell
    result = audit.verify(session, anchor=anchor)
    assert not result.ok
    assert "entries were cut off or the chain was rewritten" in (result.problem or "")


def test_garbage_details_are_reported_not_raised(session: Session) -> None:
    attack(session, "UPDATE audit_log SET details = 'not json' WHERE seq = 5")
    assert audit.verify(session).first_bad_seq == 5


def test_the_database_refuses_updates_and_deletes_of_the_log(session: Session) -> None:
    for sql in ("UPDATE audit_log SET actor = 'x' WHERE seq = 1", "DELETE FROM audit_log"):
        with pytest.raises(DatabaseError, match="append-only"):
            session.execute(text(sql))
        session.rollback()
    assert audit.verify(session).entries == 6


def test_the_module_has_no_way_to_change_or_remove_an_entry() -> None:
    source = inspect.getsource(audit_log)
    for word in (".delete(", "update(", "DELETE", "UPDATE", "merge("):
        assert word not in source


def test_an_empty_log_verifies(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    migrate(url)
    with session_factory(url)() as s:
        assert audit.head(s) == (0, audit.GENESIS)
        assert audit.verify(s, anchor=audit.head(s)).ok
        assert audit.count(s) == 0


def test_verifying_since_a_checkpoint_reads_only_the_entries_after_it(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fivesafes.audit import incremental as audit_incremental

    monkeypatch.setattr(audit_incremental, "FULL_BELOW", 0)
    assert audit.checkpoint(session) is None
    whole, mark = audit.verify_from_checkpoint(session)
    assert whole.ok and whole.entries == 6 and mark is None
    assert audit.advance_checkpoint(session, whole)
    session.commit()
    assert not audit.advance_checkpoint(session, whole)  # never moved back or to the same
    kept = audit.checkpoint(session)
    assert kept is not None and (kept.seq, kept.hash) == audit.head(session)
    audit.record(session, "user7", "test.step", "thing:7")
    session.commit()
    since, mark = audit.verify_from_checkpoint(session)
    assert since.ok and since.entries == 1 and since.from_seq == 6 and mark == kept
    # An anchor before the checkpoint is looked up rather than walked to.
    anchor = (3, session.execute(text("SELECT hash FROM audit_log WHERE seq = 3")).scalar_one())
    assert audit.verify(session, anchor, since=(kept.seq, kept.hash)).ok
    assert not audit.verify(session, (3, "0" * 64), since=(kept.seq, kept.hash)).ok
    # A checkpoint whose hash is not the entry's: the whole chain, with it as anchor.
    attack(session, "UPDATE audit_checkpoint SET hash = 'f' || substr(hash, 2)")
    result, mark = audit.verify_from_checkpoint(session)
    assert mark is None and not result.ok and "rewritten" in (result.problem or "")
    # A failed verification does not move the checkpoint.
    assert not audit.advance_checkpoint(session, result)
