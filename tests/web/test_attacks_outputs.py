"""The airlock's outputs route attacked with what issue 14 found (findings 5, 8, 9):
a hard link to the identifier zone in the workspace's outputs folder, tables that are
not UTF-8 or not tables at all, and formula cells meant for the checker's or the
reader's spreadsheet."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from test_attacks import APPROVED, _start, _workspace, bundles, db  # noqa: F401

from fivesafes.appdb.models import ReleaseRequest
from fivesafes.demo.projects import FLAGGED_TABLE
from fivesafes.projects import applications as apps


def _outputs(db: Session, request_path: str) -> list[Any]:  # noqa: F811
    db.expire_all()
    req = db.get(ReleaseRequest, int(request_path.rsplit("/", 1)[1]))
    assert req is not None
    return list(req.outputs)


def test_a_hard_link_to_the_identifier_zone_is_not_offered_or_read(
    client: Any,
    db: Session,  # noqa: F811
    tmp_path: Path,
) -> None:
    secret = tmp_path / "identifiers" / "persons.csv"
    secret.parent.mkdir()
    secret.write_text("nhs_number,name\n9434765919,Jane Doe\n")
    outputs = _workspace(db, tmp_path)
    (outputs / "by_area.csv").write_text(FLAGGED_TABLE)
    os.link(secret, outputs / "innocent.csv")
    os.mkfifo(outputs / "pipe.csv")

    me = client.login_as("researcher2")
    page = me.get(f"/projects/{APPROVED}/workspace")
    assert "by_area.csv" in page.text
    assert "innocent.csv" not in page.text and "pipe.csv" not in page.text
    request_path = _start(me)
    token = me.csrf_token(request_path)
    for chosen in ("innocent.csv", "pipe.csv"):
        refused = me.post(
            f"{request_path}/outputs",
            data={"csrf_token": token, "workspace_file": chosen, "description": "x"},
        )
        assert refused.status_code == 422 and "not among the workspace" in refused.text
    assert _outputs(db, request_path) == []
    # listed as a file with one link, then linked to from elsewhere before it is read
    os.link(outputs / "by_area.csv", tmp_path / "elsewhere.csv")
    refused = me.post(
        f"{request_path}/outputs",
        data={"csrf_token": token, "workspace_file": "by_area.csv", "description": "x"},
    )
    assert refused.status_code == 422 and "not among the workspace" in refused.text
    # and the open file itself is checked (fstat), whatever the listing said
    with pytest.raises(OSError, match="one link"):
        apps.read_workspace_output(outputs / "by_area.csv")
    with pytest.raises(OSError):
        apps.read_workspace_output(outputs / "innocent.csv")
    (tmp_path / "elsewhere.csv").unlink()
    added = me.post(
        f"{request_path}/outputs",
        data={"csrf_token": token, "workspace_file": "by_area.csv", "description": "A table"},
        follow_redirects=False,
    )
    assert added.status_code == 303
    assert [o.name for o in _outputs(db, request_path)] == ["by_area.csv"]


def _upload(me: Any, request_path: str, name: str, data: bytes, value: str = "persons") -> Any:
    return me.post(
        f"{request_path}/outputs",
        data={
            "csrf_token": me.csrf_token(request_path),
            "name": "",
            "description": "Persons by area and ethnicity",
            "value_column": value,
        },
        files={"upload": (name, data, "text/csv")},
        follow_redirects=False,
    )


def test_tables_not_in_utf8_are_read_and_the_rest_refused_never_a_500(
    client: Any,
    db: Session,  # noqa: F811
) -> None:
    me = client.login_as("researcher")
    request_path = _start(me)
    latin = FLAGGED_TABLE.replace("Asian", "Asiatique é").encode("latin-1")
    assert _upload(me, request_path, "latin.csv", latin).status_code == 303
    (out,) = _outputs(db, request_path)
    assert any("not UTF-8" in n for n in out.check_report["notes"])
    for name, data, said in [
        ("old.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "old Excel workbook"),
        ("zip.csv", b"PK\x03\x04" + b"\x00" * 64, "zip file"),
        ("binary.csv", b"\x00\x01\x02\xff\xfe\x00" * 50, "not a text table"),
    ]:
        refused = _upload(me, request_path, name, data)
        assert refused.status_code == 422, (name, refused.status_code)
        assert said in refused.text
    assert len(_outputs(db, request_path)) == 1


def test_formula_cells_are_inert_in_the_stored_output_and_the_bundle(
    client: Any,
    db: Session,  # noqa: F811
) -> None:
    me = client.login_as("researcher")
    request_path = _start(me)
    evil = (
        b'area,note\r\nA,"=HYPERLINK(""http://evil"",""x"")"\r\n'
        b"B,+cmd|' /C calc'!A0\r\nC,@SUM(1)\r\nD,-5\r\n"
    )
    assert _upload(me, request_path, "notes.csv", evil, value="").status_code == 303
    (out,) = _outputs(db, request_path)
    stored = bytes(out.content).decode()
    assert "'=HYPERLINK" in stored and "'+cmd" in stored and "'@SUM" in stored
    assert "\r\nD,-5\r\n" in stored
    # one stored before the rule (bytes with a formula): the bundle makes it inert
    from fivesafes.outputs.bundle import BundleOutput, bundle_files, sha256_bytes

    raw = b"a,b\n=1+1,2\n"
    files = bundle_files(
        {"id": 1},
        [BundleOutput("t.csv", "d", raw, sha256_bytes(raw))],
        policy={},
        released_by="x",
        released_at="now",
    )
    assert files["outputs/t.csv"] == b"a,b\n'=1+1,2\n"
