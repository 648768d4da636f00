"""The append-only, tamper-evident audit log of every access and action.

``record(session, actor, action, subject, details)`` appends an entry;
``verify(session)`` walks the hash chain and reports the first edited, deleted,
inserted or reordered entry. Nothing here updates or deletes an entry.
"""

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
    "VerifyResult",
    "canonical_json",
    "count",
    "details_of",
    "entries",
    "entry_hash",
    "head",
    "record",
    "verify",
]
