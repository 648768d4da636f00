"""The audit chain's checkpoint: the newest entry a verification found intact.

A verification that found the chain intact can be kept as the checkpoint
(:func:`advance_checkpoint`, table ``audit_checkpoint``); :func:`verify_from_checkpoint`
then reads only the entries after it (the audit page stays fast however long the
log grows), after two cheap checks that the checkpoint still holds: its entry is
unchanged and no entry up to it is missing. An entry before the checkpoint edited
in place passes those checks: only a full :func:`fivesafes.audit.verify`
(``fivesafes audit verify``, or the audit page's "check the whole chain") finds it.
The checkpoint is a speed-up, not a guarantee: whoever can write to the database
can move it too. Nothing here touches an entry of the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from fivesafes.appdb.db import insert_if_absent
from fivesafes.appdb.models import AuditCheckpoint, AuditEntry, as_utc
from fivesafes.audit.log import GENESIS, VerifyResult, verify

#: While the checkpoint has fewer entries than this up to it, re-reading them costs
#: little (about a tenth of a second): the whole chain is verified every time, and
#: an entry edited anywhere is found at once. Past it, only the entries after it.
FULL_BELOW = 5_000


@dataclass(frozen=True)
class Checkpoint:
    """The newest entry a verification found intact, and when."""

    seq: int
    hash: str
    verified_at: datetime


def checkpoint(session: Session) -> Checkpoint | None:
    """The stored checkpoint (see :func:`advance_checkpoint`), or None."""
    row = session.get(AuditCheckpoint, 1)
    if row is None or row.seq <= 0:
        return None
    return Checkpoint(row.seq, row.hash, as_utc(row.verified_at))


def verify_from_checkpoint(
    session: Session, *, full: bool = False
) -> tuple[VerifyResult, Checkpoint | None]:
    """Verify the entries after the stored checkpoint, chained on from its hash (the
    whole chain when there is none, while it has fewer than :data:`FULL_BELOW`
    entries up to it, or with ``full``); returns the verdict and the checkpoint it
    started from (None: it read the whole chain).

    The checkpoint is trusted only while its entry still has the hash verified and
    the log still holds exactly its ``seq`` entries up to it (a deleted entry
    shows); otherwise, and with ``full``, the whole chain is verified with the
    checkpoint as its anchor, which reports where it was cut or rewritten."""
    mark = checkpoint(session)
    if mark is None:
        return verify(session), None
    if not full and mark.seq >= FULL_BELOW:
        stored = session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == mark.seq))
        up_to = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.seq <= mark.seq)
        )
        if stored == mark.hash and up_to == mark.seq:
            return verify(session, since=(mark.seq, mark.hash)), mark
    return verify(session, anchor=(mark.seq, mark.hash)), None


def advance_checkpoint(session: Session, result: VerifyResult) -> bool:
    """Keep ``result``'s head as the checkpoint if it found the chain intact and is
    newer than the one stored (the caller commits); whether it moved. Two
    verifications finishing together keep the newer head."""
    if not result.ok or result.head_seq <= 0:
        return False
    insert_if_absent(
        session,
        AuditCheckpoint,
        [{"id": 1, "seq": 0, "hash": GENESIS, "verified_at": datetime.now(UTC)}],
    )
    moved = session.execute(
        update(AuditCheckpoint)
        .where(AuditCheckpoint.id == 1, AuditCheckpoint.seq < result.head_seq)
        .values(seq=result.head_seq, hash=result.head_hash, verified_at=datetime.now(UTC))
    )
    return bool(getattr(moved, "rowcount", 0))
