"""Split-file ingest as a data manager sees it: every file in, the same rows in both
zones, bad files refused with file, row and field named and nothing stored,
nothing duplicated, and no half-written ingest after a crash."""

from __future__ import annotations

import csv
import importlib
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from ingest_cases import BAD_FILES, BadFile, read_rows

from fivesafes.data import IngestSummary, ingest, open_store, store_summary
from fivesafes.datasets import BY_NAME, DATASETS, dataset_for_file
from fivesafes.errors import FivesafesError, InputError

ingest_module = importlib.import_module("fivesafes.data.ingest")  # the name `ingest` is shadowed


def provider_files(world: Path) -> list[Path]:
    return sorted((world / "provider").glob("*.csv")) + sorted((world / "reference").glob("*.csv"))


def data_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


def rows_per_dataset(world: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for f in provider_files(world):
        ds = dataset_for_file(f.name)
        assert ds is not None, f"{f.name} matches no dataset"
        counts[ds.name] += data_rows(f)
    return counts


def zone_counts(store: Path, zone: str) -> dict[str, int]:
    con = duckdb.connect(str(store / f"{zone}.duckdb"), read_only=True)
    try:
        return {
            d.name: con.execute(f'SELECT count(*) FROM "{d.name}"').fetchone()[0] for d in DATASETS
        }
    finally:
        con.close()


# --- a whole world ------------------------------------------------------------------


def test_every_provider_file_of_a_world_is_ingested(world: Path, world_ingest: IngestSummary):
    expected = {f.name: data_rows(f) for f in provider_files(world)}
    assert len(expected) > 50  # 18 yearly pupil censuses and more
    got = {f.file: f.rows for f in world_ingest.files}
    assert got == expected
    assert {f.status for f in world_ingest.files} == {"ingested"}
    assert world_ingest.skipped == []  # nothing unknown in provider/ or reference/
    for f in world_ingest.files:
        assert f.dataset == dataset_for_file(f.file).name
    assert world_ingest.rows_ingested == sum(expected.values())


def test_the_truth_is_never_ingested(world_store: Path):
    con = duckdb.connect(str(world_store / "identifiers.duckdb"), read_only=True)
    try:
        files = {r[0] for r in con.execute("SELECT file_name FROM _ingests").fetchall()}
    finally:
        con.close()
    assert not files & {"people.csv", "records.csv", "effects.json", "world.json"}


def test_both_zones_hold_exactly_the_rows_of_the_files(world: Path, world_store: Path):
    expected = rows_per_dataset(world)
    assert set(expected) == {d.name for d in DATASETS}
    assert zone_counts(world_store, "identifiers") == dict(expected)
    assert zone_counts(world_store, "content") == dict(expected)
    summary = store_summary(world_store)
    assert {k: v["identifier_rows"] for k, v in summary.items()} == dict(expected)
    assert {k: v["content_rows"] for k, v in summary.items()} == dict(expected)


def test_each_file_is_in_the_identifier_zone_row_for_row(world: Path, world_store: Path):
    con = duckdb.connect(str(world_store / "identifiers.duckdb"), read_only=True)
    try:
        for f in provider_files(world):
            ds = dataset_for_file(f.name)
            rows = con.execute(
                f"SELECT min(source_row), max(source_row), count(DISTINCT source_row), count(*) "
                f'FROM "{ds.name}" WHERE source_file = ?',
                [f.name],
            ).fetchone()
            n = data_rows(f)
            assert rows == (1, n, n, n), f.name
    finally:
        con.close()


@pytest.mark.parametrize("ds", DATASETS, ids=lambda d: d.name)
def test_record_ids_are_unique_and_the_same_in_both_zones(world_store: Path, ds):
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{world_store / 'identifiers.duckdb'}' AS idz (READ_ONLY)")
        con.execute(f"ATTACH '{world_store / 'content.duckdb'}' AS cz (READ_ONLY)")
        for zone in ("idz", "cz"):
            n, distinct, nulls = con.execute(
                f"SELECT count(*), count(DISTINCT record_id), count_if(record_id IS NULL) "
                f'FROM {zone}."{ds.name}"'
            ).fetchone()
            assert n > 0 and distinct == n and nulls == 0, zone
        unmatched = con.execute(
            f'SELECT count(*) FROM idz."{ds.name}" i FULL JOIN cz."{ds.name}" c '
            "USING (record_id) WHERE i.record_id IS NULL OR c.record_id IS NULL"
        ).fetchone()[0]
        assert unmatched == 0
    finally:
        con.close()


@pytest.mark.parametrize("file", ["cla_episodes.csv", "hospital_admissions.csv"])
def test_split_keeps_each_record_whole(world: Path, world_store: Path, file: str):
    """Joining the zones on record_id gives back every provider row as it was sent:
    the split neither loses nor mixes up rows (birth year and month included)."""
    ds = dataset_for_file(file)
    rows = read_rows(world / "provider" / file)
    header = rows[0]
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{world_store / 'identifiers.duckdb'}' AS idz (READ_ONLY)")
        con.execute(f"ATTACH '{world_store / 'content.duckdb'}' AS cz (READ_ONLY)")
        joined = con.execute(
            f"SELECT i.source_row, i.forename, i.surname, i.date_of_birth, c.* "
            f'FROM idz."{ds.name}" i JOIN cz."{ds.name}" c USING (record_id) '
            "WHERE i.source_file = ? ORDER BY i.source_row",
            [file],
        )
        names = [d[0] for d in joined.description]
        records = joined.fetchall()
    finally:
        con.close()
    assert len(records) == len(rows) - 1
    fmt = ds.column("date_of_birth").date_format
    for rec in records:
        got = dict(zip(names, rec, strict=True))
        sent = dict(zip(header, rows[got["source_row"]], strict=True))
        assert got["forename"] == sent["forename"]
        assert got["surname"] == sent["surname"]
        assert got["date_of_birth"].strftime(fmt) == sent["date_of_birth"]
        assert (got["birth_year"], got["birth_month"]) == (
            got["date_of_birth"].year,
            got["date_of_birth"].month,
        )
        assert got["sex"] == sent["sex"]
        assert (got["area_code"] or "") == sent["area_code"]
        first_date = next(c for c in ds.content_columns if c.kind == "date")
        assert got[first_date.name].strftime(first_date.date_format) == sent[first_date.name]


def test_record_ids_are_random_not_derived_from_the_data(world: Path, tmp_path: Path):
    files = [world / "provider" / "cla_episodes.csv", world / "provider" / "cin_census_2015.csv"]
    ids = []
    for name in ("a", "b"):
        ingest(files, tmp_path / name)
        con = duckdb.connect(str(tmp_path / name / "identifiers.duckdb"), read_only=True)
        try:
            ids.append(
                {
                    (r[0], r[1]): r[2]
                    for r in con.execute(
                        "SELECT source_file, source_row, record_id FROM cla_episodes UNION ALL "
                        "SELECT source_file, source_row, record_id FROM cin_census"
                    ).fetchall()
                }
            )
        finally:
            con.close()
    a, b = ids
    assert a.keys() == b.keys() and len(a) > 40
    assert not set(a.values()) & set(b.values())  # the same rows, none with the same id
    assert all(uuid.UUID(str(v)).version == 4 for v in a.values())
    assert len({str(v)[:8] for v in a.values()}) > 0.9 * len(a)  # not sequential


# --- bad files ------------------------------------------------------------------------


@pytest.mark.parametrize("case", BAD_FILES, ids=lambda c: c.id)
def test_a_bad_file_is_refused_naming_file_row_and_field_and_nothing_is_stored(
    case: BadFile, world: Path, base_store: Path, snapshot, tmp_path: Path
):
    bad = case.write(world, tmp_path / "returns")
    before = snapshot(base_store)
    assert len(before["ledger"]) == 4  # the store already holds other files
    with pytest.raises(FivesafesError) as caught:
        ingest([bad], base_store)
    err = caught.value
    message = str(err)
    assert message.startswith(bad.name)
    assert case.says in message
    assert "Nothing from this file was stored" in message
    row = case.expected_row(world)
    if row is not None:
        assert isinstance(err, InputError)
        assert err.row == row
        assert f"row {row} (line {row + 1})" in message
    if case.field is not None:
        assert isinstance(err, InputError)
        assert err.field == case.field
        assert f"'{case.field}'" in message
    if case.value is not None:
        assert err.value == case.value
    assert snapshot(base_store) == before


def test_a_bad_file_among_good_ones_stops_there_and_keeps_the_good_ones(
    world: Path, base_store: Path, snapshot, tmp_path: Path
):
    good = world / "provider" / "cla_episodes.csv"
    bad = next(c for c in BAD_FILES if c.id == "unknown-code").write(world, tmp_path / "r")
    before = snapshot(base_store)
    with pytest.raises(InputError, match=r"pupil_census_2015\.csv, row 8 "):
        ingest([good, bad], base_store)
    after = snapshot(base_store)
    assert after["identifiers"]["cla_episodes"][0] == data_rows(good)
    assert "pupil_census" in before["identifiers"]
    assert after["identifiers"]["pupil_census"] == before["identifiers"]["pupil_census"]
    assert after["content"]["pupil_census"] == before["content"]["pupil_census"]
    new = [r for r in after["ledger"] if r not in before["ledger"]]
    assert [r[2] for r in new] == [good.name]


def test_a_file_read_ahead_of_a_refused_one_is_not_stored(
    world: Path, base_store: Path, snapshot, tmp_path: Path
):
    """Ingest reads the next file while it writes one: a file after the refused one
    has been read and checked, but must not be stored."""
    first = world / "provider" / "cla_episodes.csv"
    bad = next(c for c in BAD_FILES if c.id == "unknown-code").write(world, tmp_path / "r")
    after_bad = world / "provider" / "hospital_admissions.csv"  # not in the base store
    before = snapshot(base_store)
    with pytest.raises(InputError, match=r"pupil_census_2015\.csv, row 8 "):
        ingest([first, bad, after_bad], base_store)
    new = [r for r in snapshot(base_store)["ledger"] if r not in before["ledger"]]
    assert [r[2] for r in new] == [first.name]


def test_two_copies_in_one_run_are_stored_once(world: Path, tmp_path: Path):
    """The copy is read while the original is written; it is still found to be the
    same content when its turn comes."""
    original = world / "provider" / "cla_episodes.csv"
    copy = tmp_path / "copies" / "cla_episodes_copy.csv"
    copy.parent.mkdir()
    shutil.copyfile(original, copy)
    result = ingest([original, copy], tmp_path / "store", dataset="cla_episodes")
    assert [(f.file, f.status) for f in result.files] == [
        ("cla_episodes.csv", "ingested"),
        ("cla_episodes_copy.csv", "already ingested"),
    ]
    assert result.rows_ingested == data_rows(original)


def test_every_problem_is_counted_and_the_first_twenty_listed(
    world: Path, tmp_path: Path, base_store: Path, snapshot
):
    rows = read_rows(world / "provider" / "pupil_census_2015.csv")
    col = rows[0].index("fsm")
    for r in rows[1:31]:
        r[col] = "Y"
    path = tmp_path / "pupil_census_2015.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    before = snapshot(base_store)
    with pytest.raises(InputError) as caught:
        ingest([path], base_store)
    err = caught.value
    assert (err.row, err.field, err.more) == (1, "fsm", 29)
    assert "and 29 more problems" in str(err)
    assert [p.row for p in err.problems] == list(range(1, 21))
    assert snapshot(base_store) == before


# --- idempotence ----------------------------------------------------------------------


def test_ingesting_the_same_world_twice_adds_nothing(
    world: Path, world_store: Path, tmp_path: Path, snapshot
):
    store = tmp_path / "store"
    shutil.copytree(world_store, store)
    before = snapshot(store)
    again = ingest([world], store)
    assert {f.status for f in again.files} == {"already ingested"}
    assert len(again.files) == len(provider_files(world))
    assert again.rows_ingested == 0
    assert again.to_dict()["files_already_ingested"] == len(again.files)
    assert snapshot(store) == before


def test_a_different_file_under_a_name_already_ingested_is_refused(
    world: Path, base_store: Path, tmp_path: Path, snapshot
):
    rows = read_rows(world / "provider" / "pupil_census_2014.csv")
    rows[4][rows[0].index("sessions_absent")] = "12"
    corrected = tmp_path / "pupil_census_2014.csv"
    with corrected.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    before = snapshot(base_store)
    with pytest.raises(FivesafesError) as caught:
        ingest([corrected], base_store)
    message = str(caught.value)
    assert message.startswith("pupil_census_2014.csv")
    assert "different file of the same name was already ingested" in message
    assert "new name" in message  # and says what to do
    assert snapshot(base_store) == before


def test_the_same_content_under_another_name_is_not_stored_twice(
    world: Path, base_store: Path, tmp_path: Path, snapshot
):
    renamed = tmp_path / "pupil_census_2030.csv"
    shutil.copyfile(world / "provider" / "pupil_census_2014.csv", renamed)
    before = snapshot(base_store)
    result = ingest([renamed], base_store)
    assert [(f.file, f.status, f.rows) for f in result.files] == [
        ("pupil_census_2030.csv", "already ingested", data_rows(renamed))
    ]
    assert snapshot(base_store) == before


def test_a_refused_file_can_be_ingested_once_corrected(
    world: Path, base_store: Path, tmp_path: Path
):
    case = next(c for c in BAD_FILES if c.id == "not-an-integer")
    with pytest.raises(InputError):
        ingest([case.write(world, tmp_path / "first")], base_store)
    fixed = tmp_path / "second" / case.source
    fixed.parent.mkdir()
    shutil.copyfile(world / "provider" / case.source, fixed)
    result = ingest([fixed], base_store)
    assert [f.status for f in result.files] == ["ingested"]


# --- atomicity ------------------------------------------------------------------------

CRASH = textwrap.dedent(
    """
    import importlib, os, sys
    from pathlib import Path
    module = importlib.import_module("fivesafes.data.ingest")

    def crash(stage):
        if stage == sys.argv[1]:
            os._exit(1)  # no clean-up of any kind: as if the machine died

    module._after_stage = crash
    module.ingest([Path(sys.argv[2])], Path(sys.argv[3]))
    print("not crashed")
    """
)


@pytest.mark.parametrize("stage", ["identifiers", "content"])
@pytest.mark.parametrize(
    "file",
    [
        "pupil_census_2015.csv",  # a dataset the store holds already
        "hospital_admissions.csv",  # a dataset new to the store
    ],
)
def test_a_crash_mid_ingest_leaves_the_store_as_it_was(
    world: Path, base_store: Path, snapshot, stage: str, file: str
):
    path = world / "provider" / file
    before = snapshot(base_store)
    summary_before = store_summary(base_store)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH, stage, str(path), str(base_store)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert crashed.returncode == 1, crashed.stderr
    assert "not crashed" not in crashed.stdout
    # The crash did leave a half-written ingest behind (else this test proves nothing).
    torn = snapshot(base_store)
    assert any(r[5] == "pending" for r in torn["ledger"])
    dataset = dataset_for_file(file).name
    assert torn["identifiers"][dataset][0] > before["identifiers"].get(dataset, (0,))[0]
    # Reading the store does not show it; opening it rolls it back.
    assert store_summary(base_store) == summary_before
    with open_store(base_store):
        pass
    assert snapshot(base_store) == before
    assert store_summary(base_store) == summary_before
    # And the same file then goes in whole.
    result = ingest([path], base_store)
    assert [f.status for f in result.files] == ["ingested"]
    after = store_summary(base_store)
    added = data_rows(path)
    was = summary_before.get(dataset, {"identifier_rows": 0, "content_rows": 0})
    assert after[dataset]["identifier_rows"] == was["identifier_rows"] + added
    assert after[dataset]["content_rows"] == was["content_rows"] + added


def test_a_crash_once_a_new_datasets_tables_are_made_leaves_no_empty_tables(
    world: Path, base_store: Path, snapshot
):
    path = world / "provider" / "hospital_admissions.csv"  # a dataset new to the store
    before = snapshot(base_store)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH, "tables", str(path), str(base_store)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert crashed.returncode == 1, crashed.stderr
    torn = snapshot(base_store)
    assert "hospital_admissions" in torn["identifiers"]  # the tables were made ...
    assert any(r[5] == "pending" for r in torn["ledger"])  # ... by a recorded ingest
    with open_store(base_store):
        pass
    assert snapshot(base_store) == before
    # A store left with empty tables and no ledger entry (by an older version) heals.
    with open_store(base_store) as con:
        con.execute('CREATE TABLE idz."hospital_admissions" (record_id UUID)')
        con.execute('CREATE TABLE cz."hospital_admissions" (record_id UUID)')
    with open_store(base_store):
        pass
    assert snapshot(base_store) == before


@pytest.mark.parametrize("stage", ["identifiers", "content"])
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_error_mid_ingest_leaves_the_store_as_it_was(
    world: Path, base_store: Path, snapshot, monkeypatch, stage: str, error: type
):
    def fail(at: str) -> None:
        if at == stage:
            raise error(f"failed after {at}")

    monkeypatch.setattr(ingest_module, "_after_stage", fail)
    # the first file is of a dataset new to the store, so its tables are new too
    files = [world / "provider" / "cla_episodes.csv", world / "provider" / "pupil_census_2015.csv"]
    before = snapshot(base_store)
    with pytest.raises(error, match=f"failed after {stage}"):
        ingest(files, base_store)
    assert snapshot(base_store) == before
    monkeypatch.undo()
    result = ingest(files, base_store)
    assert [f.status for f in result.files] == ["ingested", "ingested"]


def test_summary_of_a_folder_that_is_not_a_store_says_so(tmp_path: Path):
    with pytest.raises(FivesafesError, match="not a fivesafes store"):
        store_summary(tmp_path)


def test_unknown_file_names_and_paths_are_refused(world: Path, tmp_path: Path):
    odd = tmp_path / "pupils2015.csv"
    shutil.copyfile(world / "provider" / "pupil_census_2015.csv", odd)
    with pytest.raises(FivesafesError, match=r"pupils2015\.csv does not match any dataset"):
        ingest([odd], tmp_path / "store")
    with pytest.raises(FivesafesError, match="does not exist"):
        ingest([tmp_path / "nothing.csv"], tmp_path / "store")
    with pytest.raises(FivesafesError, match="unknown dataset 'pupils'"):
        ingest([odd], tmp_path / "store", dataset="pupils")
    result = ingest([odd], tmp_path / "store", dataset="pupil_census")
    assert result.files[0].rows == data_rows(odd)
    assert BY_NAME["pupil_census"].name in store_summary(tmp_path / "store")


def test_a_store_path_that_is_a_file_is_a_user_error(world: Path, tmp_path: Path):
    not_a_folder = tmp_path / "store"
    not_a_folder.write_text("")
    with pytest.raises(FivesafesError, match="not a folder"):
        ingest([world / "provider" / "cla_episodes.csv"], not_a_folder)
    assert os.path.getsize(not_a_folder) == 0
