"""Providers, their members and submissions: submit, explain, accept; who sees what.

A provider's member (a user with the role ``data_owner`` added to the provider)
submits a return for a collection and year. The file is read and every rule run
before anything is kept; then the file, its issues and its reports are stored
under ``<collections dir>/submissions/<id>/`` and the submission recorded. A
submission with errors is ``rejected``; one with warnings ``needs_explanation``
until every warning is explained (per row or per rule); then it is ``ready`` and
may be accepted. Accepting stores it split (identifiers apart from content, in
``<collections dir>/store``, with the ingest machinery of :mod:`fivesafes.data`)
and puts its content in ``<collections dir>/accepted.duckdb`` (see
docs/collections.md), replacing the provider's earlier accepted return for the
same year. Every function takes the acting user's name and checks, in the
library, that the user may see the submission: a provider sees only its own.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.appdb.models import Role, User
from fivesafes.appdb.users import SYSTEM, get_user
from fivesafes.collections.checking import ISSUES_FILE, CheckedReturn, check_return
from fivesafes.collections.models import Explanation, Provider, ProviderMember, Submission
from fivesafes.collections.reader import read_return
from fivesafes.collections.report import write_html_report, write_reports
from fivesafes.collections.rules import Summary
from fivesafes.collections.spec import CollectionSpec, load_spec
from fivesafes.errors import FivesafesError, PolicyRefusal

COLLECTIONS_DIR_ENV = "FIVESAFES_COLLECTIONS_DIR"
ACCEPTED_DB = "accepted.duckdb"
OPEN = ("needs_explanation", "ready")
#: Key of the comparison notes kept beside the counts in ``Submission.summary``.
NOTES_KEY = "_notes"


def collections_dir(directory: Path | None = None) -> Path:
    """The collections folder: ``directory``, else ``$FIVESAFES_COLLECTIONS_DIR``,
    else ``<state dir>/collections``."""
    if directory is not None:
        return directory
    if os.environ.get(COLLECTIONS_DIR_ENV):
        return Path(os.environ[COLLECTIONS_DIR_ENV])
    from fivesafes.appdb import state_dir

    return state_dir() / "collections"


def accepted_path(directory: Path | None = None) -> Path:
    """The DuckDB file of accepted records (one table per collection)."""
    return collections_dir(directory) / ACCEPTED_DB


def store_path(directory: Path | None = None) -> Path:
    return collections_dir(directory) / "store"


def submission_dir(directory: Path | None, submission_id: int) -> Path:
    return collections_dir(directory) / "submissions" / str(submission_id)


# --- who may do what --------------------------------------------------------------


def _roles(user: User) -> set[str]:
    held = getattr(user, "roles", None)
    return set(held) if held else {user.role}


def is_admin(user: User) -> bool:
    return Role.ADMINISTRATOR.value in _roles(user)


def providers_of(session: Session, user: User) -> list[Provider]:
    """The providers the user submits for (a member with the data_owner role)."""
    if Role.DATA_OWNER.value not in _roles(user):
        return []
    return list(
        session.scalars(
            select(Provider)
            .join(ProviderMember)
            .where(ProviderMember.user_id == user.id)
            .order_by(Provider.code)
        )
    )


def _require_admin(user: User, what: str) -> None:
    if not is_admin(user):
        raise PolicyRefusal(f"only an administrator can {what}; {user.name} is not one")


def _audit(session: Session, actor: str, action: str, subject: str, details: Any) -> None:
    from fivesafes.audit import record

    record(session, actor, action, subject, details)


def add_provider(session: Session, code: str, name: str, actor: str = SYSTEM) -> Provider:
    """Register a provider (administrators only, or the system)."""
    if actor != SYSTEM:
        _require_admin(get_user(session, actor), "add a provider")
    code = code.strip()
    if not code or any(ch.isspace() for ch in code):
        raise FivesafesError(f"{code!r} cannot be a provider code; use letters and digits")
    if session.scalar(select(Provider).where(Provider.code == code)) is not None:
        raise FivesafesError(f"a provider with code {code} already exists")
    provider = Provider(code=code, name=name.strip() or code)
    session.add(provider)
    session.flush()
    _audit(session, actor, "collections.provider.add", f"provider:{code}", {"name": name})
    session.commit()
    return provider


def get_provider(session: Session, code: str) -> Provider:
    provider = session.scalar(select(Provider).where(Provider.code == code))
    if provider is None:
        raise FivesafesError(
            f"no provider with code {code!r}; add it with `fivesafes collections providers add`"
        )
    return provider


def list_providers(session: Session) -> list[Provider]:
    return list(session.scalars(select(Provider).order_by(Provider.code)))


def add_member(
    session: Session, provider_code: str, user_name: str, actor: str = SYSTEM
) -> ProviderMember:
    """Make a user (who must hold the data_owner role) a member of a provider."""
    if actor != SYSTEM:
        _require_admin(get_user(session, actor), "add a provider's member")
    provider = get_provider(session, provider_code)
    user = get_user(session, user_name)
    if Role.DATA_OWNER.value not in _roles(user):
        raise FivesafesError(
            f"{user_name} does not hold the data_owner role; only data owners submit returns"
        )
    if any(m.user_id == user.id for m in provider.members):
        raise FivesafesError(f"{user_name} is already a member of {provider_code}")
    member = ProviderMember(provider=provider, user=user)
    session.add(member)
    session.flush()
    _audit(
        session,
        actor,
        "collections.provider.member",
        f"provider:{provider_code}",
        {"user": user_name},
    )
    session.commit()
    return member


def _visible(session: Session, user: User) -> Any:
    """A query of the submissions the user may see."""
    query = select(Submission)
    if not is_admin(user):
        ids = [p.id for p in providers_of(session, user)]
        query = query.where(Submission.provider_id.in_(ids))
    return query


def get_submission(session: Session, actor: str, submission_id: int) -> Submission:
    """A submission the actor may see; any other (or none) is the same refusal, so
    that a provider cannot learn whether another's submission exists."""
    user = get_user(session, actor)
    found = session.scalar(_visible(session, user).where(Submission.id == submission_id))
    if found is None:
        raise PolicyRefusal(f"no submission {submission_id} among those {actor} may see")
    return found  # type: ignore[no-any-return]


