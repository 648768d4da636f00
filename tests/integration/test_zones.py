"""The content zone never holds an identifier: proved as an attacker with the
content zone (and every provider file and the truth) would try to find one."""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path

import duckdb
import pytest

from fivesafes.datasets import DATASETS, Dataset

IDENTIFIER_COLUMNS = {
    "forename",
    "surname",
    "date_of_birth",
    "postcode",
    "upn",
    "pnc_id",
    "nhs_number",
    "nino",
    "child_id",
}
#: Columns of truth/people.csv that hold identifiers.
TRUTH_IDENTIFIERS = {
    "forename",
    "surname",
    "new_surname",
    "postcode",
    "postcode_after_move",
    "upn",
    "nhs_number",
    "nino",
}
#: Identifiers with a fixed form, as an attacker would grep for them in raw bytes.
FORMS = {
    "upn": rb"[A-Z][0-9]{12}",
    "nhs_number": rb"[0-9]{10}",
    "nino": rb"[A-Z]{2}[0-9]{6}[A-D]",
    "pnc_id": rb"[0-9]{2}/[0-9]{7}[A-Z]",
    "child_id": rb"[0-9]{3}-[0-9]{7}",
    "postcode": rb"[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}",
}


def normal(value: str) -> str:
    """Accents folded (Fórd is ford, not frd), case and punctuation ignored."""
    folded = unicodedata.normalize("NFKD", value.casefold())
    return re.sub(r"[^0-9a-z]", "", "".join(c for c in folded if not unicodedata.combining(c)))


@pytest.fixture(scope="module")
def identifiers(world: Path) -> dict[str, set[str]]:
    """Every identifier value in the provider files and the truth, by kind."""
    found: dict[str, set[str]] = {}
    files = [*sorted((world / "provider").glob("*.csv")), world / "truth" / "people.csv"]
    for f in files:
        with f.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                for col, value in row.items():
                    if value and (col in IDENTIFIER_COLUMNS or col in TRUTH_IDENTIFIERS):
                        kind = {"new_surname": "surname", "postcode_after_move": "postcode"}.get(
                            col, col
                        )
                        found.setdefault(kind, set()).add(value)
    return found


def content_values(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], set[str]]:
    """Every distinct value, as text, of every column but record_id of every table."""
    cols = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' AND column_name <> 'record_id'"
    ).fetchall()
    return {
        (t, c): {
            r[0]
            for r in con.execute(
                f'SELECT DISTINCT "{c}"::VARCHAR FROM "{t}" WHERE "{c}" IS NOT NULL'
            ).fetchall()
        }
        for t, c in cols
    }


def leaks(values: dict[tuple[str, str], set[str]], ids: dict[str, set[str]]) -> list[str]:
    """Identifiers found as a whole value, or as a word in a value, in any case and
    with spaces and punctuation ignored (so 'qb20xn' matches 'QB2 0XN'). Dates of
    birth are left to the record-by-record test: any date is somebody's birthday;
    a single letter (an initial) to no test."""
    wanted = {normal(v): kind for kind, vs in ids.items() if kind != "date_of_birth" for v in vs}
    # A forename reduced to its initial ("M.") identifies nobody, and would match
    # every one-letter code (sex M/F): a value must be two characters or more.
    wanted = {w: kind for w, kind in wanted.items() if len(w) > 1}
    found = []
    for (table, column), vs in values.items():
        for v in vs:
            words = {normal(w) for w in re.split(r"[\s;,/|]+", v)} | {normal(v)}
            for w in words & wanted.keys():
                found.append(f"{table}.{column} = {v!r} is a {wanted[w]}")
    return found


def connect(store: Path, zone: str) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(store / f"{zone}.duckdb"), read_only=True)


def test_the_attacker_knows_plenty_of_identifiers(identifiers: dict[str, set[str]]):
    sizes = {k: len(v) for k, v in identifiers.items()}
    assert set(sizes) == IDENTIFIER_COLUMNS
    assert all(n > 40 for n in sizes.values()), sizes


def test_content_zone_holds_one_table_per_dataset_and_nothing_else(world_store: Path):
    with connect(world_store, "content") as con:
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    assert tables == {d.name for d in DATASETS}


@pytest.mark.parametrize("ds", DATASETS, ids=lambda d: d.name)
def test_no_identifier_column_in_the_content_zone(world_store: Path, ds: Dataset):
    with connect(world_store, "content") as con:
        cols = [r[0] for r in con.execute(f'DESCRIBE "{ds.name}"').fetchall()]
    assert not set(cols) & IDENTIFIER_COLUMNS
    assert not {c.name for c in ds.private_columns} & set(cols)
    # Exactly the content columns, and the year and month of birth where a
    # date of birth was sent.
    birth = ["birth_year", "birth_month"] if "date_of_birth" in ds.column_names else []
    assert cols == ["record_id", *(c.name for c in ds.content_columns), *birth]


