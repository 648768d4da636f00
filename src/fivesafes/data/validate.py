"""Read a provider file and check it against its dataset specification.

:func:`read_provider_file` returns the file as an Arrow table of strings (plus a
``__row`` column: 1 = first data row) after checking what is wrong with the file
as a whole: not CSV (a spreadsheet, another encoding, another delimiter),
missing, unknown or repeated columns, rows with the wrong number of fields.
:func:`check_values` then checks every value (required, type, date, code, range,
pattern) in one DuckDB pass and raises an :class:`~fivesafes.errors.InputError`
naming the file, row and field of the first problems found.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from fivesafes.datasets import Column, Dataset
from fivesafes.errors import InputError

MAX_REPORTED = 20
SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")  # xlsx/ods (zip), xls (OLE)
#: The longest header line read (a header of this dataset's columns is far shorter).
MAX_HEADER_BYTES = 1 << 20
#: The longest value of any field: no identifier or content value comes near it.
MAX_FIELD_CHARS = 1 << 16
#: How much of a bad value an error quotes.
QUOTED_CHARS = 80
EARLIEST_DATE = "1900-01-01"
LATEST_DATE = "2100-12-31"


@dataclass(frozen=True)
class Problem:
    row: int
    field: str
    value: str | None
    message: str


def read_provider_file(path: Path, ds: Dataset) -> pa.Table:
    name = path.name
    if not path.exists():
        raise InputError(name, f"no such file: {path}")
    with path.open("rb") as fh:
        head = fh.read(65536)
    if head.startswith(SPREADSHEET_MAGIC):
        raise InputError(name, "is a spreadsheet, not a CSV file; export it as CSV (UTF-8)")
    if not head.strip():
        raise InputError(name, "is empty; a provider file starts with a header row")
    with path.open("rb") as fh:
        first_line = fh.readline(MAX_HEADER_BYTES + 1)
    if first_line.startswith(b"\xef\xbb\xbf"):
        first_line = first_line[3:]
    if b"\r" in first_line.rstrip(b"\r\n"):
        raise InputError(
            name,
            "its lines end with a carriage return alone (the old Mac OS convention), which "
            "is not read; save it as CSV with Windows (CR LF) or Unix (LF) line endings",
        )
    if len(first_line) > MAX_HEADER_BYTES:
        raise InputError(
            name,
            f"the header (the first line) is longer than {MAX_HEADER_BYTES >> 20} MiB: it is "
            "not a header of this dataset's columns (or the file has no line endings)",
        )
    first_line = first_line.rstrip(b"\r\n")
    try:
        header_text = first_line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            name,
            f"the header is not UTF-8 text (byte {first_line[exc.start]:#x}); "
            "save the file as CSV UTF-8",
            row=None,
        ) from None
    header = next(csv.reader(io.StringIO(header_text)))
    _check_header(name, header, ds)

    invalid: list[int | None] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append(row.number)
        return "skip"

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 22),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in header},
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except pa.ArrowInvalid as exc:
        raise _locate_parse_error(path, ds, str(exc)) from None
    if invalid:
        raise _locate_parse_error(path, ds, "wrong number of fields")
    if table.num_rows == 0:
        raise InputError(name, "has a header but no rows")
    return table.append_column("__row", pa.array(np.arange(1, table.num_rows + 1)))


def _check_header(name: str, header: list[str], ds: Dataset) -> None:
    expected = ds.column_names
    if len(header) == 1 and len(expected) > 1:
        for delim, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if delim in header[0]:
                raise InputError(
                    name,
                    f"fields are separated by {label}, not commas; save it as comma-separated CSV",
                )
    seen: set[str] = set()
    for col in header:
        if len(col) > QUOTED_CHARS:
            raise InputError(
                name,
                f"the header has a column name of {len(col):,} characters (starting "
                f"{col[:QUOTED_CHARS]!r}); the {ds.name} specification's names are short",
            )
        if col in seen:
            raise InputError(name, "column appears twice in the header", field=col)
        seen.add(col)
    missing = [c for c in expected if c not in seen]
    if missing:
        raise InputError(
            name,
            f"the header lacks column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} required by the {ds.name} specification",
            field=missing[0],
        )
    extra = [c for c in header if c not in expected]
    if extra:
        raise InputError(
            name,
            f"the header has column{'s' if len(extra) > 1 else ''} {', '.join(extra[:10])}"
            + (f" (and {len(extra) - 10:,} more)" if len(extra) > 10 else "")
            + f" that the {ds.name} specification does not know; remove or rename "
            + ("them" if len(extra) > 1 else "it"),
            field=extra[0],
        )


def _records(path: Path) -> Iterator[tuple[int, int, list[str]]]:
    """The file's data records as the exact reader sees them, each with its data row
    (1 = first after the header; blank lines skipped, as the fast reader skips them)
    and the line of the file it starts on (a quoted field may span several lines)."""
    text = path.read_bytes().decode("utf-8-sig", errors="surrogateescape")
    # Python's csv refuses fields over 128 KiB by raising; read any length here and
    # let the caller say which field is too long.
    csv.field_size_limit(max(csv.field_size_limit(), (1 << 31) - 1))
    reader = csv.reader(io.StringIO(text, newline=""))
    row, before = 0, 0
    for i, fields in enumerate(reader):
        start, before = before + 1, reader.line_num
        if i == 0 or not fields:
            continue
        row += 1
        yield row, start, fields


def line_of_row(path: Path, row: int) -> int | None:
    """The line of ``path`` on which data row ``row`` starts (None if it has fewer
    rows). Read the slow, exact way: only to report an error."""
    try:
        return next((line for r, line, _ in _records(path) if r == row), None)
    except (OSError, csv.Error):
        return None


def _locate_parse_error(path: Path, ds: Dataset, arrow_message: str) -> InputError:
    """Find the row behind a parse error by reading the file the slow, exact way."""
    name = path.name
    with path.open("rb") as fh:
        header_line = fh.readline().decode("utf-8-sig", errors="surrogateescape")
    header = next(csv.reader([header_line]), [])
    width = len(header)
    lines = path.read_bytes().rstrip(b"\r\n").count(b"\n") + 1
    # Undecodable bytes become lone surrogates, so the row and field holding the
    # first one can be found by parsing the file as it is.
    for row, line, fields in _records(path):
        for j, value in enumerate(fields):
            if len(value) > MAX_FIELD_CHARS:
                return InputError(
                    name,
                    f"the value is {len(value):,} characters long, more than the "
                    f"{MAX_FIELD_CHARS:,} any field may hold",
                    row=row,
                    field=header[j] if j < len(header) else None,
                    line=line,
                )
            bad = next((ch for ch in value if "\udc80" <= ch <= "\udcff"), None)
            if bad is not None:
                return InputError(
                    name,
                    f"is not UTF-8 text (byte {ord(bad) - 0xDC00:#x}); save the file as CSV UTF-8",
                    row=row,
                    field=header[j] if j < len(header) else None,
                    line=line,
                )
        if len(fields) != width:
            ends_file = line + sum(v.count("\n") for v in fields) >= lines
            return InputError(
                name,
                f"has {len(fields)} fields where the header has {width}"
                + ("; the file may be truncated" if ends_file else ""),
                row=row,
                line=line,
            )
    return InputError(name, f"could not be read as CSV: {arrow_message.splitlines()[0]}")


ISO_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"


def parse_date_sql(col: Column, strict: bool = True) -> str:
    """SQL turning a date column's text into a DATE (NULL if it is not one, unless
    ``strict``, when a bad value raises). ISO dates use DuckDB's fast cast."""
    c = f'"{col.name}"'
    cast = "CAST" if strict else "TRY_CAST"
    if col.date_format == "%Y-%m-%d":
        return f"{cast}({c} AS DATE)"
    fmt = col.date_format.replace("'", "''")
    return f"{cast}({'strptime' if strict else 'try_strptime'}({c}, '{fmt}') AS DATE)"