def list_submissions(
    session: Session,
    actor: str,
    collection: str | None = None,
    year: int | None = None,
    status: str | None = None,
) -> list[Submission]:
    """The submissions the actor may see, newest first."""
    user = get_user(session, actor)
    query = _visible(session, user)
    if collection is not None:
        query = query.where(Submission.collection == collection)
    if year is not None:
        query = query.where(Submission.collection_year == year)
    if status is not None:
        query = query.where(Submission.status == status)
    return list(session.scalars(query.order_by(Submission.id.desc())))


# --- submit ---------------------------------------------------------------------------


@dataclass
class SubmitResult:
    submission: Submission
    seconds: float
    report_html: Path
    report_csv: Path
    comparison: dict[str, str]


def _choose_provider(session: Session, user: User, code: str | None) -> Provider:
    mine = providers_of(session, user)
    if code is not None:
        for p in mine:
            if p.code == code:
                return p
        raise PolicyRefusal(f"{user.name} does not submit for provider {code}")
    if not mine:
        raise PolicyRefusal(
            f"{user.name} is not a member of any provider (a data owner added with "
            "`fivesafes collections providers add-member`), so cannot submit"
        )
    if len(mine) > 1:
        raise FivesafesError(
            f"{user.name} submits for {', '.join(p.code for p in mine)}; say which with --provider"
        )
    return mine[0]


def previous_summary(
    session: Session, collection: str, provider_id: int, year: int
) -> Summary | None:
    """The comparison counts of the provider's latest accepted return for an earlier year."""
    prev = session.scalar(
        select(Submission)
        .where(
            Submission.collection == collection,
            Submission.provider_id == provider_id,
            Submission.collection_year < year,
            Submission.status == "accepted",
        )
        .order_by(Submission.collection_year.desc(), Submission.id.desc())
        .limit(1)
    )
    if prev is None:
        return None
    return {k: v for k, v in prev.summary.items() if k != NOTES_KEY}


#: Runs :func:`~fivesafes.collections.checking.check_return` (in this process
#: unless the caller says otherwise: the web app gives a worker process's).
CheckRunner = Callable[..., CheckedReturn]


