"""The application database: users, roles, release requests, jobs and the audit log
in SQLAlchemy, SQLite by default and PostgreSQL by URL, migrated with Alembic."""

from fivesafes.appdb.db import (
    DATABASE_URL_ENV,
    STATE_DIR_ENV,
    database_url,
    engine_for,
    is_migrated,
    migrate,
    session_factory,
    state_dir,
)
from fivesafes.appdb.models import Role
from fivesafes.appdb.users import SYSTEM, add_user, get_user, list_users, set_role

__all__ = [
    "DATABASE_URL_ENV",
    "STATE_DIR_ENV",
    "SYSTEM",
    "Role",
    "add_user",
    "database_url",
    "engine_for",
    "get_user",
    "is_migrated",
    "list_users",
    "migrate",
    "session_factory",
    "set_role",
    "state_dir",
]