def _conditions(col: Column) -> list[tuple[str, str]]:
    """SQL conditions (true = problem) and their messages, for one column."""
    c = f'"{col.name}"'
    out: list[tuple[str, str]] = [
        # NUL is never part of a name, code or number (and C-based tools downstream
        # cut a text at it); the collections' reader refuses it too.
        (f"{c} IS NOT NULL AND strpos({c}, chr(0)) > 0", "holds a NUL byte (\\0)"),
        (
            f"{c} IS NOT NULL AND length({c}) > {MAX_FIELD_CHARS}",
            f"is longer than the {MAX_FIELD_CHARS:,} characters any field may hold",
        ),
    ]
    if col.required:
        out.append((f"({c} IS NULL OR regexp_full_match({c}, '\\s*'))", "is required but empty"))
    if col.kind == "integer":
        # TRY_CAST alone would take '3.5' (as 4), '1e3' and '0x10' for whole numbers.
        out.append(
            (
                f"{c} IS NOT NULL AND (NOT regexp_full_match({c}, '\\s*[+-]?[0-9]+\\s*') "
                f"OR TRY_CAST({c} AS BIGINT) IS NULL)",
                "is not a whole number",
            )
        )
    elif col.kind == "number":
        # DuckDB reads 'nan', 'inf' and '-infinity' as doubles: none is a measurement.
        number = f"TRY_CAST({c} AS DOUBLE)"
        out.append(
            (f"{c} IS NOT NULL AND ({number} IS NULL OR NOT isfinite({number}))", "is not a number")
        )
    elif col.kind == "flag":
        out.append((f"{c} IS NOT NULL AND {c} NOT IN ('0', '1')", "is not a flag (0 or 1)"))
    elif col.kind == "date":
        readable = col.date_format.replace("%Y", "YYYY").replace("%m", "MM").replace("%d", "DD")
        parsed = parse_date_sql(col, strict=False)
        shape = ISO_DATE if col.date_format == "%Y-%m-%d" else None
        bad = f"{parsed} IS NULL" + (f" OR NOT regexp_full_match({c}, '{shape}')" if shape else "")
        out.append((f"{c} IS NOT NULL AND ({bad})", f"is not a real date in the form {readable}"))
        out.append(
            (
                f"{c} IS NOT NULL AND ({parsed} < DATE '{EARLIEST_DATE}' "
                f"OR {parsed} > DATE '{LATEST_DATE}')",
                f"is a date outside {EARLIEST_DATE[:4]}-{LATEST_DATE[:4]}",
            )
        )
    elif col.kind == "code" and col.codes is not None:
        listed = ", ".join("'" + v.replace("'", "''") + "'" for v in col.codes)
        shown = ", ".join(col.codes[:12]) + (", ..." if len(col.codes) > 12 else "")
        out.append(
            (
                f"{c} IS NOT NULL AND {c} NOT IN ({listed})",
                f"is not a known code (expected one of {shown})",
            )
        )
    if col.pattern is not None:
        pat = col.pattern.replace("'", "''")
        out.append(
            (
                f"{c} IS NOT NULL AND NOT regexp_full_match({c}, '{pat}')",
                f"is not in the expected form ({col.description.lower()})",
            )
        )
    cast = "BIGINT" if col.kind == "integer" else "DOUBLE"
    value = f"TRY_CAST({c} AS {cast})"
    finite = f"isfinite({value}) AND " if cast == "DOUBLE" else ""  # else 'not a number'
    if col.minimum is not None:
        out.append((f"{finite}{value} < {col.minimum}", f"is below the minimum {col.minimum:g}"))
    if col.maximum is not None:
        out.append((f"{finite}{value} > {col.maximum}", f"is above the maximum {col.maximum:g}"))
    return out


