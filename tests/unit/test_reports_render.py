"""Reports are rendered one way (issue 18, item 4): Jinja templates of
``fivesafes/reports/templates`` with the site's stylesheet, values escaped by the
engine, and no report module building HTML from strings any more."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from fivesafes.analysis.curation.dictionary import to_html
from fivesafes.reports.render import frame_table, number, render, site_css

SRC = Path(__file__).resolve().parents[2] / "src" / "fivesafes"
#: HTML elements a page is built of (an opening tag, bare or with an attribute).
MARKUP = re.compile(r"<(html|table|tr|td|th|svg|ul|h1|h2)(>|\s[a-z-]+=)")


def test_no_module_writes_html_by_hand() -> None:
    """Every page is a template: no Python module of the package holds markup."""
    offenders = sorted(
        str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if MARKUP.search(p.read_text())
    )
    assert offenders == []


def test_the_markup_check_catches_what_the_reports_used_to_write() -> None:
    # The linkage report's hand-drawn charts and tables, the publications' inline
    # templates: each would be caught again.
    for written in (
        '<svg role="img" aria-labelledby="hist-t hist-d" viewBox="0 0 900 320">',
        '<html lang="{{ lang }}"><head>',
        "<table><caption>",
        '<tr class="flag">',
        '<th scope="row">',
        "<td>",
        '<h2 id="{{ s.id }}-h">',
        "<ul>",
    ):
        assert MARKUP.search(written), written
    for prose in ("a <b>bold</b> word", "fewer than <10 records", "if a<table_size:"):
        assert not MARKUP.search(prose), prose


def test_numbers_read_as_the_reports_always_showed_them() -> None:
    assert [number(v) for v in (12345, 0.5, 12345.678, 0.0001234, None, float("nan"))] == [
        "12,345",
        "0.500",
        "12,345.7",
        "0.000123",
        "",
        "",
    ]
    assert (number(True), number("text")) == ("yes", "text")


def test_a_frame_becomes_a_table_of_text_and_numbers() -> None:
    frame = pd.DataFrame({"area": ["Cardiff", "Swansea", "Newport"], "persons": [1200, 830, 15]})
    t = frame_table(frame, max_rows=2)
    assert t["head"] == [("area", True), ("persons", False)]
    assert t["rows"] == [[("Cardiff", True), ("1,200", False)], [("Swansea", True), ("830", False)]]
    assert t["total"] == 3


def test_a_report_carries_the_sites_stylesheet_and_escapes_what_it_shows() -> None:
    step = SimpleNamespace(name="cohort", inputs=["pupils"], description="<b>pupils</b> & more")
    d = pd.DataFrame(
        [
            {
                "table": "cohort",
                "column": "<script>alert(1)</script>",
                "description": 'a "quoted" <i>name</i>',
                "type": "VARCHAR",
                "step": "cohort",
                "inputs": "pupils",
                "rows": 1234,
                "completeness_pct": 99.5,
                "distinct": 1000,
                "examples": "a, b",
            }
        ]
    )
    page = to_html(d, SimpleNamespace(steps={"cohort": step}), "Dictionary <of> things")  # type: ignore[arg-type]
    assert page.startswith("<!DOCTYPE html>") and '<html lang="en-GB">' in page
    assert site_css().splitlines()[0] in page  # the site's own stylesheet, inlined
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;pupils&lt;/b&gt; &amp; more" in page
    assert "<title>Dictionary &lt;of&gt; things – fivesafes</title>" in page
    assert '<td class="numeric">1,000</td>' in page


def test_every_template_renders_a_complete_page_from_the_shared_base() -> None:
    folder = SRC / "reports" / "templates"
    pages = [p.name for p in folder.glob("*.html") if not p.name.startswith("_")]
    assert {"study.html", "submission.html", "dictionary.html", "link_quality.html"} <= set(pages)
    assert "link_bias.html" in pages
    for name in pages:
        assert '{% extends "_report.html" %}' in (folder / name).read_text(), name
    assert "</html>" in render("_report.html")
