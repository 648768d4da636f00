"""A table of sums released through the airlock from its microdata:
``fivesafes airlock add ... --microdata --value COL [--person COL]``.

ana adds the microdata of a table of profits in which one cell is dominated by a
large loss; the airlock checks the table of sums as ``outputs check-table
--microdata`` does (the cell is withheld, the attacker's bounds are shown), bo and
cy approve it, and the bundle holds the safe table of sums, never a row of the
microdata. Bad microdata is refused naming the file, row and field, and nothing
is stored."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

#: As in test_check_table_cli: A × x is twelve small profits (10 to 21) and a loss of
#: 50,000, which dominates it; the other cells are twelve profits of thousands each.
_BASE = {("A", "x"): (10, 1), ("A", "y"): (6000, 250), ("B", "x"): (5000, 250)}
_BASE[("B", "y")] = (7000, 250)
MICRODATA = (
    "\n".join(
        [
            "region,band,profit",
            *[
                f"{r},{b},{first + step * i}"
                for (r, b), (first, step) in _BASE.items()
                for i in range(12)
            ],
            "A,x,-50000",
        ]
    )
    + "\n"
)
#: Values only the microdata holds: the loss and single profits (no sum is any of them).
DISTINCTIVE = ("50000", "5250", "6250", "7250", "A,x,21", "B,y,9750")

#: ACRO with a protection interval of 10% each way (as test_check_table_cli's).
GUARDED = """[policy]
name = "acro-10"
version = "1"
base = "acro"
protection_upper = 10
protection_lower = 10
"""
OUT = "profit.csv"


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory, fivesafes_at, one_json) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("airlock-microdata")
    fs = fivesafes_at(root / "state")
    (root / "profits_microdata.csv").write_text(MICRODATA)
    (root / "guarded.toml").write_text(GUARDED)
    docs: dict[str, Any] = {"root": root}
    for user, role in (("ana", "researcher"), ("bo", "output_checker"), ("cy", "output_checker")):
        one_json(fs("users", "add", user, "--role", role, "--json"))
    one_json(fs("airlock", "create", "--as", "ana", "--project", "p001", "--title", "P", "--json"))
    add = ("airlock", "add", "1", "--as", "ana", "--name", OUT, "--microdata", "--value")
    docs["bad amount"] = fs(
        *add,
        "profit",
        "--file",
        _write(root / "bad.csv", MICRODATA.replace("B,x,5250\n", "B,x,5250x\n")),
        "--description",
        "d",
    )
    docs["bad person"] = fs(
        *add,
        "profit",
        "--person",
        "firm",
        "--file",
        root / "profits_microdata.csv",
        "--description",
        "d",
    )
    docs["after bad"] = one_json(fs("airlock", "show", "1", "--as", "ana", "--json"))
    docs["text"] = fs(
        *add,
        "profit",
        "--policy",
        root / "guarded.toml",
        "--file",
        root / "profits_microdata.csv",
        "--description",
        "Profit by region and band, sums of firms' profits",
    )
    docs["added"] = one_json(fs("airlock", "show", "1", "--as", "ana", "--json"))
    one_json(fs("airlock", "submit", "1", "--as", "ana", "--json"))
    for checker in ("bo", "cy"):
        one_json(
            fs(*f"airlock review 1 --as {checker} --output {OUT} --decision approve --json".split())
        )
    docs["release"] = one_json(
        fs("airlock", "release", "1", "--as", "bo", "--out", root / "released", "--json")
    )
    return docs


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_the_table_of_sums_is_checked_with_the_loss_and_its_bounds_shown(journey):
    run = journey["text"]
    assert run.returncode == 0, run.stderr
    said = " ".join(run.stdout.split())
    assert "1 of the 49 contributions is negative" in said
    assert "What an attacker knows of the withheld cells of profit.csv" in said
    assert "│ A × x │ -50000 │ -50000 to" in said
    (out,) = journey["added"]["request"]["outputs"]
    assert out["verdict"] == "suppress"
    assert out["table"] == {
        "kind": "magnitude",
        "from": "microdata",
        "value": "profit",
        "person": None,
        "microdata": "profits_microdata.csv",
        "microdata_sha256": out["table"]["microdata_sha256"],
    }
    bounds = {(b["labels"]["region"], b["labels"]["band"]): b for b in out["attacker_bounds"]}
    assert bounds["A", "x"]["lower_bound"] == -50_000
    assert bounds["A", "x"]["interval"][0] == pytest.approx(-50_000)


def test_bad_microdata_is_refused_naming_file_row_and_field_and_nothing_is_stored(journey, refused):
    refused(
        journey["bad amount"],
        "bad.csv, row 26 (line 27), field 'profit': the amount is not a number",
        "Nothing was added to request 1",
    )
    refused(journey["bad person"], "profits_microdata.csv", "has no column 'firm'", "field 'firm'")
    assert journey["after bad"]["request"]["outputs"] == []


def test_the_bundle_holds_the_safe_table_of_sums_and_no_microdata(journey):
    bundle = Path(journey["release"]["bundle"])
    files = sorted(p for p in bundle.rglob("*") if p.is_file())
    assert [p.relative_to(bundle).as_posix() for p in files] == [
        "manifest.json",
        f"outputs/{OUT}",
        f"reports/{OUT}.json",
    ]
    safe = {
        (r["region"], r["band"]): r
        for r in csv.DictReader(io.StringIO((bundle / "outputs" / OUT).read_text()))
    }
    assert (safe["A", "x"]["profit"], safe["A", "x"]["status"]) == ("", "suppress")
    # the other inner cells are withheld to protect it; the margins are the sums
    assert safe["B", "Total"]["profit"] == str(12 * 5000 + 12 * 7000 + 2 * 250 * 66)
    assert safe["Total", "Total"]["profit"] == str(
        sum(int(line.rsplit(",", 1)[1]) for line in MICRODATA.splitlines()[1:])
    )
    for path in files:
        text = path.read_text()
        for value in (*DISTINCTIVE, "profits_microdata"):
            assert value not in text, (path.name, value)
    report = json.loads((bundle / "reports" / f"{OUT}.json").read_text())
    assert report["table"] == {
        "kind": "magnitude",
        "from": "microdata",
        "value": "profit",
        "person": None,
    }
    assert "attacker_bounds" not in report and "notes" not in report
