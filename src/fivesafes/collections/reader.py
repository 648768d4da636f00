"""Read a provider's return: a CSV file checked as a whole before any rule runs.

The checks of :mod:`fivesafes.data.validate` (a spreadsheet saved with a .csv
name, not UTF-8, another delimiter, empty, header only, a missing, unknown or
repeated column, rows with the wrong number of fields: a truncated file) apply
to returns too; this module adds the checks that a file is text at all (binary
junk, NUL bytes) and turns anything the CSV parser could still raise into an
:class:`~fivesafes.errors.InputError` naming the file, so that a provider never
sees a stack trace.
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pyarrow as pa

from fivesafes.collections.spec import CollectionSpec
from fivesafes.data.validate import read_provider_file
from fivesafes.errors import FivesafesError, InputError

#: A return larger than this is refused before it is read (bytes).
MAX_BYTES = 2 << 30
CONSEQUENCE = "Nothing from this file was stored."


def read_return(path: Path, spec: CollectionSpec) -> pa.Table:
    """The return at ``path`` as an Arrow table of strings (one column per column
    of the specification, plus ``__row``: 1 = first data row)."""
    shown = path.name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(
            shown, f"cannot be read ({exc.strerror})", consequence=CONSEQUENCE
        ) from None
    if size > MAX_BYTES:
        raise InputError(
            shown,
            f"is {size / 2**30:.1f} GiB, more than a return may be ({MAX_BYTES / 2**30:.0f} GiB)",
            consequence=CONSEQUENCE,
        )
    with path.open("rb") as fh:
        head = fh.read(65536)
    if b"\x00" in head:
        hint = (
            "it looks like UTF-16 text; save it as CSV UTF-8"
            if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head[1:2] == b"\x00"
            else "it looks like a binary file, not a CSV file"
        )
        if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            hint = "it is a spreadsheet, not a CSV file; export it as CSV (UTF-8)"
        raise InputError(shown, f"is not a text file: {hint}", consequence=CONSEQUENCE)
    _check_utf8(path, spec)
    try:
        table = read_provider_file(path, spec.dataset())
    except FivesafesError:
        raise
    except (pa.ArrowException, csv.Error, UnicodeError, ValueError, StopIteration, IndexError):
        raise InputError(
            shown,
            "could not be read as a CSV file (comma-separated, UTF-8, with a header row)",
            consequence=CONSEQUENCE,
        ) from None
    names = [*spec.column_names, "__row"]
    return table.select(names)


def _check_utf8(path: Path, spec: CollectionSpec) -> None:
    """Refuse a file that is not UTF-8 throughout, naming the row and field of the
    first byte that is not (the CSV parser would otherwise meet it mid-row)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    lines_before = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad_at = offset + exc.start
                line_no = lines_before + chunk.count(b"\n", 0, max(0, exc.start)) + 1
                raise _not_utf8(path, spec, bad_at, line_no, chunk[exc.start]) from None
            lines_before += chunk.count(b"\n")
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise InputError(
                path.name,
                "ends in the middle of a character: the file is truncated or not UTF-8",
                consequence=CONSEQUENCE,
            ) from None


def _not_utf8(path: Path, spec: CollectionSpec, at: int, line_no: int, byte: int) -> InputError:
    message = f"is not UTF-8 text (byte {byte:#x}); save the file as CSV UTF-8"
    if line_no == 1:
        return InputError(path.name, message, consequence=CONSEQUENCE)
    with path.open("rb") as fh:
        fh.seek(max(0, at - 65536))
        before = fh.read(at - max(0, at - 65536))
        rest = fh.readline()
    line = before.rsplit(b"\n", 1)[-1] + rest
    field = None
    try:
        values = next(csv.reader(io.StringIO(line.decode("utf-8", errors="surrogateescape"))))
        header = list(spec.column_names)
        with path.open("rb") as fh:
            first = fh.readline().decode("utf-8-sig", errors="replace").strip("\r\n")
        header = next(csv.reader(io.StringIO(first))) or header
        for j, value in enumerate(values):
            if any("\udc80" <= ch <= "\udcff" for ch in value):
                field = header[j] if j < len(header) else None
                break
    except (csv.Error, StopIteration):
        field = None
    # Rows are counted from the first after the header (quoted line breaks aside).
    return InputError(path.name, message, row=line_no - 1, field=field, consequence=CONSEQUENCE)
