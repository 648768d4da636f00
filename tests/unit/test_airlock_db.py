"""The application database: the Alembic migration on a fresh SQLite file, the
default location, and (only where a server is reachable) PostgreSQL."""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError

import fivesafes
from fivesafes import audit
from fivesafes.appdb import (
    add_user,
    database_url,
    engine_for,
    get_user,
    is_migrated,
    list_users,
    migrate,
    session_factory,
    set_role,
)
from fivesafes.appdb.db import MIGRATIONS
from fivesafes.appdb.models import Base
from fivesafes.appdb.pgcluster import reachable
from fivesafes.errors import FivesafesError
from fivesafes.outputs import airlock


def import_every_model_module() -> list[str]:
    """Import every ``fivesafes.<package>.models`` module (each engineer keeps their
    tables in their own), so that ``Base.metadata`` holds every table."""
    names = []
    for info in pkgutil.walk_packages(fivesafes.__path__, "fivesafes."):
        if info.name.rsplit(".", 1)[-1] == "models":
            importlib.import_module(info.name)
            names.append(info.name)
    return names


def migration_heads() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ",".join(sorted(ScriptDirectory.from_config(config).get_heads()))


def test_the_migration_builds_a_fresh_sqlite_file(tmp_path: Path) -> None:
    assert "fivesafes.appdb.models" in import_every_model_module()
    url = f"sqlite:///{tmp_path / 'state' / 'fivesafes.db'}"
    heads = migration_heads()
    assert "0002" in heads.split(",") or any(h.startswith("0003") for h in heads.split(","))
    assert migrate(url) == heads
    assert migrate(url) == heads  # running it again changes nothing
    engine = engine_for(url)
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    assert is_migrated(engine)
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diffs == []  # the models and the migrations agree


def test_users_of_the_first_schema_keep_their_role_as_a_row_of_user_roles(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    assert migrate(url, "0001") == "0001"
    engine = engine_for(url)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO users (name, role, created_at) "
                "VALUES ('ann', 'output_checker', '2026-01-01 00:00:00')"
            )
        )
    migrate(url)
    with session_factory(url)() as s:
        ann = get_user(s, "ann")
        assert ann.roles == {"output_checker"}
        assert [r.role for r in ann.role_rows] == ["output_checker"]
        assert ann.email is None and ann.is_active and ann.display_name == ""
    engine.dispose()


def test_the_default_database_is_in_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FIVESAFES_DATABASE_URL", raising=False)
    monkeypatch.setenv("FIVESAFES_STATE_DIR", str(tmp_path / "home"))
    assert database_url() == f"sqlite:///{tmp_path / 'home' / 'fivesafes.db'}"
    migrate()
    assert (tmp_path / "home" / "fivesafes.db").is_file()
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", "sqlite:///elsewhere.db")
    assert database_url() == "sqlite:///elsewhere.db"
    assert database_url("sqlite:///given.db") == "sqlite:///given.db"


def test_a_bad_url_says_what_a_good_one_looks_like() -> None:
    with pytest.raises(FivesafesError, match="is not a database URL"):
        engine_for("not a url")


def test_a_missing_driver_says_what_to_install() -> None:
    for url in ("postgresql+nosuchdriver://u@h/db", "postgresql+pg8000://u@h/db"):
        with pytest.raises(FivesafesError, match="is not installed"):
            engine_for(url)


def _postgres_url() -> str | None:
    return reachable(os.environ.get("FIVESAFES_TEST_POSTGRES_URL"))


@pytest.mark.skipif(
    _postgres_url() is None,
    reason="no PostgreSQL server reachable at $FIVESAFES_TEST_POSTGRES_URL",
)
def test_the_same_journey_on_postgresql(tmp_path: Path) -> None:
    url = _postgres_url()
    assert url is not None
    engine = engine_for(url)
    with engine.begin() as c:  # a clean schema for this test
        c.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    assert migrate(engine) == migration_heads()
    out = tmp_path / "t.csv"
    out.write_text("a,b\n1,2\n")
    with session_factory(engine)() as s:
        for name, role in [("ann", "researcher"), ("carol", "checker"), ("dave", "checker")]:
            add_user(s, name, role.replace("checker", "output_checker"))
        req = airlock.create_request(s, "ann", "p", "t")
        airlock.add_output(s, req.id, "ann", "t.csv", out, "d", {"verdict": "pass"})
        airlock.submit(s, req.id, "ann")
        airlock.record_automatic_check(s, req.id)
        airlock.start_review(s, req.id, "carol")
        airlock.review(s, req.id, "t.csv", "carol", "approve")
        airlock.review(s, req.id, "t.csv", "dave", "approve")
        bundle = airlock.release(s, req.id, "carol", tmp_path / "bundles")
        assert (bundle / "outputs" / "t.csv").read_text() == "a,b\n1,2\n"
        assert audit.verify(s).ok
        with pytest.raises(DatabaseError, match="append-only"):
            s.execute(text("UPDATE audit_log SET actor = 'x'"))
        s.rollback()
    engine.dispose()


def test_users_have_one_known_role_and_changes_are_logged(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fivesafes.db'}"
    migrate(url)
    with session_factory(url)() as s:
        add_user(s, "ann", "researcher", actor="adam")
        with pytest.raises(FivesafesError, match="unknown role 'checker'; choose one of"):
            add_user(s, "bob", "checker")
        with pytest.raises(FivesafesError, match="a user called 'ann' already exists"):
            add_user(s, "ann", "researcher")
        with pytest.raises(FivesafesError, match="cannot be a user name"):
            add_user(s, "system", "administrator")
        set_role(s, "ann", "output_checker", actor="adam")
        with pytest.raises(FivesafesError, match="no user called 'zed'"):
            get_user(s, "zed")
        assert [(u.name, u.role) for u in list_users(s)] == [("ann", "output_checker")]
        assert [(e.actor, e.action) for e in audit.entries(s)] == [
            ("adam", "user.add"),
            ("adam", "user.set_role"),
        ]
