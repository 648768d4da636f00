"""Where the application state lives: SQLite by default, PostgreSQL by URL.

The database is chosen by a URL: the one given, else ``$FIVESAFES_DATABASE_URL``,
else ``sqlite:///<state dir>/fivesafes.db`` where the state dir is
``$FIVESAFES_STATE_DIR`` or ``~/.fivesafes``. A PostgreSQL URL
(``postgresql+psycopg://user@host/db``) works the same. The schema is made and
upgraded only by :func:`migrate` (Alembic, run from Python: no ``alembic.ini``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.errors import FivesafesError

STATE_DIR_ENV = "FIVESAFES_STATE_DIR"
DATABASE_URL_ENV = "FIVESAFES_DATABASE_URL"
MIGRATIONS = Path(__file__).parent / "migrations"


def state_dir() -> Path:
    """The folder of the application state: ``$FIVESAFES_STATE_DIR`` or ``~/.fivesafes``."""
    return Path(os.environ.get(STATE_DIR_ENV) or Path.home() / ".fivesafes")


def database_url(url: str | None = None) -> str:
    """The database URL in force: ``url``, else ``$FIVESAFES_DATABASE_URL``, else the
    SQLite file ``fivesafes.db`` in the state dir."""
    if url:
        return url
    if os.environ.get(DATABASE_URL_ENV):
        return os.environ[DATABASE_URL_ENV]
    return f"sqlite:///{state_dir() / 'fivesafes.db'}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def engine_for(url: str | None = None, **options: Any) -> Engine:
    """An engine on the application database (see :func:`database_url`).

    For a SQLite file, its folder is created and foreign keys are enforced.
    ``options`` go to SQLAlchemy's ``create_engine`` (e.g. the pool's size).
    """
    text = database_url(url)
    try:
        parsed = make_url(text)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise FivesafesError(
            f"{text!r} is not a database URL; give one like sqlite:///state/fivesafes.db "
            "or postgresql+psycopg://user@host/fivesafes"
        ) from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed, **options)
    except (ImportError, NoSuchModuleError):
        raise FivesafesError(
            f"the database driver {parsed.drivername} is not installed; "
            "for PostgreSQL, pip install 'psycopg[binary]' and use a postgresql+psycopg:// URL"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def begin_write(session: Session) -> None:
    """Make sure ``session``'s transaction holds the database's write lock from here to
    its end, so that what it reads next is what it changes (e.g. the audit log's last
    entry before appending the next).

    On SQLite, a transaction that has not written yet becomes ``BEGIN IMMEDIATE``
    (one writer at a time, the others wait in the busy timeout); one that has
    written already holds the lock. On PostgreSQL this does nothing: take the lock
    the change needs (an advisory lock, ``SELECT ... FOR UPDATE``)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    dbapi = connection.connection.dbapi_connection
    if dbapi is not None and not dbapi.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def insert_if_absent(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``model``'s table, skipping any whose key is there already
    (``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL): two processes
    inserting the same row at the same moment both succeed, and one row is kept."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(model).values(rows).on_conflict_do_nothing())
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(model).values(rows).on_conflict_do_nothing())
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise FivesafesError(f"the database {dialect} is not supported; use SQLite or PostgreSQL")


def session_factory(url: str | Engine | None = None) -> sessionmaker[Session]:
    """Sessions on the application database: ``with session_factory(url)() as s: ...``."""
    engine = url if isinstance(url, Engine) else engine_for(url)
    return sessionmaker(engine, expire_on_commit=False)


def migrate(url: str | Engine | None = None, revision: str = "heads") -> str | None:
    """Create or upgrade the schema to ``revision`` (Alembic ``upgrade``); returns the
    revision the database is at afterwards (the heads, sorted and joined by commas, when
    the migrations branch). Safe to run again."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    engine = url if isinstance(url, Engine) else engine_for(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) if heads else None


def is_migrated(engine: Engine) -> bool:
    """Whether the schema exists (the audit log table is the last one made)."""
    return inspect(engine).has_table("audit_log")
