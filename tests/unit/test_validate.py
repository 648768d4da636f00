"""Value checks of provider files, one rule at a time, on small hand-written files:
what a data manager would expect to be accepted, and what refused."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from fivesafes.data.validate import MAX_REPORTED, check_values, read_provider_file
from fivesafes.datasets import AREAS, HOSPITAL_ADMISSIONS, PUPIL_CENSUS, Dataset
from fivesafes.errors import InputError

PUPIL = {
    "upn": "A123456789012",
    "forename": "Ann",
    "surname": "Lee",
    "date_of_birth": "2008-05-17",
    "sex": "F",
    "postcode": "QB2 0XN",
    "academic_year": "2015",
    "school_id": "8012004",
    "la_code": "X06000002",
    "area_code": "X01000013",
    "year_group": "2",
    "fsm": "0",
    "sen_provision": "N",
    "sen_type": "",
    "ethnicity": "WBRI",
    "attainment_score": "50.5",
    "ks1_points": "",
    "ks2_scaled_score": "",
    "ks4_attainment8": "",
    "sessions_absent": "4",
    "fixed_term_exclusions": "0",
    "permanent_exclusion": "0",
}
ADMISSION = {
    "nhs_number": "3530853224",
    "forename": "John",
    "surname": "Bailey",
    "date_of_birth": "18/10/2002",
    "sex": "M",
    "postcode": "QC2 1XD",
    "admission_date": "06/08/2009",
    "discharge_date": "",
    "diagnosis_chapter": "19",
    "self_harm": "0",
    "ethnicity": "WBRI",
    "area_code": "X01000042",
}
FILES = {
    PUPIL_CENSUS.name: "pupil_census_2015.csv",
    HOSPITAL_ADMISSIONS.name: "hospital_admissions.csv",
}


def write(folder: Path, ds: Dataset, rows: list[dict[str, str]]) -> Path:
    path = folder / (FILES[ds.name] if ds.name in FILES else ds.file_name())
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(ds.column_names))
        w.writeheader()
        w.writerows(rows)
    return path


def check(path: Path, ds: Dataset) -> None:
    table = read_provider_file(path, ds)
    con = duckdb.connect()
    try:
        con.register("incoming", table)
        check_values(con, "incoming", ds, path.name)
    finally:
        con.close()


def test_the_valid_rows_pass(tmp_path: Path):
    check(write(tmp_path, PUPIL_CENSUS, [PUPIL, PUPIL]), PUPIL_CENSUS)
    check(write(tmp_path, HOSPITAL_ADMISSIONS, [ADMISSION]), HOSPITAL_ADMISSIONS)


ACCEPTED = [
    ("sessions_absent", "0"),
    ("sessions_absent", "400"),
    ("sessions_absent", " 7 "),
    ("academic_year", "+2015"),
    ("attainment_score", "0"),
    ("attainment_score", "99.95"),
    ("attainment_score", "1e1"),
    ("date_of_birth", "2008-02-29"),
    ("date_of_birth", "1900-01-01"),
    ("year_group", "R"),
    ("sen_type", "ASD"),
    ("ethnicity", "REFU"),
    ("ethnicity", ""),
    ("postcode", "AB12 3CD"),
    ("postcode", ""),
    ("upn", ""),
    ("forename", "Zoë"),
    ("surname", "O'Neill-Ní Bhriain, Jr"),
]


@pytest.mark.parametrize(("field", "value"), ACCEPTED, ids=lambda v: repr(v))
def test_accepted_values(tmp_path: Path, field: str, value: str):
    check(write(tmp_path, PUPIL_CENSUS, [PUPIL, {**PUPIL, field: value}]), PUPIL_CENSUS)


REFUSED = [
    ("sessions_absent", "three", "is not a whole number"),
    ("sessions_absent", "3.5", "is not a whole number"),
    ("sessions_absent", "4.0", "is not a whole number"),
    ("sessions_absent", "1e2", "is not a whole number"),
    ("sessions_absent", "0x10", "is not a whole number"),
    ("sessions_absent", "1_0", "is not a whole number"),
    ("sessions_absent", "٣", "is not a whole number"),
    ("sessions_absent", "99999999999999999999", "is not a whole number"),
    ("sessions_absent", "-1", "is below the minimum 0"),
    ("sessions_absent", "401", "is above the maximum 400"),
    ("sessions_absent", "", "is required but empty"),
    ("attainment_score", "fifty", "is not a number"),
    ("attainment_score", "100.01", "is above the maximum 100"),
    ("fsm", "Y", "is not a flag (0 or 1)"),
    ("fsm", "true", "is not a flag (0 or 1)"),
    ("fsm", "2", "is not a flag (0 or 1)"),
    ("date_of_birth", "2007-02-29", "is not a real date in the form YYYY-MM-DD"),
    ("date_of_birth", "2008-13-01", "is not a real date in the form YYYY-MM-DD"),
    ("date_of_birth", "17/05/2008", "is not a real date in the form YYYY-MM-DD"),
    ("date_of_birth", "1899-12-31", "is a date outside 1900-2100"),
    ("date_of_birth", "", "is required but empty"),
    ("sex", "m", "is not a known code"),
    ("sex", "U", "is not a known code"),
    ("year_group", "14", "is not a known code"),
    ("year_group", "Y2", "is not a known code"),
    ("sen_provision", "S", "is not a known code"),
    ("ethnicity", "White", "is not a known code"),
    ("postcode", "qb2 0xn", "is not in the expected form"),
    ("postcode", "QB20XN", "is not in the expected form"),
    ("upn", "123456789012", "is not in the expected form"),
    ("school_id", "801200", "is not in the expected form"),
    ("la_code", "E06000002", "is not in the expected form"),
    ("forename", "", "is required but empty"),
    ("surname", " \t ", "is required but empty"),
    ("attainment_score", "nan", "is not a number"),
    ("attainment_score", "-inf", "is not a number"),
    ("ks1_points", "Infinity", "is not a number"),
]


@pytest.mark.parametrize(("field", "value", "says"), REFUSED, ids=lambda v: repr(v))
def test_refused_values_name_row_field_and_value(tmp_path: Path, field: str, value: str, says):
    path = write(tmp_path, PUPIL_CENSUS, [PUPIL, PUPIL, {**PUPIL, field: value}, PUPIL])
    with pytest.raises(InputError) as caught:
        check(path, PUPIL_CENSUS)
    err = caught.value
    assert (err.file, err.row, err.field, err.more) == (path.name, 3, field, 0)
    assert says in str(err)
    assert str(err).startswith(f"pupil_census_2015.csv, row 3 (line 4), field '{field}': ")
    if value.strip():
        assert err.value == value


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("admission_date", "2009-08-06", "DD/MM/YYYY"),
        ("admission_date", "31/02/2009", "DD/MM/YYYY"),
        ("admission_date", "08/06/09", "outside 1900-2100"),
        ("date_of_birth", "2002-10-18", "DD/MM/YYYY"),
        ("discharge_date", "2009-08-12", "DD/MM/YYYY"),
        ("nhs_number", "353 085 3224", "expected form"),
        ("diagnosis_chapter", "9", "known code"),
        ("ethnicity", "NOBT", "known code"),  # schools' code, not the NHS's
        ("self_harm", "", "required"),
    ],
)
def test_hospital_dates_are_day_month_year(tmp_path: Path, field: str, value: str, says: str):
    check(write(tmp_path, HOSPITAL_ADMISSIONS, [ADMISSION]), HOSPITAL_ADMISSIONS)
    path = write(tmp_path, HOSPITAL_ADMISSIONS, [ADMISSION, {**ADMISSION, field: value}])
    with pytest.raises(InputError) as caught:
        check(path, HOSPITAL_ADMISSIONS)
    assert (caught.value.row, caught.value.field) == (2, field)
    assert says in str(caught.value)


def test_problems_are_listed_by_row_and_all_counted(tmp_path: Path):
    rows = [dict(PUPIL) for _ in range(30)]
    rows[4]["fsm"] = "Y"
    rows[4]["sex"] = "X"  # same row: sex comes before fsm in the file
    rows[2]["sessions_absent"] = "-3"
    for r in rows[10:]:
        r["year_group"] = "13"
    with pytest.raises(InputError) as caught:
        check(write(tmp_path, PUPIL_CENSUS, rows), PUPIL_CENSUS)
    err = caught.value
    assert (err.row, err.field, err.value) == (3, "sessions_absent", "-3")
    assert err.more == 3 + 20 - 1
    assert "and 22 more problems in this file" in str(err)
    listed = [(p.row, p.field) for p in err.problems]
    assert len(listed) == MAX_REPORTED
    assert listed[:3] == [(3, "sessions_absent"), (5, "sex"), (5, "fsm")]
    assert listed[3:] == [(r, "year_group") for r in range(11, 11 + MAX_REPORTED - 3)]


def test_one_more_problem_is_singular(tmp_path: Path):
    rows = [{**PUPIL, "fsm": "Y"}, {**PUPIL, "fsm": "N"}]
    with pytest.raises(InputError, match=r"; and 1 more problem in this file\."):
        check(write(tmp_path, PUPIL_CENSUS, rows), PUPIL_CENSUS)


def test_byte_order_mark_crlf_and_quoting_are_fine(tmp_path: Path):
    path = tmp_path / "areas.csv"
    path.write_bytes(
        b"\xef\xbb\xbf" + b'"area_code","area_name","la_code","la_name","deprivation_rank",'
        b'"deprivation_decile","x","y","neighbours"\r\n'
        b'X01000001,"Abermere, north",X06000001,Abermere,5,1,0.5,0.5,"X01000002;X01000003"\r\n'
        b'X01000002,"St Anne\'s ""old"" town",X06000001,Abermere,6,1,1.5,0.5,\r\n'
    )
    table = read_provider_file(path, AREAS)
    assert table.column("area_name").to_pylist() == ["Abermere, north", 'St Anne\'s "old" town']
    assert table.column("__row").to_pylist() == [1, 2]
    assert table.column("neighbours").to_pylist() == ["X01000002;X01000003", None]
    check(path, AREAS)


def test_a_column_twice_in_the_header_is_named(tmp_path: Path):
    path = tmp_path / "areas.csv"
    header = ",".join([*AREAS.column_names, "la_name"])
    path.write_text(header + "\n" + "X01000001,A,X06000001,A,1,1,0,0,,A\n")
    with pytest.raises(InputError, match="column appears twice") as caught:
        read_provider_file(path, AREAS)
    assert caught.value.field == "la_name"


@pytest.mark.parametrize(
    ("delimiter", "label"), [("\t", "tabs"), ("|", "pipes"), (";", "semicolons")]
)
def test_other_delimiters_are_named(tmp_path: Path, delimiter: str, label: str):
    path = tmp_path / "areas.csv"
    path.write_text(delimiter.join(AREAS.column_names) + "\n" + delimiter.join("1" * 9) + "\n")
    with pytest.raises(InputError, match=f"separated by {label}, not commas"):
        read_provider_file(path, AREAS)


def test_an_old_excel_workbook_is_named(tmp_path: Path):
    path = tmp_path / "areas.csv"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    with pytest.raises(InputError, match="is a spreadsheet"):
        read_provider_file(path, AREAS)


def test_a_header_that_is_not_utf8_is_named(tmp_path: Path):
    path = tmp_path / "areas.csv"
    path.write_bytes(",".join(AREAS.column_names).replace("area_name", "área").encode("latin-1"))
    with pytest.raises(InputError, match="header is not UTF-8"):
        read_provider_file(path, AREAS)


def test_a_row_with_too_many_fields_in_the_middle(tmp_path: Path):
    path = tmp_path / "areas.csv"
    good = "X01000001,A,X06000001,A,1,1,0,0,"
    path.write_text(
        ",".join(AREAS.column_names) + "\n" + good + "\n" + good + ",extra\n" + good + "\n"
    )
    with pytest.raises(InputError) as caught:
        read_provider_file(path, AREAS)
    assert caught.value.row == 2
    assert "has 10 fields where the header has 9" in str(caught.value)
    assert "truncated" not in str(caught.value)


def test_a_bad_byte_after_a_multiline_field_is_placed_by_row(tmp_path: Path):
    path = tmp_path / "areas.csv"
    good = "X01000001,A,X06000001,A,1,1,0,0,"
    path.write_bytes(
        (
            ",".join(AREAS.column_names) + "\n" + 'X01000001,"two\nlines",X06000001,A,1,1,0,0,\n'
        ).encode()
        + (good + "\n").encode()
        + b"X01000001,Caf\xe9,X06000001,A,1,1,0,0,\n"
    )
    with pytest.raises(InputError) as caught:
        read_provider_file(path, AREAS)
    assert (caught.value.row, caught.value.field) == (3, "area_name")
    assert "byte 0xe9" in str(caught.value)
    assert "row 3 (line 5)" in str(caught.value)  # the quoted field took two lines


def test_a_bad_value_after_multiline_fields_and_blank_lines_names_its_real_line(tmp_path: Path):
    """Row numbers count records; the line is where the record starts in an editor."""
    path = tmp_path / "areas.csv"
    good = "X01000001,A,X06000001,A,1,1,0,0,"
    path.write_text(
        ",".join(AREAS.column_names)
        + "\n"
        + 'X01000001,"three\nline\nname",X06000001,A,1,1,0,0,\n'  # lines 2-4
        + "\n"  # line 5: blank, skipped
        + good + "\n"  # line 6
        + good.replace(",A,1,", ",A,x,") + "\n"  # line 7: row 3
    )  # fmt: skip
    table = read_provider_file(path, AREAS)
    con = duckdb.connect()
    con.register("incoming", table)
    with pytest.raises(InputError) as caught:
        check_values(con, "incoming", AREAS, path.name, path)
    assert caught.value.row == 3 and caught.value.line == 7
    assert str(caught.value).startswith("areas.csv, row 3 (line 7), field ")