def submit(
    session: Session,
    actor: str,
    collection: str,
    year: int,
    file: Path,
    *,
    provider: str | None = None,
    directory: Path | None = None,
    spec: CollectionSpec | None = None,
    progress: Callable[[str, float], None] | None = None,
    run_check: CheckRunner | None = None,
) -> SubmitResult:
    """Validate a provider's return and record it, with its report.

    The return is checked (:func:`~fivesafes.collections.checking.check_return`,
    through ``run_check`` where given) before anything is changed: on SQLite the
    first change takes the database's one writer's lock until the commit, and the
    site's other writes would otherwise wait for the check. A file that cannot be
    read as the collection's CSV raises an :class:`~fivesafes.errors.InputError`
    and leaves nothing behind."""
    import time

    t0 = time.perf_counter()
    report = progress or (lambda stage, fraction: None)
    user = get_user(session, actor)
    chosen = _choose_provider(session, user, provider)
    spec = spec or load_spec(collection)
    if spec.name != collection:
        raise FivesafesError(f"the rule file is for {spec.name}, not {collection}")
    spec.check_period(year)
    if not file.is_file():
        raise FivesafesError(f"{file} is not a file; give the return to submit")
    root = collections_dir(directory)
    staging = root / "submissions" / f".staging-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        prev = previous_summary(session, spec.name, chosen.id, year)
        report("checking", 0.05)
        checked = (run_check or check_return)(spec, chosen.code, year, file, staging, prev)
        validation = checked.validation
        report("recording", 0.9)
        status = (
            "rejected"
            if validation.errors
            else "needs_explanation"
            if validation.warnings
            else "ready"
        )
        earlier = list(
            session.scalars(
                select(Submission).where(
                    Submission.collection == spec.name,
                    Submission.provider_id == chosen.id,
                    Submission.collection_year == year,
                )
            )
        )
        sub = Submission(
            collection=spec.name,
            collection_year=year,
            provider=chosen,
            submitted_by=user,
            file_name=file.name,
            sha256=checked.sha256,
            spec_sha256=spec.sha256,
            rows=validation.rows,
            errors=validation.errors,
            warnings=validation.warnings,
            issue_counts=validation.counts,
            summary={**validation.summary, NOTES_KEY: validation.comparison},
            status=status,
            supersedes_id=max((e.id for e in earlier), default=None),
        )
        session.add(sub)
        session.flush()
        for e in earlier:
            if e.status in OPEN:
                e.status = "superseded"
                e.decided_at = datetime.now(UTC)
        _audit(
            session,
            actor,
            "collections.submit",
            f"submission:{sub.id}",
            {
                "collection": spec.name,
                "year": year,
                "provider": chosen.code,
                "file": file.name,
                "sha256": checked.sha256,
                "rows": validation.rows,
                "errors": validation.errors,
                "warnings": validation.warnings,
                "status": status,
            },
        )
        html = write_html_report(staging, spec, sub, chosen, checked.listing, validation.comparison)
        final = submission_dir(directory, sub.id)
        if final.exists():  # left by a crash after the rename and before the commit
            shutil.rmtree(final)
        staging.rename(final)
        try:
            session.commit()
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
    except BaseException:
        session.rollback()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SubmitResult(
        submission=sub,
        seconds=time.perf_counter() - t0,
        report_html=final / html.name,
        report_csv=final / checked.listing.csv.name,
        comparison=validation.comparison,
    )


# --- explain ---------------------------------------------------------------------------


@contextmanager
def _issues(directory: Path | None, sub: Submission) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    try:
        path = submission_dir(directory, sub.id) / ISSUES_FILE
        if not path.exists():
            raise FivesafesError(
                f"the issues of submission {sub.id} are missing from {path.parent}; "
                "is --dir the collections folder it was submitted to?"
            )
        con.execute(f"CREATE VIEW issues AS SELECT * FROM read_parquet('{path}')")
        yield con
    finally:
        con.close()


def _explanations_table(sub: Submission) -> pa.Table:
    return pa.table(
        {
            "rule": pa.array([e.rule_id for e in sub.explanations], pa.string()),
            "row": pa.array([e.row for e in sub.explanations], pa.int64()),
            "text": pa.array([e.text for e in sub.explanations], pa.string()),
        }
    )


def outstanding(
    session: Session, actor: str, submission_id: int, directory: Path | None = None
) -> list[tuple[str, int | None]]:
    """The warnings of a submission not yet explained: (rule id, row) pairs (row
    None for a warning about the whole return)."""
    sub = get_submission(session, actor, submission_id)
    return _outstanding(sub, directory)


