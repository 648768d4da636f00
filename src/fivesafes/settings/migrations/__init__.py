"""Alembic migrations of the application state, run from Python by
:func:`fivesafes.settings.migrate` (no ``alembic.ini``)."""
