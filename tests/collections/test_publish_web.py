"""The public statistics pages of the web app serve what ``publish`` wrote: the
list, a table with its chart and notes, the indicator dashboard, and only the
files the publications name."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fivesafes.analysis.indicators import long_table
from fivesafes.collections.publish import TableSpec, publish_table, write_index
from fivesafes.collections.publish_indicators import publish_indicators
from fivesafes.outputs.policy import PRESETS

ROWS = [
    ("Northshire", "Suspects charged", "2024Q1", 125),
    ("Northshire", "Suspects charged", "2024Q2", 100),
    ("Eastmoor", "Suspects charged", "2024Q1", 6),
    ("Eastmoor", "Suspects charged", "2024Q2", 50),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    import pandas as pd

    from fivesafes.web.app import create_app

    root = tmp_path_factory.mktemp("web")
    site = root / "published"
    records = pd.DataFrame(
        [("2024", "North", "U4")] * 40
        + [("2024", "North", "U1")] * 4
        + [("2024", "South", "U4")] * 25
        + [("2024", "South", "U1")] * 31,
        columns=["year", "la", "placement"],
    )
    spec = TableSpec(
        slug="children-by-placement",
        title="Children by placement",
        dims=("la", "placement"),
        by=("year",),
        source="Test returns",
        unit="children",
        chart=("year", "placement"),
    )
    pub = publish_table(records, spec, site, PRESETS["acro"], release_date=date(2026, 1, 15))
    dash = publish_indicators(long_table(ROWS), site / "indicators", policy=PRESETS["acro"])
    write_index(site, [pub], [dash.entry(prefix="indicators/")])
    (site / "raw-input.csv").write_text("area,value\nEastmoor,6\n")  # not a publication
    mp = pytest.MonkeyPatch()
    mp.setenv("FIVESAFES_PUBLISHED_DIR", str(site))
    mp.setenv("FIVESAFES_STATE_DIR", str(root / "state"))
    app = create_app(f"sqlite:///{root / 'app.db'}")
    with TestClient(app) as c:
        yield c
    mp.undo()


def test_list_of_statistics(client: TestClient) -> None:
    page = client.get("/statistics")
    assert page.status_code == 200
    assert 'href="/statistics/children-by-placement"' in page.text
    assert 'href="/indicators"' in page.text


def test_a_table_page(client: TestClient) -> None:
    page = client.get("/statistics/children-by-placement")
    assert page.status_code == 200
    html = page.text
    assert "<caption>Children by placement: year 2024</caption>" in html
    assert "[c]" in html and "Counts are not rounded." in html
    assert 'src="/statistics/files/children-by-placement.png" alt="Bar chart' in html
    csv = client.get("/statistics/files/children-by-placement.csv")
    assert csv.status_code == 200 and csv.text.startswith("year,la,placement,value,status")
    png = client.get("/statistics/files/children-by-placement.png")
    assert png.headers["content-type"] == "image/png"


def test_the_dashboard(client: TestClient) -> None:
    page = client.get("/indicators")
    assert page.status_code == 200
    assert '<h2 id="suspects-charged-h">Suspects charged</h2>' in page.text
    assert "[c]" in page.text
    assert client.get("/indicators/files/summary.csv").status_code == 200
    assert client.get("/indicators/files/suspects-charged.png").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/statistics/no-such-table",
        "/statistics/files/raw-input.csv",  # in the folder, but no publication names it
        "/statistics/files/..%2Fapp.db",
        "/indicators/files/raw-input.csv",
        "/statistics/Children",
    ],
)
def test_nothing_else_is_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_no_publication_yet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fivesafes.web.app import create_app

    monkeypatch.setenv("FIVESAFES_PUBLISHED_DIR", str(tmp_path / "empty"))
    with TestClient(create_app(f"sqlite:///{tmp_path / 'app.db'}")) as c:
        assert "Nothing has been published yet." in c.get("/statistics").text
        assert "No indicators have been published yet." in c.get("/indicators").text