def _outstanding(sub: Submission, directory: Path | None) -> list[tuple[str, int | None]]:
    if sub.warnings == 0:
        return []
    with _issues(directory, sub) as con:
        con.register("expl", _explanations_table(sub))
        rows = con.execute(
            "SELECT i.rule, i.row FROM issues i WHERE i.severity = 'warning' AND NOT EXISTS "
            "(SELECT 1 FROM expl e WHERE e.rule = i.rule AND (e.row IS NULL OR e.row = i.row)) "
            "ORDER BY i.rule, i.row"
        ).fetchall()
    return [(str(r), None if n is None else int(n)) for r, n in rows]


#: The longest explanation of a rule's warnings (characters): a paragraph or two.
MAX_EXPLANATION = 2000


def explain(
    session: Session,
    actor: str,
    submission_id: int,
    rule_id: str,
    text: str,
    rows: list[int] | None = None,
    directory: Path | None = None,
) -> Submission:
    """Record the provider's explanation of a rule's warnings: of the given rows, or
    (no rows) of every warning of that rule in the submission."""
    sub = get_submission(session, actor, submission_id)
    user = get_user(session, actor)
    if sub.provider_id not in {p.id for p in providers_of(session, user)}:
        raise PolicyRefusal(f"only a member of {sub.provider.code} can explain its warnings")
    if sub.status != "needs_explanation":
        raise FivesafesError(
            f"submission {sub.id} is {sub.status.replace('_', ' ')}; only a submission whose "
            "warnings need explaining takes explanations"
        )
    text = text.strip()
    if len(text) < 5:
        raise FivesafesError("write an explanation in words (at least a few characters)")
    if len(text) > MAX_EXPLANATION:
        raise FivesafesError(
            f"keep the explanation to {MAX_EXPLANATION:,} characters (it has {len(text):,}); "
            "the collecting body reads every one"
        )
    spec = load_spec(sub.collection)
    rule = spec.rule(rule_id)
    if rule.severity != "warning":
        raise FivesafesError(
            f"{rule_id} is an error, not a warning: errors cannot be explained away; "
            "correct the file and submit it again"
        )
    if not sub.issue_counts.get(rule_id):
        raise FivesafesError(f"submission {sub.id} has no warning {rule_id} to explain")
    with _issues(directory, sub) as con:
        found = {
            None if r[0] is None else int(r[0])
            for r in con.execute("SELECT row FROM issues WHERE rule = ?", [rule_id]).fetchall()
        }
    targets: list[int | None] = list(rows) if rows else [None]
    wrong = [r for r in targets if r is not None and r not in found]
    if wrong:
        raise FivesafesError(
            f"rule {rule_id} has no warning at row {wrong[0]} of submission {sub.id}"
        )
    for r in targets:
        sub.explanations.append(Explanation(rule_id=rule_id, row=r, text=text, author=user))
    session.flush()
    if not _outstanding(sub, directory):
        sub.status = "ready"
    _audit(
        session,
        actor,
        "collections.explain",
        f"submission:{sub.id}",
        {"rule": rule_id, "rows": rows or "all", "status": sub.status},
    )
    _rewrite_reports(sub, directory)
    session.commit()
    return sub


def _rewrite_reports(sub: Submission, directory: Path | None) -> None:
    spec = load_spec(sub.collection)
    notes = dict(sub.summary.get(NOTES_KEY) or {})
    write_reports(
        submission_dir(directory, sub.id),
        spec,
        sub,
        sub.provider,
        {(e.rule_id, e.row): e.text for e in sub.explanations},
        notes,
    )


# --- accept ---------------------------------------------------------------------------


@contextmanager
def _exclusive(directory: Path | None) -> Iterator[None]:
    """Hold the collections folder's lock: one acceptance (or repair) at a time,
    across processes, so that a repair never removes records another acceptance
    has just stored."""
    import fcntl

    root = collections_dir(directory)
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def accept(
    session: Session, actor: str, submission_id: int, directory: Path | None = None
) -> Submission:
    """Accept a submission without errors whose warnings are all explained: store it
    split and make it the provider's accepted return for its year."""
    with _exclusive(directory):
        return _accept(session, actor, submission_id, directory)


