"""Publication of a table: checked by the disclosure engine, written as CSV, JSON
with metadata, a chart and an HTML page, and nothing unsafe in any of them."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from fivesafes.collections.publish import TableSpec, publish_table, write_index
from fivesafes.errors import FivesafesError
from fivesafes.outputs.policy import PRESETS

# docs/disclosure-control.md's example as records: North × U1 is 4 children.
CELLS = {("North", "U4"): 40, ("North", "U1"): 4, ("South", "U4"): 25, ("South", "U1"): 31}
INNER = set(CELLS)
# Margins keep their true values: the published totals.
MARGINS = {
    ("North", "Total"): 44,
    ("South", "Total"): 56,
    ("Total", "U4"): 65,
    ("Total", "U1"): 35,
    ("Total", "Total"): 100,
}
SPEC = TableSpec(
    slug="children-by-placement",
    title="Children looked after by local authority and placement",
    dims=("la", "placement"),
    by=("year",),
    source="Test returns",
    unit="children",
    labels={"placement": {"U4": "Foster care", "U1": "Foster care with relatives"}},
    column_titles={"la": "Local authority", "placement": "Placement", "year": "31 March"},
    chart=("year", "placement"),
)


def _records() -> pd.DataFrame:
    rows = [(2024, la, p) for (la, p), n in CELLS.items() for _ in range(n)]
    return pd.DataFrame(rows, columns=["year", "la", "placement"])


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("site")
    pub = publish_table(
        _records(), SPEC, out, policy=PRESETS["acro"], release_date=date(2026, 1, 15)
    )
    return out, pub


def test_files_written(published) -> None:
    out, pub = published
    names = {p.name for p in pub.paths.values()}
    assert names == {f"children-by-placement.{ext}" for ext in ("csv", "json", "png", "html")}
    assert all(p.parent == out for p in pub.paths.values())
    assert pub.paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_csv_withholds_the_small_cell_and_those_that_would_give_it_away(published) -> None:
    _, pub = published
    rows = list(csv.DictReader(pub.paths["csv"].open()))
    assert list(rows[0]) == ["year", "la", "placement", "value", "status"]
    got = {(r["la"], r["placement"]): (r["value"], r["status"]) for r in rows}
    # one small cell in a 2×2 table with true margins: every inner cell goes
    for cell in INNER:
        assert got[cell] == ("", "suppress"), cell
    for cell, n in MARGINS.items():
        assert got[cell] == (str(n), "pass"), cell
    assert {r["year"] for r in rows} == {"2024"}


def test_json_has_metadata_and_only_safe_values(published) -> None:
    _, pub = published
    doc = json.loads(pub.paths["json"].read_text())
    meta = doc["metadata"]
    assert meta["title"] == SPEC.title
    assert meta["source"] == "Test returns"
    assert meta["release_date"] == "2026-01-15"
    assert meta["unit"] == "children"
    assert meta["coverage"] == "31 March 2024; 2 values of local authority; 2 values of placement"
    notes = " ".join(meta["notes"])
    assert "fewer than 10 children are suppressed and shown as [c]" in notes
    assert "Zeros are suppressed too." in notes
    assert "secondary suppression" in notes
    assert "Counts are not rounded." in notes
    assert "4 of 9 cells are suppressed; disclosure control policy acro 1.0.2." in notes
    assert meta["disclosure"]["cells"]["suppress"] == 4
    values = {(d["la"], d["placement"]): d["value"] for d in doc["data"]}
    assert all(values[c] is None for c in INNER)
    assert {c: values[c] for c in MARGINS} == MARGINS
    assert "chart_alt" in meta


def test_html_page_is_accessible_and_shows_suppression(published) -> None:
    _, pub = published
    html = pub.paths["html"].read_text()
    assert '<html lang="en">' in html
    assert 'href="#main"' in html  # skip link
    assert "<caption>" in html and '<th scope="col"' in html and '<th scope="row">' in html
    assert "[c]" in html and "[c] = suppressed" in html
    assert "Foster care with relatives" in html  # labels, not codes
    assert 'src="children-by-placement.png" alt="' in html
    assert "Test returns" in html and "2026-01-15" in html
    assert 'href="children-by-placement.csv"' in html
    assert "Counts are not rounded." in html


def test_chart_alt_text_says_what_is_drawn_and_what_is_withheld(published) -> None:
    _, pub = published
    alt = pub.metadata["chart_alt"]
    # one year: a bar per placement, every authority together, the totals are published
    assert alt == (
        "Bar chart of the number of children by Placement, every Local authority added together "
        "in 2024: Foster care with relatives 35; Foster care 65."
    )


def test_rounding_policy_rounds_every_count_and_says_so(tmp_path: Path) -> None:
    pub = publish_table(_records(), SPEC, tmp_path, policy=PRESETS["opensafely"])
    values = {(r["la"], r["placement"]): r["value"] for _, r in pub.data.iterrows()}
    # 4 is redacted (7 or fewer); everything published is a multiple of 5
    assert values[("North", "U1")] is None
    published = [v for v in values.values() if v is not None]
    assert published and all(v % 5 == 0 for v in published)
    assert values[("Total", "Total")] == 100
    assert values[("North", "Total")] == 45  # 44 rounded to the nearest 5
    notes = " ".join(pub.metadata["notes"])
    assert "rounded to the nearest 5" in notes


def test_a_missing_column_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(FivesafesError, match="no column placement"):
        publish_table(_records().drop(columns="placement"), SPEC, tmp_path)


def test_index_lists_the_publications(published) -> None:
    out, pub = published
    index = write_index(out, [pub])
    assert 'href="children-by-placement.html"' in index.read_text()
    doc = json.loads((out / "index.json").read_text())
    assert doc["publications"][0]["slug"] == "children-by-placement"
    assert doc["publications"][0]["files"]["csv"] == "children-by-placement.csv"
