"""The append-only, tamper-evident audit log.

Every entry is ``(seq, at, actor, action, subject, details, prev_hash, hash)``,
where ``hash`` is the SHA-256 of ``prev_hash`` followed by the canonical JSON of
the entry (sorted keys, no spaces) and ``prev_hash`` is the previous entry's hash
(64 zeros for the first). Changing, removing, inserting or reordering any entry
breaks the chain from that entry on, which :func:`verify` reports.

The chain alone cannot show that the newest entries were cut off, or that
someone rewrote the whole chain from some point on: for that, keep the
:func:`head` somewhere else (release bundles carry it in their manifest; a
scheduled job can print it to a write-once store) and pass it to :func:`verify`
as ``anchor``.

``verify(session, since=(seq, hash))`` checks only the entries after one verified
earlier: :mod:`fivesafes.audit.incremental` keeps that one in the database.

This module only ever inserts entries: there is no function to change or remove one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from fivesafes.appdb.db import begin_write
from fivesafes.appdb.models import AuditEntry

GENESIS = "0" * 64
#: PostgreSQL advisory lock taken while appending (held from the append to the end of
#: the appending transaction, and nothing else holds it).
CHAIN_LOCK_KEY = 5_515_001


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: one text for one value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(
    seq: int, at: str, actor: str, action: str, subject: str, details: str, prev_hash: str
) -> str:
    """The hash of an entry: SHA-256 over ``prev_hash`` + the entry's canonical JSON."""
    body = canonical_json(
        {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": json.loads(details),
        }
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def record(
    session: Session,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the log in ``session`` (the caller commits).

    ``actor`` is a user name (or ``system``), ``action`` a dotted verb such as
    ``airlock.submit``, ``subject`` what it was done to (``request:12``).
    """
    # One writer at a time extends the chain, from here to the end of its transaction
    # (which should come soon: the web app's writers wait for nothing else).
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sql_text(f"SELECT pg_advisory_xact_lock({CHAIN_LOCK_KEY})"))
    else:
        begin_write(session)
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last is not None else (1, GENESIS)
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    text = canonical_json(dict(details or {}))
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        details=text,
        prev_hash=prev,
        hash=entry_hash(seq, at, actor, action, subject, text, prev),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify` found: ``ok``, how many entries it read, and if not ok the
    first bad ``seq`` and a sentence saying what is wrong there."""

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None
    #: The entries checked are those after this one (0: the whole chain).
    from_seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "from_seq": self.from_seq,
        }


def verify(
    session: Session,
    anchor: tuple[int, str] | None = None,
    *,
    since: tuple[int, str] | None = None,
) -> VerifyResult:
    """Walk the whole chain and report the first entry that was edited, deleted,
    inserted or moved. ``anchor``, a ``(seq, hash)`` taken earlier by :func:`head`,
    must still be in the chain (this detects cut-off or rewritten history).

    ``since``, a ``(seq, hash)`` verified earlier (see :func:`verify_from_checkpoint`),
    checks only the entries after it, chained on from that hash; the entries up to
    it are taken as they were (an anchor among them is looked up, not verified)."""
    start_seq, prev = since if since is not None else (0, GENESIS)
    expected_seq, count = start_seq + 1, 0
    anchor_seen = anchor is None or anchor == (0, GENESIS) or anchor == since
    if not anchor_seen and anchor is not None and anchor[0] <= start_seq:
        stored = session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == anchor[0]))
        anchor_seen = stored == anchor[1]
    # Plain rows, not ORM objects: a large log verifies several times faster.
    columns = (
        AuditEntry.seq,
        AuditEntry.at,
        AuditEntry.actor,
        AuditEntry.action,
        AuditEntry.subject,
        AuditEntry.details,
        AuditEntry.prev_hash,
        AuditEntry.hash,
    )
    rows = session.execute(
        select(*columns).where(AuditEntry.seq > start_seq).order_by(AuditEntry.seq)
    ).yield_per(5000)

    def bad(seq: int, problem: str) -> VerifyResult:
        return VerifyResult(False, count, expected_seq - 1, prev, seq, problem, start_seq)

    for entry in rows:
        if entry.seq != expected_seq:
            if entry.seq > expected_seq:
                missing = (
                    f"entry {expected_seq} is missing"
                    if entry.seq == expected_seq + 1
                    else f"entries {expected_seq} to {entry.seq - 1} are missing"
                )
                return bad(expected_seq, f"{missing} (the log jumps to {entry.seq})")
            return bad(entry.seq, f"entry {entry.seq} is out of order")  # pragma: no cover
        if entry.prev_hash != prev:
            return bad(
                entry.seq,
                f"entry {entry.seq} does not follow entry {entry.seq - 1} (its prev_hash "
                "differs): an entry before it was removed, inserted or moved",
            )
        try:
            recomputed = entry_hash(
                entry.seq,
                entry.at,
                entry.actor,
                entry.action,
                entry.subject,
                entry.details,
                entry.prev_hash,
            )
        except ValueError:
            recomputed = ""
        if recomputed != entry.hash:
            return bad(entry.seq, f"entry {entry.seq} was changed after it was written")
        if anchor is not None and (entry.seq, entry.hash) == anchor:
            anchor_seen = True
        prev, expected_seq, count = entry.hash, expected_seq + 1, count + 1
    if not anchor_seen:
        assert anchor is not None
        return VerifyResult(
            False,
            count,
            expected_seq - 1,
            prev,
            min(anchor[0], expected_seq),
            f"the anchor (entry {anchor[0]}, hash {anchor[1][:12]}…) is not in the log: "
            "entries were cut off or the chain was rewritten",
            start_seq,
        )
    return VerifyResult(True, count, expected_seq - 1, prev, from_seq=start_seq)


def head(session: Session) -> tuple[int, str]:
    """The newest entry's ``(seq, hash)`` (``(0, GENESIS)`` for an empty log): an
    anchor to keep elsewhere and give to :func:`verify` later."""
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    return (last[0], last[1]) if last is not None else (0, GENESIS)


def entries(
    session: Session,
    subject: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Entries, oldest first, filtered by exact subject, action prefix, or actor."""
    query = select(AuditEntry).order_by(AuditEntry.seq)
    if subject is not None:
        query = query.where(AuditEntry.subject == subject)
    if action is not None:
        query = query.where(AuditEntry.action.startswith(action))
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def details_of(entry: AuditEntry) -> dict[str, Any]:
    """An entry's details as a dict."""
    value = json.loads(entry.details)
    return value if isinstance(value, dict) else {"value": value}