def _accept(session: Session, actor: str, submission_id: int, directory: Path | None) -> Submission:
    sub = get_submission(session, actor, submission_id)
    user = get_user(session, actor)
    if not (is_admin(user) or sub.provider_id in {p.id for p in providers_of(session, user)}):
        raise PolicyRefusal(f"{actor} cannot accept submissions of {sub.provider.code}")
    if sub.status == "rejected":
        raise FivesafesError(
            f"submission {sub.id} has {sub.errors:,} error{'s' if sub.errors != 1 else ''}, "
            "which block acceptance; correct the file and submit it again (see its report)"
        )
    if sub.status in ("accepted", "superseded"):
        raise FivesafesError(f"submission {sub.id} is already {sub.status}")
    left = _outstanding(sub, directory)
    if left:
        rules = sorted({r for r, _ in left})
        raise FivesafesError(
            f"submission {sub.id} has {len(left):,} warning{'s' if len(left) != 1 else ''} "
            f"not yet explained (rule{'s' if len(rules) > 1 else ''} {', '.join(rules)}); "
            "explain them with `fivesafes collections explain` first"
        )
    spec = load_spec(sub.collection)
    if spec.sha256 != sub.spec_sha256:
        raise FivesafesError(
            f"the rules of {sub.collection} changed since submission {sub.id} was checked; "
            "submit the file again to check it against the current rules"
        )
    folder = submission_dir(directory, sub.id)
    table = read_return(folder / sub.file_name, spec)
    if table.num_rows != sub.rows:
        raise FivesafesError(f"the stored file of submission {sub.id} has changed; submit again")
    _reconcile(session, directory)
    previous = session.scalar(
        select(Submission).where(
            Submission.collection == sub.collection,
            Submission.provider_id == sub.provider_id,
            Submission.collection_year == sub.collection_year,
            Submission.status == "accepted",
        )
    )
    aggregate = spec.kind == "aggregate"
    ingest_id = (
        None if aggregate else _ingest(directory, spec, folder / sub.file_name, table, sub.sha256)
    )
    try:
        sub.ingest_id = ingest_id
        sub.status = "accepted"
        sub.decided_at = datetime.now(UTC)
        sub.decided_by_id = user.id
        if previous is not None:
            previous.status = "superseded"
        session.flush()
        _audit(
            session,
            actor,
            "collections.accept",
            f"submission:{sub.id}",
            {
                "collection": sub.collection,
                "year": sub.collection_year,
                "provider": sub.provider.code,
                "rows": sub.rows,
                "supersedes": None if previous is None else previous.id,
            },
        )
        _load_accepted(directory, spec, sub, ingest_id, table)
        session.commit()
    except BaseException:
        session.rollback()
        if ingest_id is not None:
            _remove_ingest(directory, spec.name, ingest_id)
        _reconcile(session, directory)
        raise
    if previous is not None and previous.ingest_id:
        _remove_ingest(directory, spec.name, previous.ingest_id)
    _rewrite_reports(sub, directory)
    return sub


def _ingest(
    directory: Path | None, spec: CollectionSpec, path: Path, table: pa.Table, digest: str
) -> str:
    """Store the return split (identifier zone, content zone) and return its ingest id."""
    from fivesafes.data.ingest import random_uuids, store_split
    from fivesafes.data.store import open_store

    cleaned = pa.table(
        {
            name: _blank_to_null(table.column(name)) if name != "__row" else table.column(name)
            for name in table.column_names
        }
    )
    cleaned = cleaned.append_column("record_id", random_uuids(cleaned.num_rows))
    with open_store(store_path(directory)) as con:
        store_split(con, cleaned, path, spec.dataset(), digest)
        row = con.execute(
            "SELECT ingest_id FROM idz._ingests WHERE dataset = ? AND sha256 = ? "
            "AND status = 'complete' ORDER BY finished_at DESC LIMIT 1",
            [spec.name, digest],
        ).fetchone()
    assert row is not None
    return str(row[0])


def _blank_to_null(col: pa.ChunkedArray) -> pa.ChunkedArray:
    trimmed = pc.utf8_trim_whitespace(col)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _remove_ingest(directory: Path | None, dataset: str, ingest_id: str) -> None:
    from fivesafes.data.store import open_store, remove_ingest

    with open_store(store_path(directory)) as con:
        remove_ingest(con, ingest_id, dataset)


