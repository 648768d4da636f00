"""Malformed copies of real provider files, as data providers really send them.

Each case writes a broken copy of one file of the synthetic world and says what
the refusal must name: the file, and where it applies the data row (1 = first
row after the header) and the field. Shared by test_ingest.py (library) and
test_cli.py (command line).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PUPILS = "pupil_census_2015.csv"
HOSPITAL = "hospital_admissions.csv"


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def with_value(rows: list[list[str]], row: int, field: str, value: str) -> list[list[str]]:
    """A copy of ``rows`` with ``field`` of data row ``row`` (1 = first) set to ``value``."""
    out = [list(r) for r in rows]
    out[row][rows[0].index(field)] = value
    return out


def to_ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


@dataclass(frozen=True)
class BadFile:
    id: str
    source: str  # file of the world's provider folder it is a copy of
    make: Callable[[list[list[str]]], bytes]  # rows of the source -> bytes of the bad copy
    row: int | None = None  # "last" rows are resolved by expected_row
    field: str | None = None
    says: str = ""  # a phrase the message must contain
    value: str | None = None
    last_row: bool = False

    def write(self, world: Path, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / self.source
        path.write_bytes(self.make(read_rows(world / "provider" / self.source)))
        return path

    def expected_row(self, world: Path) -> int | None:
        if self.last_row:
            return len(read_rows(world / "provider" / self.source)) - 1
        return self.row


def _drop_column(name: str) -> Callable[[list[list[str]]], bytes]:
    def make(rows: list[list[str]]) -> bytes:
        i = rows[0].index(name)
        return csv_text([r[:i] + r[i + 1 :] for r in rows]).encode()

    return make


def _extra_column(rows: list[list[str]]) -> bytes:
    return csv_text([[*rows[0], "notes"]] + [[*r, "moved school"] for r in rows[1:]]).encode()


def _value(row: int, field: str, value: str) -> Callable[[list[list[str]]], bytes]:
    return lambda rows: csv_text(with_value(rows, row, field, value)).encode()


def _truncated(rows: list[list[str]]) -> bytes:
    text = csv_text(rows).rstrip("\n")
    last_line_start = text.rfind("\n") + 1
    cut = text.index(",", text.index(",", last_line_start) + 1)  # keep two fields
    return text[:cut].encode()


def _latin1(rows: list[list[str]]) -> bytes:
    # A Latin-1 export: every name in Latin-1, and row 11's forename is 'Zoé'.
    plain = [[to_ascii(v) for v in r] for r in rows]
    return csv_text(with_value(plain, 11, "forename", "Zoé")).encode("latin-1")


def _semicolons(rows: list[list[str]]) -> bytes:
    return csv_text(rows, delimiter=";").encode()


def _xlsx(rows: list[list[str]]) -> bytes:
    # What Excel writes: a zip archive. Only its first bytes matter here.
    return b"PK\x03\x04\x14\x00\x06\x00\x08\x00" + b"\x00" * 200 + b"[Content_Types].xml"


BAD_FILES: tuple[BadFile, ...] = (
    BadFile(
        "missing-column",
        PUPILS,
        _drop_column("sessions_absent"),
        field="sessions_absent",
        says="lacks column",
    ),
    BadFile("extra-column", PUPILS, _extra_column, field="notes", says="does not know"),
    BadFile(
        "not-an-integer",
        PUPILS,
        _value(5, "sessions_absent", "three"),
        row=5,
        field="sessions_absent",
        says="whole number",
        value="three",
    ),
    BadFile(
        "fraction-in-integer",
        PUPILS,
        _value(6, "sessions_absent", "3.5"),
        row=6,
        field="sessions_absent",
        says="whole number",
        value="3.5",
    ),
    BadFile(
        "impossible-date",
        PUPILS,
        _value(7, "date_of_birth", "2015-02-30"),
        row=7,
        field="date_of_birth",
        says="not a real date",
        value="2015-02-30",
    ),
    BadFile(
        "iso-date-in-hospital-file",
        HOSPITAL,
        _value(3, "admission_date", "2015-02-03"),
        row=3,
        field="admission_date",
        says="DD/MM/YYYY",
        value="2015-02-03",
    ),
    BadFile(
        "unknown-code",
        PUPILS,
        _value(8, "year_group", "14"),
        row=8,
        field="year_group",
        says="not a known code",
        value="14",
    ),
    BadFile(
        "empty-required",
        PUPILS,
        _value(9, "surname", ""),
        row=9,
        field="surname",
        says="required but empty",
    ),
    BadFile(
        "blank-required",
        PUPILS,
        _value(9, "surname", "   "),
        row=9,
        field="surname",
        says="required but empty",
    ),
    BadFile(
        "out-of-range",
        PUPILS,
        _value(10, "sessions_absent", "999"),
        row=10,
        field="sessions_absent",
        says="above the maximum 400",
        value="999",
    ),
    BadFile(
        "truncated-last-line",
        PUPILS,
        _truncated,
        last_row=True,
        says="truncated",
    ),
    BadFile("latin-1", PUPILS, _latin1, row=11, field="forename", says="UTF-8"),
    # issue 14, finding 10: each once an internal error, a wrong error, or accepted
    BadFile(
        "cr-only-line-endings",
        PUPILS,
        lambda rows: csv_text(rows).replace("\n", "\r").encode(),
        says="carriage return alone",
    ),
    BadFile(
        "nul-byte",
        PUPILS,
        _value(4, "forename", "Jo\x00hn"),
        row=4,
        field="forename",
        says="NUL byte",
    ),
    BadFile(
        "field-over-4-mb",
        PUPILS,
        _value(3, "forename", "x" * 5_000_000),
        row=3,
        field="forename",
        says="any field may hold",
    ),
    BadFile(
        "header-over-64-kib",
        PUPILS,
        lambda rows: csv_text(
            [[*rows[0], *(f"extra_{i:05d}" for i in range(7000))], *rows[1:]]
        ).encode(),
        field="extra_00000",
        says="(and 6,990 more) that the pupil_census specification does not know",
    ),
    BadFile("semicolons", PUPILS, _semicolons, says="semicolons"),
    BadFile("xlsx-renamed-csv", PUPILS, _xlsx, says="spreadsheet"),
    BadFile("empty-file", PUPILS, lambda rows: b"", says="empty"),
    BadFile("header-only", PUPILS, lambda rows: csv_text(rows[:1]).encode(), says="no rows"),
)
