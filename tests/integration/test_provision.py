"""Provisioning a project's workspace: content keyed by per-project pseudonyms,
proved as an attacker holding one or two workspaces would try to re-identify
someone or join two projects' extracts."""

from __future__ import annotations

import base64
import hmac
import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from fivesafes import datasets
from fivesafes.data import ingest
from fivesafes.data.link import link
from fivesafes.data.provision import ProvisionSummary, provision, pseudonymise
from fivesafes.data.store import open_store
from fivesafes.datasets import BY_NAME
from fivesafes.errors import FivesafesError
from fivesafes.synth import WorldConfig, make_world

pytestmark = pytest.mark.slow

PERSON_DATASETS = [d.name for d in datasets.PERSON_DATASETS]
ALL = [*PERSON_DATASETS, "areas"]
IDENTIFIER_COLUMNS = (
    "forename",
    "surname",
    "postcode",
    "upn",
    "nhs_number",
    "nino",
    "pnc_id",
    "child_id",
)
INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UBIGINT", "UINTEGER"}


@dataclass
class Provisioned:
    world: Path
    store: Path
    a: ProvisionSummary
    b: ProvisionSummary


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Provisioned:
    base = tmp_path_factory.mktemp("provision")
    world, store = base / "world", base / "store"
    make_world(WorldConfig(people=2000, seed=5), world)
    ingest([world], store)
    link(store)
    a = provision(store, "proj-a", ALL)
    b = provision(store, "proj_b", ALL)
    return Provisioned(world, store, a, b)


def secret_of(store: Path, project: str) -> bytes:
    with open_store(store, read_only=True) as con:
        ((secret,),) = con.execute(
            "SELECT secret FROM idz.project_secrets WHERE project = ?", [project]
        ).fetchall()
    return bytes(secret)


def expected_pseudonym(secret: bytes, person_id: int) -> str:
    """The documented construction, with the standard library's HMAC."""
    mac = hmac.digest(secret, str(person_id).encode("ascii"), "sha256")
    return base64.b32encode(mac[:10]).decode("ascii").lower()


def person_ids(store: Path) -> set[int]:
    with open_store(store, read_only=True) as con:
        return {
            r[0] for r in con.execute("SELECT DISTINCT person_id FROM idz.person_map").fetchall()
        }


def workspace(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), read_only=True)


def ws_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return sorted(
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    )


def ws_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    return [
        (t, c, str(ty))
        for t, c, ty in con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
        ).fetchall()
    ]


def pseudonyms(path: Path) -> dict[str, set[str]]:
    con = workspace(path)
    try:
        return {
            t: {
                r[0] for r in con.execute(f'SELECT DISTINCT person_pseudonym FROM "{t}"').fetchall()
            }
            for t in PERSON_DATASETS
        }
    finally:
        con.close()


def test_summary_and_manifest(provisioned: Provisioned) -> None:
    a = provisioned.a
    assert a.workspace == provisioned.store / "workspaces" / "proj-a" / "workspace.duckdb"
    assert a.workspace.is_file()
    assert a.datasets == ALL
    d = a.to_dict()
    assert d["project"] == "proj-a" and d["rows"] == a.rows and d["persons"] == a.persons > 0
    assert sorted(p.name for p in a.workspace.parent.iterdir()) == ["workspace.duckdb"]
    con = workspace(a.workspace)
    try:
        assert ws_tables(con) == sorted([*ALL, "_manifest"])
        manifest = con.execute(
            "SELECT project, dataset, rows, created_at, fivesafes_version FROM _manifest"
        ).fetchall()
    finally:
        con.close()
    assert {m[1]: m[2] for m in manifest} == a.rows
    assert {m[0] for m in manifest} == {"proj-a"}
    assert all(m[3] is not None and m[4] for m in manifest)


