"""Release bundles: what leaves the TRE when an airlock request is released.

A bundle is a folder (or a zip of the same files) named ``request-<id>``::

    outputs/<name>          the released outputs, byte for byte as approved (a CSV
                            stored with formula cells has them made inert, and
                            the manifest says how many)
    reports/<name>.json     each output's disclosure report (the automatic check)
    manifest.json           the request, its approvals, the policy, the audit head,
                            and the SHA-256 and size of every other file

:func:`verify_bundle` checks a bundle against its manifest: every listed file is
there with its SHA-256, and no file is there that the manifest does not list.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from fivesafes.errors import FivesafesError
from fivesafes.spreadsheet import inert_csv, is_csv_name

FORMAT = "fivesafes-release-bundle/1"
MANIFEST = "manifest.json"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class BundleOutput:
    """One approved output as it goes into a bundle."""

    name: str
    description: str
    content: bytes
    sha256: str
    report: Mapping[str, Any] | None = None
    verdict: str | None = None
    approvals: Sequence[Mapping[str, Any]] = ()


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")


#: Cell fields a released report keeps; ``value`` only for cells released as they are.
_PUBLIC_CELL_FIELDS = ("cell", "labels", "margin", "status", "rules", "safe_value")


def public_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """The disclosure report as it may leave the TRE.

    The checker's report holds the true value of every cell, and its reasons and
    notes quote them ("3 records: fewer than the threshold of 10"): inside the TRE
    that is what a checker needs, outside it would give a suppressed cell away. The
    released report keeps, per cell, its labels, status, the rules that applied and
    the published (safe) value; the true value only where it is published as it is;
    no reasons, notes, solver messages or attacker bounds (for a table of sums from
    microdata, only its kind and value and person columns: not the microdata's name
    or SHA-256). A trained model's report keeps its model
    type, policy, verdict and each attack's name, AUC and whether it found a risk
    (aggregates over the whole training set; no ROC curve). A report in another
    format keeps only its verdict."""
    if report.get("kind") == "model":
        check = report.get("model_check") or {}
        return {
            "verdict": report.get("verdict"),
            "kind": "model",
            "model_check": {
                **{k: check[k] for k in ("verdict", "model_type", "policy") if k in check},
                "attacks": [
                    {k: a[k] for k in ("name", "auc", "unsafe") if k in a}
                    for a in check.get("attacks", [])
                ],
            },
        }
    if "cells" not in report:
        return {k: report[k] for k in ("verdict", "status") if k in report}
    out: dict[str, Any] = {
        k: report[k]
        for k in ("format", "object", "policy", "status", "summary", "population", "verdict")
        if k in report
    }
    secondary = dict(report.get("secondary_suppression") or {})
    out["secondary_suppression"] = {
        k: secondary[k]
        for k in ("status", "method", "audited", "secondary_cells")
        if k in secondary
    }
    cells = []
    for cell in report["cells"]:
        public = {k: cell[k] for k in _PUBLIC_CELL_FIELDS if k in cell}
        if cell.get("status") == "pass":
            public["value"] = cell.get("value")
        cells.append(public)
    out["cells"] = cells
    table = report.get("table")
    if isinstance(table, Mapping):  # a table of sums from microdata: its columns only
        out["table"] = {k: table[k] for k in ("kind", "from", "value", "person") if k in table}
    out["note"] = (
        "The released version of the disclosure report: true values of withheld or "
        "rounded cells, and the reasons quoting them, stay inside the TRE."
    )
    return out


def bundle_files(
    request: Mapping[str, Any],
    outputs: Sequence[BundleOutput],
    *,
    policy: Mapping[str, Any],
    released_by: str,
    released_at: str,
    audit_head: tuple[int, str] | None = None,
) -> dict[str, bytes]:
    """The files of a bundle, by their path inside it (``manifest.json`` last)."""
    files: dict[str, bytes] = {}
    listed: list[dict[str, Any]] = []
    for out in outputs:
        if sha256_bytes(out.content) != out.sha256:
            raise FivesafesError(
                f"output {out.name}: its content does not match the SHA-256 that was "
                "approved; nothing was released"
            )
        path = f"outputs/{out.name}"
        # Stored before formula cells were made inert on the way in: made so here
        # (the manifest says how many; the approved SHA-256 stays in "outputs").
        content, inert_cells = inert_csv(out.content) if is_csv_name(out.name) else (out.content, 0)
        files[path] = content
        item: dict[str, Any] = {"path": path, "kind": "output", "output": out.name}
        if inert_cells:
            item["formula_cells_made_inert"] = inert_cells
        listed.append(item)
        if out.report is not None:
            rpath = f"reports/{out.name}.json"
            files[rpath] = _json_bytes(public_report(out.report))
            listed.append({"path": rpath, "kind": "disclosure_report", "output": out.name})
    for item in listed:
        data = files[item["path"]]
        item["sha256"] = sha256_bytes(data)
        item["bytes"] = len(data)
    manifest = {
        "format": FORMAT,
        "request": dict(request),
        "released_by": released_by,
        "released_at": released_at,
        "policy": dict(policy),
        "outputs": [
            {
                "name": o.name,
                "description": o.description,
                "sha256": o.sha256,
                "verdict": o.verdict,
                "approvals": [dict(a) for a in o.approvals],
            }
            for o in outputs
        ],
        "files": listed,
        "audit_head": None if audit_head is None else {"seq": audit_head[0], "hash": audit_head[1]},
    }
    files[MANIFEST] = _json_bytes(manifest)
    return files


def write_bundle(
    bundle_dir: Path,
    name: str,
    files: Mapping[str, bytes],
    *,
    as_zip: bool = False,
) -> Path:
    """Write ``files`` as ``bundle_dir/name`` (a folder) or ``bundle_dir/name.zip``.

    Written under a temporary name and renamed at the end, so a bundle is either
    whole or absent; an existing bundle is never overwritten.
    """
    bundle_dir.mkdir(parents=True, exist_ok=True)
    target = bundle_dir / (f"{name}.zip" if as_zip else name)
    if target.exists():
        raise FivesafesError(
            f"{target} already exists; move it away or choose another bundle folder"
        )
    partial = bundle_dir / f".{name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        if as_zip:
            with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for path, data in files.items():
                    zf.writestr(f"{name}/{path}", data)
        else:
            for path, data in files.items():
                dest = partial / path
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
        os.replace(partial, target)
    finally:
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        elif partial.exists():
            partial.unlink()
    return target


def _read_all(path: Path) -> dict[str, bytes]:
    """Every file of a bundle folder or zip, by its path inside the bundle."""
    if path.is_dir():
        return {
            p.relative_to(path).as_posix(): p.read_bytes()
            for p in sorted(path.rglob("*"))
            if p.is_file()
        }
    if path.is_file() and zipfile.is_zipfile(path):
        out: dict[str, bytes] = {}
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                parts = PurePosixPath(info.filename).parts
                inner = "/".join(parts[1:]) if len(parts) > 1 else info.filename
                out[inner] = zf.read(info)
        return out
    raise FivesafesError(f"{path} is not a release bundle (a folder or a .zip file)")


def read_manifest(path: Path) -> dict[str, Any]:
    """A bundle's manifest."""
    files = _read_all(path)
    if MANIFEST not in files:
        raise FivesafesError(f"{path} has no {MANIFEST}; it is not a release bundle")
    try:
        value = json.loads(files[MANIFEST])
    except ValueError as exc:
        raise FivesafesError(f"{path}: {MANIFEST} is not valid JSON ({exc})") from None
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        raise FivesafesError(f"{path}: {MANIFEST} is not a {FORMAT} manifest")
    return value


