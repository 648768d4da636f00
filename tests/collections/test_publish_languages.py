"""Publications in Cymraeg and English (issue 20, item 3): a table with Welsh in its
spec carries both languages in its JSON metadata (the English keys as they were, the
Welsh in a ``cy`` object under the same keys), writes a Welsh static page linked to
the English one, and the web app's statistics pages show the reader's language."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from fivesafes.analysis.indicators import long_table
from fivesafes.collections import publish_html
from fivesafes.collections.publish import NOTE_WORDS, TableSpec, publish_table, write_index
from fivesafes.collections.publish_collections import (
    cla_spec,
    code_labels,
    code_labels_cy,
)
from fivesafes.collections.publish_indicators import publish_indicators
from fivesafes.collections.spec import SpecError, load_spec
from fivesafes.outputs.policy import PRESETS
from fivesafes.web.i18n import LOCALE_DIR

SLUG = "children-by-placement"
TITLE_CY = "Plant sy'n derbyn gofal yn ôl lleoliad"
ROWS = [
    ("Northshire", "Suspects charged", "2024Q1", 125),
    ("Northshire", "Suspects charged", "2024Q2", 100),
    ("Eastmoor", "Suspects charged", "2024Q1", 6),
    ("Eastmoor", "Suspects charged", "2024Q2", 50),
]


def _records() -> pd.DataFrame:
    return pd.DataFrame(
        [("2024", "North", "U4")] * 40
        + [("2024", "North", "U1")] * 4
        + [("2024", "South", "U4")] * 25
        + [("2024", "South", "U1")] * 31,
        columns=["year", "la", "placement"],
    )


def _spec(**welsh: Any) -> TableSpec:
    return TableSpec(
        slug=SLUG,
        title="Children looked after by placement",
        description="Children by placement type.",
        dims=("la", "placement"),
        by=("year",),
        source="Test returns",
        unit="children",
        labels={"placement": {"U1": "Foster placement with relative", "U4": "Other foster"}},
        column_titles={"la": "Local authority", "placement": "Placement type"},
        notes=("A child is counted once.",),
        **welsh,
    )


WELSH = dict(
    title_cy=TITLE_CY,
    description_cy="Plant yn ôl y math o leoliad.",
    unit_cy="plant",
    labels_cy={"placement": {"U1": "Lleoliad maeth gyda pherthynas"}},
    column_titles_cy={"la": "Awdurdod lleol", "placement": "Math o leoliad"},
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bilingual") / "published"
    pub = publish_table(_records(), _spec(**WELSH), out, PRESETS["acro"], date(2026, 1, 15))
    english_only = publish_table(
        _records(),
        TableSpec(slug="english-only", title="English only", dims=("la",), source="Test"),
        out,
        PRESETS["acro"],
        date(2026, 1, 15),
    )
    dash = publish_indicators(long_table(ROWS), out / "indicators", policy=PRESETS["acro"])
    write_index(out, [pub, english_only], [dash.entry(prefix="indicators/")])
    return out


def test_the_json_metadata_has_both_languages(site: Path) -> None:
    meta = json.loads((site / f"{SLUG}.json").read_text())["metadata"]
    # the English keys are as they were
    assert meta["title"] == "Children looked after by placement"
    assert meta["labels"] == {
        "placement": {"U1": "Foster placement with relative", "U4": "Other foster"}
    }
    assert meta["languages"] == ["en", "cy"]
    cy = meta["cy"]
    assert cy["title"] == TITLE_CY and cy["description"] == "Plant yn ôl y math o leoliad."
    assert cy["unit"] == "plant"
    assert cy["column_titles"] == {
        "year": "year",
        "la": "Awdurdod lleol",
        "placement": "Math o leoliad",
    }
    # a code without Welsh words keeps its English ones
    assert cy["labels"]["placement"] == {
        "U1": "Lleoliad maeth gyda pherthynas",
        "U4": "Other foster",
    }
    assert len(cy["notes"]) == len(meta["notes"])
    assert any("ataliad eilaidd" in n for n in cy["notes"])
    assert cy["notes"][0] == "A child is counted once."  # no Welsh given: the English
    # a table with no Welsh says so and has no cy object
    other = json.loads((site / "english-only.json").read_text())["metadata"]
    assert other["languages"] == ["en"] and "cy" not in other


def test_the_static_pages_come_in_both_languages_linked(site: Path) -> None:
    english = (site / f"{SLUG}.html").read_text()
    welsh = (site / f"{SLUG}.cy.html").read_text()
    assert '<html lang="en">' in english and '<html lang="cy">' in welsh
    assert f'href="{SLUG}.cy.html" hreflang="cy" lang="cy">Cymraeg</a>' in english
    assert f'href="{SLUG}.html" hreflang="en" lang="en">English</a>' in welsh
    assert f"<h1>{TITLE_CY.replace(chr(39), '&#39;')}</h1>" in welsh
    assert "Ffynhonnell" in welsh and "Nodiadau ar atal a thalgrynnu" in welsh
    assert '<th scope="col" class="n">Lleoliad maeth gyda pherthynas</th>' in welsh
    assert "Source" not in welsh and "Ffynhonnell" not in english
    assert not (site / "english-only.cy.html").exists()
    index_cy = (site / "index.cy.html").read_text()
    assert f'href="{SLUG}.cy.html"' in index_cy and 'href="index.html"' in index_cy
    assert '<li lang="en"><a href="english-only.html">English only</a>' in index_cy
    entries = json.loads((site / "index.json").read_text())["publications"]
    table = next(e for e in entries if e["slug"] == SLUG)
    assert table["title"] == "Children looked after by placement"
    assert table["cy"]["title"] == TITLE_CY and table["files"]["html_cy"] == f"{SLUG}.cy.html"
    dash = next(e for e in entries if e["kind"] == "dashboard")
    assert dash["cy"]["title"] == "Dangosyddion cyfiawnder troseddol yn ôl ardal bwrdd"


def test_every_word_of_the_page_templates_has_its_welsh() -> None:
    """The pages' own words (``_()`` in collections/templates) are messages of the web
    app's catalogue, each with its Welsh."""
    folder = Path(publish_html.__file__).parent / "templates"
    found = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(folder), [("**.html", "jinja2")], {"**.html": {"extensions": "jinja2.ext.i18n"}}
        )
    }
    assert {"Source", "released", "Skip to main content"} <= found
    with (LOCALE_DIR / "cy" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        welsh = read_po(f, locale="cy")
    assert sorted(m for m in found if not (welsh.get(m) and welsh[m].string)) == []


def test_every_note_has_its_welsh_with_the_same_placeholders() -> None:
    def fields(text: str) -> set[str]:
        return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}

    for key, words in NOTE_WORDS.items():
        assert set(words) == {"en", "cy"}, key
        en, cy = words["en"], words["cy"]
        pairs = zip(en, cy, strict=True) if isinstance(en, tuple) else [(en, cy)]
        for english, welsh in pairs:
            assert welsh and fields(english) == fields(welsh), (key, english, welsh)