def test_no_identifier_record_id_or_person_id_in_the_workspace(provisioned: Provisioned) -> None:
    store = provisioned.store
    forbidden: set[str] = set()
    with open_store(store, read_only=True) as con:
        for name in PERSON_DATASETS:
            cols = [c.name for c in BY_NAME[name].identifier_columns]
            for col in IDENTIFIER_COLUMNS:
                if col in cols:
                    forbidden |= {
                        r[0]
                        for r in con.execute(
                            f'SELECT DISTINCT "{col}" FROM idz."{name}" WHERE "{col}" IS NOT NULL'
                        ).fetchall()
                    }
        for name in ALL:
            forbidden |= {
                r[0]
                for r in con.execute(
                    f'SELECT DISTINCT record_id::VARCHAR FROM idz."{name}"'
                ).fetchall()
            }
        ids = {
            r[0] for r in con.execute("SELECT DISTINCT person_id FROM idz.person_map").fetchall()
        }
    assert len(forbidden) > 10_000  # names, postcodes, reference numbers, record ids
    id_texts = {str(i) for i in ids}

    for summary in (provisioned.a, provisioned.b):
        con = workspace(summary.workspace)
        try:
            columns = ws_columns(con)
            names = {c for _, c, _ in columns}
            assert not names & {"record_id", "person_id", "date_of_birth", *IDENTIFIER_COLUMNS}
            assert all(ty != "UUID" for _, _, ty in columns)
            for t, c, ty in columns:
                if ty == "VARCHAR":
                    values = {
                        r[0]
                        for r in con.execute(
                            f'SELECT DISTINCT "{c}" FROM "{t}" WHERE "{c}" IS NOT NULL'
                        ).fetchall()
                    }
                    leaked = values & forbidden
                    assert not leaked, f"{t}.{c} holds identifiers: {sorted(leaked)[:5]}"
                    if c == "person_pseudonym":
                        assert not values & id_texts
                elif ty in INTEGER_TYPES:
                    values = {
                        r[0]
                        for r in con.execute(
                            f'SELECT DISTINCT "{c}" FROM "{t}" WHERE "{c}" IS NOT NULL'
                        ).fetchall()
                    }
                    assert values != ids, f"{t}.{c} is the global person id"
            # No pseudonym is a person id written as text.
            for t in PERSON_DATASETS:
                ((as_id,),) = con.execute(
                    f'SELECT count(*) FROM "{t}" '
                    "WHERE regexp_matches(person_pseudonym, '^[0-9]+$')"
                ).fetchall()
                assert as_id == 0
        finally:
            con.close()


def test_person_id_not_recoverable_row_by_row(provisioned: Provisioned) -> None:
    """No integer column equals, row by row, the person id behind the pseudonym."""
    secret = secret_of(provisioned.store, "proj-a")
    ids = sorted(person_ids(provisioned.store))
    back = pa.table(
        {
            "person_pseudonym": pa.array([expected_pseudonym(secret, i) for i in ids]),
            "person_id": pa.array(ids, pa.int64()),
        }
    )
    con = workspace(provisioned.a.workspace)
    try:
        con.register("back", back)
        for t, c, ty in ws_columns(con):
            if t in PERSON_DATASETS and ty in INTEGER_TYPES:
                ((same, total),) = con.execute(
                    f'SELECT count(*) FILTER (WHERE w."{c}" = b.person_id), count(*) '
                    f'FROM "{t}" w JOIN back b USING (person_pseudonym)'
                ).fetchall()
                assert same < total, f"{t}.{c} is the person id"
    finally:
        con.close()


def test_a_person_has_different_pseudonyms_in_two_projects(provisioned: Provisioned) -> None:
    sa, sb = secret_of(provisioned.store, "proj-a"), secret_of(provisioned.store, "proj_b")
    assert sa != sb and len(sa) == len(sb) == 32
    ids = person_ids(provisioned.store)
    in_a = {i: expected_pseudonym(sa, i) for i in ids}
    in_b = {i: expected_pseudonym(sb, i) for i in ids}
    assert all(in_a[i] != in_b[i] for i in ids)

    pa_, pb = pseudonyms(provisioned.a.workspace), pseudonyms(provisioned.b.workspace)
    all_a, all_b = set().union(*pa_.values()), set().union(*pb.values())
    assert all_a == set(in_a.values()) and all_b == set(in_b.values())
    assert not all_a & all_b
    for t in PERSON_DATASETS:
        assert len(pa_[t]) == len(pb[t]) > 0
        assert not pa_[t] & pb[t]


