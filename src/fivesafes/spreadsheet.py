"""CSV that people open in a spreadsheet: formula cells made inert.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is run as a formula by Excel and LibreOffice (``=HYPERLINK(...)``,
``+cmd|' /C calc'!A0``, ``@SUM(...)``): OWASP's "CSV injection". Every CSV the TRE
writes for people to open (the safe versions of checked tables, airlock outputs,
released bundles, data collections' reports, published statistics) goes through
this module, which puts a leading apostrophe before such a cell (the spreadsheet
shows the text, and does not run it). Plain numbers such as ``-5`` or ``+1.5`` are
left as they are. One rule, in one place: :func:`inert` for one value,
:func:`inert_frame` for a table about to be written, :func:`inert_csv` for the
bytes of a CSV file, :func:`inert_sql` for DuckDB writing a CSV itself.
"""

from __future__ import annotations

import csv
import io
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

#: The characters that start a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?[0-9]+([.][0-9]+)?([eE][+-]?[0-9]+)?")


def needs_quoting(value: str) -> bool:
    """True for text a spreadsheet would run as a formula."""
    return value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value)


def inert(value: str) -> str:
    """``value``, with a leading apostrophe if a spreadsheet would run it."""
    return "'" + value if needs_quoting(value) else value


def inert_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and column name made inert (numbers,
    missing values and other types are left as they are)."""
    out = frame.copy()
    out.columns = [inert(c) if isinstance(c, str) else c for c in out.columns]
    for column in out.columns:
        series = out[column]
        if series.dtype == object or str(series.dtype) in ("string", "str"):
            import pandas as pd

            # dtype=object: no inference, so a whole number stays 77, not 77.0
            out[column] = pd.Series(
                [inert(v) if isinstance(v, str) else v for v in series],
                index=series.index,
                dtype=object,
            )
    return out


def inert_csv(data: bytes) -> tuple[bytes, int]:
    """The CSV ``data`` with its formula cells made inert, and how many there were.

    ``data`` comes back byte for byte when it has none (or is not UTF-8 text, which
    the caller checks by other means); otherwise it is written again with the same
    delimiter (the commonest of ``, ; tab |`` in the first line) and line ending."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data, 0
    if not any(c in text for c in FORMULA_STARTS):
        return data, 0
    header = text.splitlines()[0] if text else ""
    delimiter = max(",;\t|", key=header.count) if any(d in header for d in ",;\t|") else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    changed = 0
    for row in rows:
        for i, cell in enumerate(row):
            if needs_quoting(cell):
                row[i] = "'" + cell
                changed += 1
    if not changed:
        return data, 0
    buffer = io.StringIO(newline="")
    ending = "\r\n" if "\r\n" in text else "\n"
    writer = csv.writer(buffer, delimiter=delimiter, quotechar='"', lineterminator=ending)
    writer.writerows(rows)
    prefix = "\ufeff" if data.startswith(b"\xef\xbb\xbf") else ""
    return (prefix + buffer.getvalue()).encode("utf-8"), changed


def inert_sql(column: str) -> str:
    """DuckDB SQL for the value of ``column`` made inert (same rule as :func:`inert`)."""
    return (
        f"CASE WHEN regexp_matches({column}, '^[-=+@\\t\\r]') "
        f"AND NOT regexp_matches({column}, '^[+-]?[0-9]+([.][0-9]+)?([eE][+-]?[0-9]+)?$') "
        f"THEN chr(39) || {column} ELSE {column} END"
    )


def is_csv_name(name: str) -> bool:
    """True for a file name people open as CSV."""
    return name.lower().endswith((".csv", ".tsv"))