def _accepted_columns(spec: CollectionSpec) -> str:
    from fivesafes.data.ingest import SQL_TYPES

    kinds = {"code": "VARCHAR"}
    cols = "".join(
        f', "{c.name}" {kinds.get(c.type) or SQL_TYPES[c.type]}' for c in spec.content_columns
    )
    birth = (
        ", birth_year SMALLINT, birth_month SMALLINT" if any(c.birth for c in spec.columns) else ""
    )
    return (
        "provider VARCHAR NOT NULL, submission_id BIGINT NOT NULL, collection_year INTEGER "
        f"NOT NULL, record_id UUID NOT NULL{cols}{birth}"
    )


@contextmanager
def _accepted_db(directory: Path | None) -> Iterator[duckdb.DuckDBPyConnection]:
    path = accepted_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise FivesafesError(
                f"{path} is in use by another process; wait for it to finish and try again"
            ) from None
        raise
    try:
        con.execute(
            "CREATE TABLE IF NOT EXISTS _providers (code VARCHAR PRIMARY KEY, name VARCHAR)"
        )
        con.execute(
            "CREATE TABLE IF NOT EXISTS _submissions (submission_id BIGINT PRIMARY KEY, "
            "collection VARCHAR, provider VARCHAR, collection_year INTEGER, rows BIGINT, "
            "accepted_at TIMESTAMP)"
        )
        yield con
    finally:
        con.close()


def _load_accepted(
    directory: Path | None,
    spec: CollectionSpec,
    sub: Submission,
    ingest_id: str | None,
    table: pa.Table | None = None,
) -> None:
    """Replace the provider's rows for the year with this submission's, in one
    transaction: from the store's content zone (``ingest_id``), or for an aggregate
    return, which holds no person and goes to no zone, from the return itself."""
    from fivesafes.data.store import CONTENT_DB, IDENTIFIERS_DB

    store = store_path(directory)
    with _accepted_db(directory) as con:
        t = f'"{spec.name}"'
        if ingest_id is None:
            assert table is not None
            con.register("__return", _aggregate_rows(spec, table))
            source = "SELECT * FROM __return"
        else:
            con.execute(f"ATTACH '{store / CONTENT_DB}' AS cz (READ_ONLY)")
            con.execute(f"ATTACH '{store / IDENTIFIERS_DB}' AS idz (READ_ONLY)")
            source = (
                f"SELECT c.* FROM cz.{t} c WHERE c.record_id IN "
                f"(SELECT record_id FROM idz.{t} WHERE ingest_id = '{ingest_id}')"
            )
        con.execute("BEGIN")
        try:
            con.execute(f"CREATE TABLE IF NOT EXISTS {t} ({_accepted_columns(spec)})")
            con.execute(
                f"DELETE FROM {t} WHERE provider = ? AND collection_year = ?",
                [sub.provider.code, sub.collection_year],
            )
            con.execute(
                "DELETE FROM _submissions WHERE collection = ? AND provider = ? "
                "AND collection_year = ?",
                [spec.name, sub.provider.code, sub.collection_year],
            )
            con.execute(
                f"INSERT INTO {t} SELECT ?, ?, ?, s.* FROM ({source}) s",
                [sub.provider.code, sub.id, sub.collection_year],
            )
            con.execute(
                "INSERT INTO _submissions VALUES (?, ?, ?, ?, ?, ?)",
                [
                    sub.id,
                    spec.name,
                    sub.provider.code,
                    sub.collection_year,
                    sub.rows,
                    (sub.decided_at or datetime.now(UTC)).replace(tzinfo=None),
                ],
            )
            con.execute(
                "INSERT OR REPLACE INTO _providers VALUES (?, ?)",
                [sub.provider.code, sub.provider.name],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


def _aggregate_rows(spec: CollectionSpec, table: pa.Table) -> pa.Table:
    """An aggregate return's rows as the accepted table holds them (a record id, the
    content columns typed)."""
    from fivesafes.data.ingest import random_uuids

    con = duckdb.connect(config={"enable_external_access": False})
    try:
        con.register("incoming", table)
        cols = ", ".join(
            f"TRY_CAST(nullif(trim(\"{c.name}\"), '') AS "
            f"{'BIGINT' if c.type == 'integer' else 'DOUBLE' if c.type == 'number' else 'VARCHAR'})"
            f' AS "{c.name}"'
            for c in spec.content_columns
        )
        typed = con.sql(f"SELECT {cols} FROM incoming").to_arrow_table()
    finally:
        con.close()
    ids = random_uuids(typed.num_rows)
    return typed.add_column(0, "record_id", ids)


def reconcile(session: Session, directory: Path | None = None) -> dict[str, int]:
    """Make the store and the accepted table agree with the state database after a
    crash: the store keeps only the ingests of accepted submissions, and the
    accepted table holds exactly the accepted submissions' rows."""
    with _exclusive(directory):
        return _reconcile(session, directory)


def _reconcile(session: Session, directory: Path | None) -> dict[str, int]:
    from fivesafes.data.store import open_store, remove_ingest

    accepted = list(session.scalars(select(Submission).where(Submission.status == "accepted")))
    keep = {s.ingest_id for s in accepted if s.ingest_id}
    removed = loaded = 0
    store = store_path(directory)
    if (store / "identifiers.duckdb").exists():
        with open_store(store) as con:
            for ingest_id, dataset in con.execute(
                "SELECT ingest_id, dataset FROM idz._ingests"
            ).fetchall():
                if ingest_id not in keep:
                    remove_ingest(con, ingest_id, dataset)
                    removed += 1
    if not accepted and not accepted_path(directory).exists():
        return {"ingests_removed": removed, "submissions_loaded": 0, "submissions_unloaded": 0}
    with _accepted_db(directory) as con:
        loaded_ids = {
            int(r[0]) for r in con.execute("SELECT submission_id FROM _submissions").fetchall()
        }
        wanted = {s.id for s in accepted}
        stale = loaded_ids - wanted
        tables = {
            str(r[0])
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_catalog = current_database() AND table_schema = 'main'"
            ).fetchall()
        }
        if stale:
            for t in tables - {"_providers", "_submissions"}:
                con.execute(
                    f'DELETE FROM "{t}" WHERE submission_id IN ({", ".join(map(str, stale))})'
                )
            con.execute(
                f"DELETE FROM _submissions WHERE submission_id IN ({', '.join(map(str, stale))})"
            )
    for s in accepted:
        if s.id in loaded_ids:
            continue
        if s.ingest_id:
            _load_accepted(directory, load_spec(s.collection), s, s.ingest_id)
            loaded += 1
        elif (spec := load_spec(s.collection)).kind == "aggregate":
            table = read_return(submission_dir(directory, s.id) / s.file_name, spec)
            _load_accepted(directory, spec, s, None, table)
            loaded += 1
    return {
        "ingests_removed": removed,
        "submissions_loaded": loaded,
        "submissions_unloaded": len(stale),
    }


