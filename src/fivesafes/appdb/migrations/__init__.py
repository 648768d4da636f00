"""Alembic migrations of the application state, run from Python by
:func:`fivesafes.appdb.migrate` (no ``alembic.ini``)."""