@dataclass
class BundleCheck:
    """What :func:`verify_bundle` found; ``ok`` when ``problems`` is empty."""

    path: Path
    files_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "files_checked": self.files_checked,
            "problems": self.problems,
        }


def verify_bundle(path: Path) -> BundleCheck:
    """Check every file of a bundle against the SHA-256 in its manifest, and that
    no file was added or removed."""
    result = BundleCheck(path)
    files = _read_all(path)
    manifest = read_manifest(path)
    listed = {item["path"]: item for item in manifest.get("files", [])}
    for rel, item in listed.items():
        if rel not in files:
            result.problems.append(f"{rel} is listed in the manifest but missing")
            continue
        result.files_checked += 1
        if sha256_bytes(files[rel]) != item.get("sha256"):
            result.problems.append(f"{rel} does not match its SHA-256 in the manifest")
    for rel in sorted(set(files) - set(listed) - {MANIFEST}):
        result.problems.append(f"{rel} is in the bundle but not in the manifest")
    for out in manifest.get("outputs", []):
        item = listed.get(f"outputs/{out.get('name')}")
        if item is None or item.get("sha256") != out.get("sha256"):
            result.problems.append(
                f"output {out.get('name')}: the manifest's file list does not match the "
                "SHA-256 the checkers approved"
            )
    return result