def report_paths(
    session: Session, actor: str, submission_id: int, directory: Path | None = None
) -> dict[str, Path]:
    """The submission's reports (HTML and CSV), for a user who may see it."""
    sub = get_submission(session, actor, submission_id)
    folder = submission_dir(directory, sub.id)
    return {"html": folder / "report.html", "csv": folder / "report.csv"}


def _period_label(sub: Submission) -> str:
    try:
        return load_spec(sub.collection).period_label(sub.collection_year)
    except FivesafesError:  # a collection whose rule file is gone: the number as stored
        return str(sub.collection_year)


def submission_dict(sub: Submission, directory: Path | None = None) -> dict[str, Any]:
    folder = submission_dir(directory, sub.id)
    return {
        "id": sub.id,
        "collection": sub.collection,
        "year": sub.collection_year,
        "period": _period_label(sub),
        "provider": sub.provider.code,
        "provider_name": sub.provider.name,
        "submitted_by": sub.submitted_by.name,
        "file": sub.file_name,
        "sha256": sub.sha256,
        "rows": sub.rows,
        "errors": sub.errors,
        "warnings": sub.warnings,
        "issues_by_rule": dict(sub.issue_counts),
        "status": sub.status,
        "supersedes": sub.supersedes_id,
        "created_at": sub.created_at.isoformat() if sub.created_at else None,
        "decided_at": sub.decided_at.isoformat() if sub.decided_at else None,
        "explanations": [
            {"rule": e.rule_id, "row": e.row, "text": e.text, "by": e.author.name}
            for e in sub.explanations
        ],
        "report_html": str(folder / "report.html"),
        "report_csv": str(folder / "report.csv"),
    }
