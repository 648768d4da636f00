"""Alembic environment: migrate on the connection :func:`fivesafes.appdb.migrate`
passes in, or on ``sqlalchemy.url``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from fivesafes.appdb.models import Base


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:  # pragma: no cover - migrate() always sets it
        raise RuntimeError("no database URL for the migration")
    with create_engine(url).connect() as own:
        _run(own)


if context.is_offline_mode():  # pragma: no cover - SQL scripts are not produced
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
