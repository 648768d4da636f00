"""Reading a table a researcher saved, whatever saved it.

Researchers save tables from Excel in their local code page (Latin-1, Windows-1252),
as UTF-16 ("Unicode text"), or as a workbook renamed ``.csv``. :func:`read_table`
reads what can be read and says what it found:

- UTF-8 (with or without a byte-order mark) is read as it is;
- UTF-16 or UTF-32 with a byte-order mark is decoded;
- other text is decoded in the encoding charset-normalizer detects, and the note
  says which (a checker should look at the labels);
- an Excel workbook (.xlsx, whatever its name) is read with openpyxl: its first
  sheet, as text, the note says so;
- anything else (an old .xls workbook, a zip, an image, a file that is not text
  in any encoding) is refused with a sentence saying what it looks like and what
  to do, as an :class:`~fivesafes.errors.InputError`; never a traceback.
"""

from __future__ import annotations

import codecs
import io
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from fivesafes.errors import InputError

#: Largest table read into memory for a disclosure check (a table of counts is small).
MAX_BYTES = 64 * 1024 * 1024
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SAVE_AS = "save it as CSV UTF-8 (comma delimited), or as an Excel workbook (.xlsx)"


def _refuse(name: str, message: str) -> InputError:
    return InputError(name, message, consequence="Nothing was checked.")


def _workbook(name: str, data: bytes) -> tuple[pd.DataFrame, str]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise _refuse(
            name,
            f"is a zip file but not an Excel workbook that can be read ({type(exc).__name__}); "
            + _SAVE_AS,
        ) from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise _refuse(name, "is an Excel workbook with no sheet")
        rows = [
            ["" if v is None else _text(v) for v in row]
            for row in sheet.iter_rows(values_only=True)
        ]
        title, sheets = sheet.title, len(book.worksheets)
    finally:
        book.close()
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise _refuse(name, f"is an Excel workbook whose first sheet ({title!r}) is empty")
    width = max(len(r) for r in rows)
    header = [*rows[0], *[""] * (width - len(rows[0]))]
    while header and not header[-1].strip():
        header.pop()
    body = [[*r, *[""] * (width - len(r))][: len(header)] for r in rows[1:]]
    note = f"read as an Excel workbook: its first sheet, {title!r}" + (
        f" (of {sheets}; the others were not read)" if sheets > 1 else ""
    )
    return pd.DataFrame(body, columns=header, dtype=object).astype(str), note


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def decode(name: str, data: bytes) -> tuple[str, str | None]:
    """The text of a table file and a note on its encoding (None for UTF-8)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise _refuse(
                    name,
                    f"starts as {encoding.upper()} text but byte {exc.start} is not "
                    f"{encoding.upper()}; " + _SAVE_AS,
                ) from None
            note = None if encoding == "utf-8-sig" else f"read as {encoding.upper()} text"
            return text, note
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    if b"\x00" in data:
        raise _refuse(
            name,
            f"is not a text table (it holds NUL bytes, e.g. at byte {data.index(0)}); " + _SAVE_AS,
        )
    from charset_normalizer import from_bytes

    best = from_bytes(data[:1_000_000]).best()
    if best is None or best.encoding is None:
        raise _refuse(
            name,
            f"is not UTF-8 text (byte {first_bad} is not) and its encoding could not be "
            "recognised; " + _SAVE_AS,
        )
    try:
        text = data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError):
        raise _refuse(
            name,
            f"is not UTF-8 text and does not decode as {best.encoding} either; " + _SAVE_AS,
        ) from None
    label = best.encoding.replace("_", "-")
    return text, (
        f"read as {label} text (detected: the file is not UTF-8); check that its labels "
        "read correctly"
    )


def read_table(path: str | Path) -> tuple[pd.DataFrame, str | None]:
    """A table file as text cells (every column a string) and a note on how it was
    read (None for a plain UTF-8 CSV); :class:`InputError` if it cannot be read."""
    name = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise _refuse(name, f"cannot be read ({exc.strerror})") from None
    if len(data) > MAX_BYTES:
        raise _refuse(
            name, f"is larger than {MAX_BYTES // 2**20} MiB: not a table of counts or magnitudes"
        )
    if data.startswith(b"PK\x03\x04"):
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise _refuse(name, "starts like a zip file but is not one; " + _SAVE_AS)
        return _workbook(name, data)
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise _refuse(name, "is an old Excel workbook (.xls), which is not read; " + _SAVE_AS)
    text, note = decode(name, data)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise _refuse(name, f"cannot be read as CSV: {exc}") from None
    return frame, note
