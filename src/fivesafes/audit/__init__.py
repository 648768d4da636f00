"""The append-only, tamper-evident audit log of every access and action.

``record(session, actor, action, subject, details)`` appends an entry;
``verify(session)`` walks the hash chain and reports the first edited, deleted,
inserted or reordered entry; ``verify_from_checkpoint(session)`` checks only the
entries after the last verified one (``advance_checkpoint`` keeps it). Nothing
here updates or deletes an entry.
"""

from fivesafes.audit.incremental import (
    Checkpoint,
    advance_checkpoint,
    checkpoint,
    verify_from_checkpoint,
)
from fivesafes.audit.log import (
    GENESIS,
    VerifyResult,
    canonical_json,
    count,
    details_of,
    entries,
    entry_hash,
    head,
    record,
    verify,
)

__all__ = [
    "GENESIS",
    "Checkpoint",
    "VerifyResult",
    "advance_checkpoint",
    "canonical_json",
    "checkpoint",
    "count",
    "details_of",
    "entries",
    "entry_hash",
    "head",
    "record",
    "verify",
    "verify_from_checkpoint",
]
