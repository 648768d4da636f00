"""Places held under concurrency: what course enrolment and workgroup sessions share.

A course (:mod:`fivesafes.people.learning`) and a workgroup's live session
(:mod:`fivesafes.people.workgroups.live`) both keep ``capacity`` (None: no limit) and
``enrolled_count`` columns. :func:`take_place` takes one place with a single
conditional ``UPDATE ... SET enrolled_count = enrolled_count + 1 WHERE
enrolled_count < capacity``, whose ``WHERE`` the database re-checks under the row's
write lock, so that concurrent enrolments never exceed the capacity on SQLite or
PostgreSQL. :func:`add_once` adds a row a unique constraint guards (an enrolment, a
membership): when the same person's request arrives twice at the same moment, the
second gets the row the first added instead of an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, CursorResult, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

Row = TypeVar("Row")


def take_place(db: Session, model: Any, row_id: int, *only_if: ColumnElement[bool]) -> bool:
    """Take one place of row ``row_id`` of ``model`` (a mapped class with ``id``,
    ``capacity`` and ``enrolled_count``) atomically, if it has one left and every
    condition of ``only_if`` holds; no commit. False when nothing was taken."""
    taken: CursorResult[Any] = db.execute(  # type: ignore[assignment]
        update(model)
        .where(model.id == row_id, *only_if)
        .where((model.capacity.is_(None)) | (model.enrolled_count < model.capacity))
        .values(enrolled_count=model.enrolled_count + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(taken.rowcount == 1)


def add_once(db: Session, row: Row, find: Callable[[], Row | None]) -> tuple[Row, bool]:
    """Add ``row`` and flush; ``(row, True)``. If its unique constraint shows the
    same row was added at the same moment by another request, roll back (undoing
    anything else this transaction did, such as a place taken) and return that one:
    ``(found, False)``."""
    db.add(row)
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        again = find()
        if again is None:  # pragma: no cover - the constraint fired for another reason
            raise
        return again, False
    return row, True