def check_values(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    ds: Dataset,
    file_name: str,
    path: Path | None = None,
) -> None:
    """Check every value of ``relation`` (a table or view of strings with ``__row``),
    read from ``path`` if given (then the error names the line the row starts on).

    One scan counts the problems of every kind; only if there are any does a
    second query fetch the first few with their rows.
    """
    checks = [(col, cond, msg) for col in ds.columns for cond, msg in _conditions(col)]
    if not checks:
        return
    counts_sql = ", ".join(f"count_if({cond})" for _, cond, _ in checks)
    counts = con.execute(f"SELECT {counts_sql} FROM {relation}").fetchone()
    assert counts is not None
    failing = [
        (col, cond, msg, int(n)) for (col, cond, msg), n in zip(checks, counts, strict=True) if n
    ]
    if not failing:
        return
    total = sum(n for *_, n in failing)
    union = " UNION ALL ".join(
        f"(SELECT __row, '{col.name}' AS field, \"{col.name}\"::VARCHAR AS value, "
        f"{i} AS check_no FROM {relation} WHERE {cond} ORDER BY __row LIMIT {MAX_REPORTED})"
        for i, (col, cond, _, _) in enumerate(failing)
    )
    rows = con.execute(
        f"SELECT * FROM ({union}) ORDER BY __row, check_no LIMIT {MAX_REPORTED}"
    ).fetchall()
    problems = [Problem(int(r[0]), str(r[1]), r[2], failing[int(r[3])][2]) for r in rows]
    first = problems[0]
    shown = first.value
    if shown is not None:
        shown = shown.replace("\x00", "\\0")
        if len(shown) > QUOTED_CHARS:
            shown = f"{shown[:QUOTED_CHARS]}... ({len(first.value or ''):,} characters)"
    err = InputError(
        file_name,
        first.message,
        row=first.row,
        field=first.field,
        value=shown,
        more=total - 1,
        line=line_of_row(path, first.row) if path is not None else None,
    )
    err.problems = problems  # type: ignore[attr-defined]
    raise err