@pytest.mark.parametrize("ds", DATASETS, ids=lambda d: d.name)
def test_the_identifier_zone_holds_this_datasets_identifiers(world_store: Path, ds: Dataset):
    """The other side of the split: the identifiers did go somewhere, and only there."""
    with connect(world_store, "identifiers") as con:
        cols = {r[0] for r in con.execute(f'DESCRIBE "{ds.name}"').fetchall()}
    assert {c.name for c in ds.private_columns} <= cols
    assert not {c.name for c in ds.columns if c.zone == "content"} & cols


def test_no_identifier_value_anywhere_in_the_content_zone(
    world_store: Path, identifiers: dict[str, set[str]]
):
    with connect(world_store, "content") as con:
        values = content_values(con)
    assert {t for t, _ in values} == {d.name for d in DATASETS}  # every table was scanned
    assert sum(len(v) for v in values.values()) > 10_000
    assert leaks(values, identifiers) == []


def test_the_same_scan_finds_the_identifiers_in_the_identifier_zone(
    world_store: Path, identifiers: dict[str, set[str]]
):
    """The scan above can fail: run on the identifier zone it finds every kind."""
    with connect(world_store, "identifiers") as con:
        values = content_values(con)
    kinds = {hit.rsplit(" is a ", 1)[1] for hit in leaks(values, identifiers)}
    assert kinds >= IDENTIFIER_COLUMNS - {"date_of_birth"}


def raw_identifiers(data: bytes) -> dict[str, set[str]]:
    """Every string of an identifier's form in a file's bytes (overlapping matches)."""
    return {
        kind: {m.decode() for m in re.findall(rb"(?=(" + form + rb"))", data)}
        for kind, form in FORMS.items()
    }


def test_no_identifier_in_the_bytes_of_the_content_zone_file(
    world_store: Path, identifiers: dict[str, set[str]]
):
    """Grep the database files themselves, as someone with a copy of them would."""
    files = sorted(world_store.glob("content.duckdb*"))
    assert files
    for f in files:
        hits = raw_identifiers(f.read_bytes())
        for kind in FORMS:
            assert not hits[kind] & identifiers[kind], (f.name, kind)
    # and the same grep finds them in the identifier zone's file
    found = raw_identifiers((world_store / "identifiers.duckdb").read_bytes())
    for kind in FORMS:
        assert len(found[kind] & identifiers[kind]) > 40, kind


@pytest.mark.parametrize(
    "ds", [d for d in DATASETS if "date_of_birth" in d.column_names], ids=lambda d: d.name
)
def test_no_date_in_the_content_zone_is_the_date_of_birth(world_store: Path, ds: Dataset):
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{world_store / 'identifiers.duckdb'}' AS idz (READ_ONLY)")
        con.execute(f"ATTACH '{world_store / 'content.duckdb'}' AS cz (READ_ONLY)")
        dates = [
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'cz' "
                "AND table_name = ? AND data_type IN ('DATE', 'TIMESTAMP', 'VARCHAR')",
                [ds.name],
            ).fetchall()
        ]
        for col in dates:
            rows, same = con.execute(
                "SELECT count(*), count(*) FILTER "
                f'(WHERE TRY_CAST(c."{col}" AS DATE) = i.date_of_birth) '
                f'FROM cz."{ds.name}" c JOIN idz."{ds.name}" i USING (record_id)'
            ).fetchone()
            assert rows > 0
            assert same <= 0.01 * rows, f"{ds.name}.{col} is the date of birth in {same} rows"
    finally:
        con.close()


@pytest.mark.parametrize(
    "ds", [d for d in DATASETS if "date_of_birth" in d.column_names], ids=lambda d: d.name
)
def test_birth_year_and_month_but_no_day_of_birth(world_store: Path, ds: Dataset):
    """Year and month of birth are allowed in; no column gives away the day."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{world_store / 'identifiers.duckdb'}' AS idz (READ_ONLY)")
        con.execute(f"ATTACH '{world_store / 'content.duckdb'}' AS cz (READ_ONLY)")
        rows, right = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE c.birth_year = year(i.date_of_birth) "
            "AND c.birth_month = month(i.date_of_birth)) "
            f'FROM cz."{ds.name}" c JOIN idz."{ds.name}" i USING (record_id)'
        ).fetchone()
        assert rows > 0 and right == rows
        numbers = [
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'cz' "
                "AND table_name = ? AND data_type IN ('TINYINT', 'SMALLINT', 'INTEGER', "
                "'BIGINT', 'DOUBLE')",
                [ds.name],
            ).fetchall()
        ]
        for col in numbers:
            same = con.execute(
                f'SELECT count(*) FILTER (WHERE c."{col}" = day(i.date_of_birth)) '
                f'FROM cz."{ds.name}" c JOIN idz."{ds.name}" i USING (record_id)'
            ).fetchone()[0]
            # by chance a count can equal the day now and then; a day column always would
            assert same < 0.5 * rows, f"{ds.name}.{col} looks like the day of birth"
    finally:
        con.close()