def test_reprovisioning_keeps_pseudonyms(provisioned: Provisioned) -> None:
    before = pseudonyms(provisioned.a.workspace)
    secret = secret_of(provisioned.store, "proj-a")
    again = provision(provisioned.store, "proj-a", ALL)
    assert again.workspace == provisioned.a.workspace
    assert again.rows == provisioned.a.rows and again.persons == provisioned.a.persons
    assert not again.new_secret and again.to_dict()["pseudonyms"] == "as before"
    assert pseudonyms(again.workspace) == before
    assert secret_of(provisioned.store, "proj-a") == secret
    assert sorted(p.name for p in again.workspace.parent.iterdir()) == ["workspace.duckdb"]


def test_secret_is_not_in_the_workspace_file(provisioned: Provisioned) -> None:
    for summary in (provisioned.a, provisioned.b):
        secret = secret_of(provisioned.store, summary.project)
        raw = summary.workspace.read_bytes()
        for form in (
            secret,
            secret.hex().encode(),
            secret.hex().upper().encode(),
            base64.b64encode(secret),
            base64.b32encode(secret),
        ):
            assert form not in raw
        con = workspace(summary.workspace)
        try:
            assert "project_secrets" not in ws_tables(con)
            assert not {c for _, c, _ in ws_columns(con)} & {"secret", "person_id"}
        finally:
            con.close()


def test_rows_and_content_match_the_content_zone(provisioned: Provisioned) -> None:
    """Each table is exactly the content zone's rows of its dataset, with the
    person id behind each record replaced by that person's pseudonym: so rows per
    table match, and one person's records share one pseudonym (and no two
    persons share one)."""
    summary = provisioned.a
    secret = secret_of(provisioned.store, "proj-a")
    ids = sorted(person_ids(provisioned.store))
    table = pa.table(
        {
            "person_id": pa.array(ids, pa.int64()),
            "person_pseudonym": pa.array([expected_pseudonym(secret, i) for i in ids]),
        }
    )
    with open_store(provisioned.store, read_only=True) as con:
        con.execute(f"ATTACH '{summary.workspace}' AS ws (READ_ONLY)")
        con.register("expected", table)
        for name in ALL:
            ((rows,),) = con.execute(f'SELECT count(*) FROM cz."{name}"').fetchall()
            ((got,),) = con.execute(f'SELECT count(*) FROM ws."{name}"').fetchall()
            assert got == rows == summary.rows[name] > 0, name
            if name == "areas":
                want = f'SELECT * EXCLUDE (record_id) FROM cz."{name}"'
            else:
                want = (
                    f'SELECT e.person_pseudonym, c.* EXCLUDE (record_id) FROM cz."{name}" c '
                    "JOIN idz.person_map m ON m.record_id = c.record_id AND m.dataset = "
                    f"'{name}' JOIN expected e USING (person_id)"
                )
            for x, y in (
                (want, f'SELECT * FROM ws."{name}"'),
                (f'SELECT * FROM ws."{name}"', want),
            ):
                ((diff,),) = con.execute(f"SELECT count(*) FROM ({x} EXCEPT ALL {y})").fetchall()
                assert diff == 0, name
            if name != "areas":
                ((persons, names),) = con.execute(
                    "SELECT count(DISTINCT person_id), "
                    f'(SELECT count(DISTINCT person_pseudonym) FROM ws."{name}") '
                    f"FROM idz.person_map WHERE dataset = '{name}'"
                ).fetchall()
                assert persons == names
        ((persons,),) = con.execute(
            "SELECT count(DISTINCT person_id) FROM idz.person_map"
        ).fetchall()
    assert summary.persons == persons