def test_the_collections_give_their_welsh_names() -> None:
    assert load_spec("cla_episodes").title_cy == "Plant sy'n derbyn gofal - cyfnodau"
    welsh = code_labels_cy("cla_episodes", "placement_type")
    assert set(welsh) == set(code_labels("cla_episodes", "placement_type"))
    assert welsh["K2"] == "Cartref plant"
    spec = cla_spec("source", code_labels("cla_episodes", "placement_type"), welsh)
    assert spec.title_cy.startswith("Plant sy'n derbyn gofal ar 31 Mawrth")
    assert spec.welsh_labels()["placement_type"]["K2"] == "Cartref plant"


def test_welsh_codes_must_be_codes_of_the_list(tmp_path: Path) -> None:
    from fivesafes.collections.spec import SPECS_DIR

    text = (SPECS_DIR / "cla_episodes.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "cla_episodes.yaml"
    bad.write_text(text.replace('    K2: "Cartref plant"', '    ZZ: "Dim"'), encoding="utf-8")
    with pytest.raises(SpecError, match="ZZ"):
        load_spec(bad)


@pytest.fixture(scope="module")
def client(site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from fivesafes.web.app import create_app

    root = tmp_path_factory.mktemp("web")
    mp = pytest.MonkeyPatch()
    mp.setenv("FIVESAFES_PUBLISHED_DIR", str(site))
    mp.setenv("FIVESAFES_STATE_DIR", str(root / "state"))
    with TestClient(create_app(f"sqlite:///{root / 'app.db'}")) as c:
        yield c
    mp.undo()


def test_a_welsh_reader_sees_the_welsh_title(client: TestClient) -> None:
    welsh = client.get(f"/statistics/{SLUG}", headers={"Accept-Language": "cy"}).text
    assert f"<h1>{TITLE_CY.replace(chr(39), '&#39;')}</h1>" in welsh
    assert "Lleoliad maeth gyda pherthynas" in welsh and "ataliad eilaidd" in welsh
    english = client.get(f"/statistics/{SLUG}", headers={"Accept-Language": "en"}).text
    assert "<h1>Children looked after by placement</h1>" in english
    assert "Plant" not in english
    listing = client.get("/statistics", headers={"Accept-Language": "cy"}).text
    assert TITLE_CY.replace("'", "&#39;") in listing
    # a table with no Welsh shows its English, marked as English
    assert '<li lang="en"><a href="/statistics/english-only">English only</a>' in listing
    dashboard = client.get("/indicators", headers={"Accept-Language": "cy"}).text
    assert "<h1>Dangosyddion cyfiawnder troseddol yn ôl ardal bwrdd</h1>" in dashboard
