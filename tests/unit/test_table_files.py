"""Tables as researchers save them (issue 14, findings 8 and 9): in their local code
page, as UTF-16, as a workbook renamed .csv, or not a table at all; and cells that a
spreadsheet would run as formulas. The disclosure check reads what can be read and
says how; it refuses the rest with a sentence (exit 2 on the command line); every
CSV it writes has formula cells made inert."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from fivesafes.errors import InputError
from fivesafes.outputs import check_table_csv, load_policy
from fivesafes.spreadsheet import inert, inert_csv, inert_frame


def fivesafes(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fivesafes.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


TABLE = [("région", "sex", "count"), ("Île-de-France", "F", "40"), ("Île-de-France", "M", "31")]
TEXT = "".join(",".join(r) + "\n" for r in TABLE)


def _check(path: Path) -> tuple[list[str], pd.DataFrame]:
    out = path.parent / "safe.csv"
    result = check_table_csv(path, "count", load_policy("acro"), out=out)
    return result.notes, pd.read_csv(out, dtype=str, keep_default_na=False)


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-16", "utf-8-sig"])
def test_a_table_in_another_encoding_is_read_and_the_note_says_which(
    tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "table.csv"
    path.write_bytes(TEXT.encode(encoding))
    notes, safe = _check(path)
    assert safe.columns[0] == "région"
    assert set(safe["région"]) == {"Île-de-France"}
    if encoding == "utf-8-sig":
        assert notes == []
    elif encoding == "utf-16":
        assert notes == ["table.csv: read as UTF-16 text"]
    else:
        assert len(notes) == 1 and "detected: the file is not UTF-8" in notes[0], notes


def test_an_xlsx_renamed_csv_is_read_from_its_first_sheet(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Counts"
    for row in TABLE:
        sheet.append([int(v) if v.isdigit() else v for v in row])
    book.create_sheet("Notes")
    buffer = io.BytesIO()
    book.save(buffer)
    path = tmp_path / "table.csv"
    path.write_bytes(buffer.getvalue())
    notes, safe = _check(path)
    assert notes == [
        "table.csv: read as an Excel workbook: its first sheet, 'Counts' (of 2; "
        "the others were not read)"
    ]
    assert list(safe["count"]) == ["40", "31"] or list(safe["status"])


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "old Excel workbook (.xls)"),
        (b"PK\x03\x04" + b"\x00" * 100, "starts like a zip file but is not one"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "not a text table"),
    ],
)
def test_what_cannot_be_read_is_refused_with_a_sentence(
    tmp_path: Path, data: bytes, said: str
) -> None:
    path = tmp_path / "table.csv"
    path.write_bytes(data)
    with pytest.raises(InputError) as caught:
        check_table_csv(path, "count", load_policy("acro"), out=tmp_path / "safe.csv")
    assert said in str(caught.value) and "Nothing was checked" in str(caught.value)
    assert not (tmp_path / "safe.csv").exists()
    run = fivesafes("outputs", "check-table", str(path), "--value", "count")
    assert run.returncode == 2, run.stderr
    assert said in run.stderr + run.stdout and "Traceback" not in run.stderr


def test_check_table_reads_latin1_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_bytes(TEXT.encode("latin-1"))
    run = fivesafes("outputs", "check-table", str(path), "--value", "count", "--json")
    assert run.returncode == 0, run.stderr
    notes = json.loads(run.stdout)["report"]["notes"]
    assert any("not UTF-8" in n for n in notes)


FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "\tx", "\rx"]


@pytest.mark.parametrize("cell", FORMULAS)
def test_formula_cells_are_made_inert_and_numbers_are_not(cell: str) -> None:
    assert inert(cell) == "'" + cell
    for number in ("-5", "+1.5", "-1e3", "12", "Asian"):
        assert inert(number) == number


def test_the_safe_version_of_a_checked_table_carries_no_formula(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text(
        "area,group,count\n"
        + "".join(
            f'A,"{c.replace(chr(34), chr(34) * 2)}",{20 + i}\n' for i, c in enumerate(FORMULAS[:4])
        )
    )
    _, safe = _check(path)
    # (labels are stripped, so a leading tab or carriage return is gone already)
    assert all(v.startswith("'") for v in safe["group"]), list(safe["group"])
    frame = inert_frame(pd.DataFrame({"=a": ["=b", 1, None]}))
    assert list(frame.columns) == ["'=a"] and frame["'=a"].tolist()[:2] == ["'=b", 1]


def test_inert_csv_keeps_a_clean_file_byte_for_byte_and_rewrites_a_bad_one() -> None:
    clean = b"a;b\r\n1;-2\r\n"
    assert inert_csv(clean) == (clean, 0)
    bad = b"a,b\r\n=1+1,@x\r\n-3,ok\r\n"
    fixed, n = inert_csv(bad)
    assert n == 2 and fixed == b"a,b\r\n'=1+1,'@x\r\n-3,ok\r\n"
    assert inert_csv(fixed) == (fixed, 0)