def test_pseudonymise_is_hmac_sha256() -> None:
    for secret in (b"\x00" * 32, bytes(range(32)), b"k" * 100):
        ids = [0, 1, 7, 123456789, 2**40]
        assert pseudonymise(secret, ids) == [expected_pseudonym(secret, i) for i in ids]
    assert pseudonymise(b"s" * 32, []) == []


def test_refuses_unknown_dataset(provisioned: Provisioned) -> None:
    with pytest.raises(FivesafesError, match=r"unknown dataset 'pupils'.*pupil_census"):
        provision(provisioned.store, "proj-a", ["pupils"])
    with pytest.raises(FivesafesError, match="no datasets"):
        provision(provisioned.store, "proj-a", [])


@pytest.mark.parametrize("name", ["", "a b", "../escape", "x.y", "proj/1", "p;drop", "é"])
def test_refuses_project_names_that_are_not_simple(provisioned: Provisioned, name: str) -> None:
    with pytest.raises(FivesafesError, match="letters, digits"):
        provision(provisioned.store, name, ["census_2021"])


def test_refuses_a_store_not_linked(provisioned: Provisioned, tmp_path: Path) -> None:
    store = tmp_path / "store"
    ingest(
        [provisioned.world / "provider" / "census_2021.csv", provisioned.world / "reference"],
        store,
    )
    with pytest.raises(FivesafesError, match="run `fivesafes link` first"):
        provision(store, "proj-a", ["census_2021"])
    assert not (store / "workspaces").exists()
    with pytest.raises(FivesafesError, match=r"not in the store.*ingest it first"):
        provision(store, "proj-a", ["hospital_admissions"])
    # Reference data needs no linkage.
    done = provision(store, "proj-a", ["areas"])
    assert done.rows["areas"] > 0 and done.persons == 0


def test_refuses_records_ingested_after_linking(provisioned: Provisioned, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(provisioned.store, store)
    con = duckdb.connect(str(store / "identifiers.duckdb"))
    try:
        con.execute(
            "DELETE FROM person_map WHERE record_id IN "
            "(SELECT record_id FROM person_map WHERE dataset = 'census_2021' LIMIT 3)"
        )
    finally:
        con.close()
    with pytest.raises(FivesafesError, match=r"3 records of census_2021.*`fivesafes link` again"):
        provision(store, "proj-c", ["census_2021"])


def test_refuses_a_folder_that_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(FivesafesError, match="not a fivesafes store"):
        provision(tmp_path / "nothing", "proj-a", ["census_2021"])
    assert not (tmp_path / "nothing").exists()


def test_a_failure_leaves_the_previous_workspace(
    provisioned: Provisioned, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    shutil.copytree(provisioned.store, store)
    first = provision(store, "proj-a", ["census_2021"])
    before = first.workspace.read_bytes()

    module = importlib.import_module("fivesafes.data.provision")

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(module, "_write_manifest", broken)
    with pytest.raises(OSError, match="disk full"):
        provision(store, "proj-a", ["census_2021", "justice_offences"])
    assert first.workspace.read_bytes() == before
    assert sorted(p.name for p in first.workspace.parent.iterdir()) == ["workspace.duckdb"]


def test_workspace_at_a_given_path(provisioned: Provisioned, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere" / "ws.duckdb"
    done = provision(provisioned.store, "proj-a", ["census_2021"], out=out)
    assert done.workspace == out and out.is_file()
    assert pseudonyms_of(out, "census_2021") <= set().union(
        *pseudonyms(provisioned.a.workspace).values()
    )
    with pytest.raises(FivesafesError, match="one of the store's zones"):
        provision(
            provisioned.store, "proj-a", ["census_2021"], out=provisioned.store / "content.duckdb"
        )


def pseudonyms_of(path: Path, table: str) -> set[str]:
    con = workspace(path)
    try:
        return {r[0] for r in con.execute(f'SELECT person_pseudonym FROM "{table}"').fetchall()}
    finally:
        con.close()
