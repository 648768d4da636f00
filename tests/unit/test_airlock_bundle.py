"""Release bundles: written whole, and checked against their manifest."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from fivesafes.errors import FivesafesError
from fivesafes.outputs.bundle import (
    BundleOutput,
    bundle_files,
    read_manifest,
    sha256_bytes,
    verify_bundle,
    write_bundle,
)

TABLE = b"group,count\na,120\nb,340\n"


def files() -> dict[str, bytes]:
    return bundle_files(
        {"id": 7, "project": "p-001", "title": "t", "authors": ["ann"]},
        [
            BundleOutput(
                name="table.csv",
                description="counts by group",
                content=TABLE,
                sha256=sha256_bytes(TABLE),
                report={"verdict": "pass"},
                verdict="pass",
                approvals=[{"checker": "carol", "at": "2026-01-01T00:00:00+00:00"}],
            )
        ],
        policy={"name": "default", "required_reviews": 2},
        released_by="carol",
        released_at="2026-01-02T00:00:00+00:00",
        audit_head=(12, "ab" * 32),
    )


def test_a_folder_bundle_verifies(tmp_path: Path) -> None:
    path = write_bundle(tmp_path, "request-7", files())
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()) == [
        "manifest.json",
        "outputs/table.csv",
        "reports/table.csv.json",
    ]
    check = verify_bundle(path)
    assert check.ok and check.files_checked == 2
    assert check.to_dict()["problems"] == []
    assert read_manifest(path)["audit_head"] == {"seq": 12, "hash": "ab" * 32}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial left


def test_an_edited_added_or_removed_file_is_found(tmp_path: Path) -> None:
    path = write_bundle(tmp_path, "request-7", files())
    (path / "outputs" / "table.csv").write_bytes(b"group,count\na,3\n")
    (path / "outputs" / "extra.csv").write_bytes(b"x\n")
    (path / "reports" / "table.csv.json").unlink()
    assert verify_bundle(path).problems == [
        "outputs/table.csv does not match its SHA-256 in the manifest",
        "reports/table.csv.json is listed in the manifest but missing",
        "outputs/extra.csv is in the bundle but not in the manifest",
    ]


def test_a_manifest_edited_to_match_a_changed_file_is_found(tmp_path: Path) -> None:
    path = write_bundle(tmp_path, "request-7", files())
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "outputs" / "table.csv").write_bytes(b"group,count\na,3\n")
    manifest["files"][0]["sha256"] = sha256_bytes(b"group,count\na,3\n")
    (path / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_bundle(path).problems
    assert problems == [
        "output table.csv: the manifest's file list does not match the SHA-256 the checkers "
        "approved"
    ]


def test_a_zip_bundle_verifies_and_shows_tampering(tmp_path: Path) -> None:
    path = write_bundle(tmp_path, "request-7", files(), as_zip=True)
    assert path.name == "request-7.zip"
    assert verify_bundle(path).ok
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info.filename, b"x" if info.filename.endswith("table.csv") else data)
    assert verify_bundle(tampered).problems == [
        "outputs/table.csv does not match its SHA-256 in the manifest"
    ]


def test_an_existing_bundle_is_never_overwritten(tmp_path: Path) -> None:
    write_bundle(tmp_path, "request-7", files())
    with pytest.raises(FivesafesError, match="already exists"):
        write_bundle(tmp_path, "request-7", files())


def test_content_that_does_not_match_its_approved_hash_is_not_bundled() -> None:
    bad = BundleOutput("t.csv", "d", b"other", sha256_bytes(TABLE))
    with pytest.raises(FivesafesError, match="does not match the SHA-256 that was approved"):
        bundle_files({}, [bad], policy={}, released_by="c", released_at="now")


def test_something_that_is_not_a_bundle_says_so(tmp_path: Path) -> None:
    with pytest.raises(FivesafesError, match="is not a release bundle"):
        verify_bundle(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FivesafesError, match=r"has no manifest\.json"):
        verify_bundle(tmp_path / "empty")
    (tmp_path / "empty" / "manifest.json").write_text("{not json")
    with pytest.raises(FivesafesError, match="is not valid JSON"):
        verify_bundle(tmp_path / "empty")
    (tmp_path / "empty" / "manifest.json").write_text("{}")
    with pytest.raises(FivesafesError, match="is not a fivesafes-release-bundle/1 manifest"):
        verify_bundle(tmp_path / "empty")
