"""Fuzzing the return reader (hypothesis): whatever the bytes, the reader either
returns the return's columns or raises an InputError naming the file, and a
submission of a malformed file leaves nothing stored. Named cases first: each
way a file is not what it claims, with the message the provider sees."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from fivesafes.appdb import add_user, migrate, session_factory
from fivesafes.collections import submissions as subs
from fivesafes.collections.models import Submission
from fivesafes.collections.reader import read_return
from fivesafes.collections.spec import load_spec
from fivesafes.errors import FivesafesError, InputError
from fivesafes.synth import returns as rt

SPEC = load_spec("cla_episodes")
GOOD = (
    "child_id,dob,sex,ethnicity,la_code,episode_start,episode_end,legal_status,"
    "placement_type,reason_for_entry,reason_for_leaving\n"
    "800-1000001,2012-05-01,M,WBRI,X06000001,2021-06-01,2021-09-01,C2,U4,N1,X1\n"
    "800-1000001,2012-05-01,M,WBRI,X06000001,2021-09-01,,C2,K2,N1,\n"
    "800-1000002,2015-01-20,F,BAFR,X06000001,2021-04-10,2022-01-05,V2,U1,N4,E13\n"
)


def write(tmp: Path, data: bytes, name: str = "return.csv") -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def test_the_good_file_reads() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        table = read_return(write(Path(tmp), GOOD.encode()), SPEC)
    assert table.num_rows == 3
    assert table.column_names == [*SPEC.column_names, "__row"]


XLSX = b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40 + b"[Content_Types].xml"
XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 200
NAMED = [
    ("an xlsx file", XLSX, "is not a text file: it is a spreadsheet, not a CSV file"),
    ("an xls file", XLS, "is not a text file: it is a spreadsheet, not a CSV file"),
    ("xlsx bytes without NULs", b"PK\x03\x04 data", "is a spreadsheet, not a CSV file"),
    ("an empty file", b"", "is empty"),
    ("only blank lines", b"\n\n \n", "is empty"),
    ("a header and no rows", GOOD.splitlines()[0].encode() + b"\n", "has a header but no rows"),
    ("semicolons", GOOD.replace(",", ";").encode(), "fields are separated by semicolons"),
    ("tabs", GOOD.replace(",", "\t").encode(), "fields are separated by tabs"),
    (
        "Latin-1 text",
        GOOD.replace("800-1000002", "800-100000\xe9").encode("latin-1"),
        "is not UTF-8 text (byte 0xe9)",
    ),
    ("UTF-16 text", GOOD.encode("utf-16"), "it looks like UTF-16 text; save it as CSV UTF-8"),
    ("binary junk", bytes(range(256)) * 4, "is not a text file"),
    (
        "truncated",
        GOOD.encode()[:-30],
        "row 3 (line 4): has 6 fields where the header has 11; the file may be truncated",
    ),
    (
        "a missing column",
        GOOD.replace(",reason_for_leaving", "").encode(),
        "the header lacks column reason_for_leaving",
    ),
    (
        "an extra column",
        GOOD.replace("reason_for_leaving\n", "reason_for_leaving,notes\n").encode(),
        "the header has column notes",
    ),
    (
        "a column twice",
        GOOD.replace("child_id,dob", "child_id,child_id").encode(),
        "column appears twice",
    ),
]


@pytest.mark.parametrize(("case", "data", "says"), NAMED, ids=[c[0] for c in NAMED])
def test_a_file_that_is_not_what_it_claims_gets_a_clear_message(
    case: str, data: bytes, says: str, tmp_path: Path
) -> None:
    with pytest.raises(InputError) as err:
        read_return(write(tmp_path, data), SPEC)
    text = str(err.value)
    assert text.startswith("return.csv"), text
    assert says in text, text
    assert text.endswith("Nothing from this file was stored."), text
    assert "\n" not in text


# --- fuzzing -------------------------------------------------------------------------------


def mutate(data: bytes, draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(
            ["truncate", "insert", "replace", "delete_line", "delimiter", "encode", "prefix"]
        )
    )
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "insert":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=20)) + data[at:]
    if kind == "replace":
        at = draw(st.integers(0, max(0, len(data) - 1)))
        return data[:at] + draw(st.binary(min_size=1, max_size=5)) + data[at + 5 :]
    if kind == "delete_line":
        lines = data.split(b"\n")
        i = draw(st.integers(0, len(lines) - 1))
        return b"\n".join(lines[:i] + lines[i + 1 :])
    if kind == "delimiter":
        return data.replace(b",", draw(st.sampled_from([b";", b"\t", b"|", b'"', b"\r"])))
    if kind == "encode":
        text = data.decode("utf-8", errors="replace") + draw(st.text(max_size=10))
        codec = draw(st.sampled_from(["utf-16", "utf-32", "cp1252", "latin-1", "utf-8-sig"]))
        return text.encode(codec, errors="replace")
    return (
        draw(st.sampled_from([b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"\x00", b"\xef\xbb\xbf"])) + data
    )


@st.composite
def malformed(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    data = GOOD.encode()
    for _ in range(draw(st.integers(1, 3))):
        data = mutate(data, draw)
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(malformed())
def test_the_reader_never_crashes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            table = read_return(write(Path(tmp), data), SPEC)
        except InputError as err:
            text = str(err)
            assert text.startswith("return.csv") and "\n" not in text, text
            return
    assert table.column_names == [*SPEC.column_names, "__row"]
    assert table.num_rows >= 1


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(malformed())
def test_a_malformed_submission_stores_nothing_or_everything(data: bytes) -> None:
    tmp = Path(tempfile.mkdtemp())
    try:
        url = f"sqlite:///{tmp / 'state.db'}"
        migrate(url)
        with session_factory(url)() as session:
            add_user(session, "ann", "data_owner")
            subs.add_provider(session, rt.la_code(0), "A")
            subs.add_member(session, rt.la_code(0), "ann")
            d = tmp / "coll"
            try:
                result = subs.submit(
                    session, "ann", "cla_episodes", 2021, write(tmp, data), directory=d
                )
            except FivesafesError as err:
                assert isinstance(err, InputError), err
                assert session.scalar(select(func.count()).select_from(Submission)) == 0
                assert list((d / "submissions").iterdir()) == []
                return
            # Read: recorded with its file, issues and reports, and no staging left.
            sub = result.submission
            folder = d / "submissions" / str(sub.id)
            assert sorted(p.name for p in folder.iterdir()) == sorted(
                ["return.csv", "issues.parquet", "report.csv", "report.html"]
            )
            assert [p.name for p in (d / "submissions").iterdir()] == [str(sub.id)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
