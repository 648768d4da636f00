# ruff: noqa: E501  (the page templates are HTML, one element a line)
"""Static HTML pages of published statistics (Jinja2, autoescaped, no script).

A table's page has its metadata (source, coverage, release date, notes on
suppression and rounding), the chart with its alternative text and the data as
accessible tables (caption, header cells with scope); the index lists every
publication; a dashboard shows one section per indicator.

Tables and the index come in English (``<slug>.html``, ``index.html``) and, for a
table with Welsh metadata, in Welsh (``<slug>.cy.html``, ``index.cy.html``), each
page linking to the other language's. The pages' own words (Source, Coverage, ...)
come from the web app's gettext catalogue (:mod:`fivesafes.web.i18n`), the same
messages the web app's statistics pages show; the table's words from its metadata
(the ``cy`` object for Welsh).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jinja2
import pandas as pd
from markupsafe import Markup

from fivesafes.outputs.objects import TOTAL
from fivesafes.web.i18n import LANGUAGES, translations

if TYPE_CHECKING:
    from fivesafes.collections.publication import Publication

STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:1rem;
line-height:1.45;color:#0b0c0c}
a{color:#1d70b8}a:focus{outline:3px solid #fd0;background:#fd0}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
caption{text-align:left;font-weight:bold;padding:.3rem 0}
th,td{border-bottom:1px solid #b1b4b6;padding:.25rem .5rem;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.total th,tr.total td{font-weight:bold}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:bold}
img{max-width:100%;height:auto}.scroll{overflow-x:auto}
"""

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)

_BASE = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title><style>{{ style }}</style>
{% for alt in alternates %}<link rel="alternate" hreflang="{{ alt.lang }}" href="{{ alt.href }}">
{% endfor %}</head>
<body><a class="skip" href="#main">{{ t("Skip to main content") }}</a>
<nav aria-label="{{ t("Published statistics") }}"><a href="{{ home }}">{{ t("All published statistics") }}</a>
{% for alt in alternates %} · <a href="{{ alt.href }}" hreflang="{{ alt.lang }}" lang="{{ alt.lang }}">{{ alt.name }}</a>{% endfor %}</nav>
<main id="main">{{ body }}</main></body></html>
"""

_TABLE = """<h1>{{ meta.title }}</h1>
{% if meta.description %}<p>{{ meta.description }}</p>{% endif %}
<dl>
<dt>{{ t("Source") }}</dt><dd>{{ meta.source }}</dd>
<dt>{{ t("Coverage") }}</dt><dd>{{ meta.coverage }}</dd>
<dt>{{ t("Counts") }}</dt><dd>{{ meta.unit }}</dd>
<dt>{{ t("Release date") }}</dt><dd><time datetime="{{ meta.release_date }}">{{ meta.release_date }}</time></dd>
<dt>{{ t("Downloads") }}</dt><dd><a href="{{ files.csv }}">{{ t("CSV") }}</a> · <a href="{{ files.json }}">{{ t("JSON with metadata") }}</a></dd>
</dl>
<h2>{{ t("Notes on suppression and rounding") }}</h2>
<ul>{% for n in meta.notes %}<li>{{ n }}</li>{% endfor %}</ul>
{% if files.png %}<figure><img src="{{ files.png }}" alt="{{ meta.chart_alt }}">
<figcaption>{{ t("%(title)s (chart of the published values)") | format(title=meta.title) }}</figcaption></figure>{% endif %}
<h2>{{ t("Data") }}</h2>
{% for t in tables %}<div class="scroll"><table>
<caption>{{ t.caption }}</caption>
<thead><tr><th scope="col">{{ t.corner }}</th>{% for c in t.columns %}<th scope="col" class="n">{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for r in t.rows %}<tr{% if r.total %} class="total"{% endif %}><th scope="row">{{ r.name }}</th>{% for v in r.cells %}<td class="n">{{ v }}</td>{% endfor %}</tr>{% endfor %}</tbody>
</table></div>{% endfor %}
<p>{{ t("[c] = suppressed to protect confidentiality.") }}</p>
"""

_INDEX = """<h1>{{ title }}</h1>
<ul>{% for e in entries %}<li{% if e.lang != lang %} lang="{{ e.lang }}"{% endif %}><a href="{{ e.href }}">{{ e.title }}</a>
{% if e.release_date %}({{ t("released") }} <time datetime="{{ e.release_date }}">{{ e.release_date }}</time>){% endif %}
{% if e.coverage %}<br>{{ e.coverage }}{% endif %}</li>{% endfor %}</ul>
"""

_DASHBOARD = """<h1>{{ meta.title }}</h1>
<dl>
<dt>Source</dt><dd>{{ meta.source }}</dd>
<dt>Coverage</dt><dd>{{ meta.coverage }}</dd>
<dt>Release date</dt><dd><time datetime="{{ meta.release_date }}">{{ meta.release_date }}</time></dd>
<dt>Average</dt><dd>{{ meta.average }}</dd>
<dt>Downloads</dt><dd><a href="{{ meta.files.summary }}">summary (CSV)</a> · <a href="{{ meta.files.series }}">every quarter (CSV)</a> · <a href="{{ meta.files.json }}">JSON with metadata</a></dd>
</dl>
<h2>Notes</h2>
<ul>{% for n in meta.notes %}<li>{{ n }}</li>{% endfor %}</ul>
<nav aria-label="Indicators"><ul>{% for s in sections %}<li><a href="#{{ s.id }}">{{ s.indicator }}</a></li>{% endfor %}</ul></nav>
{% for s in sections %}<section id="{{ s.id }}" aria-labelledby="{{ s.id }}-h">
<h2 id="{{ s.id }}-h">{{ s.indicator }}</h2>
<p>Latest period {{ s.latest }}. <a href="{{ s.csv }}">Download this indicator (CSV)</a></p>
<figure><img src="{{ s.png }}" alt="{{ s.alt }}"><figcaption>{{ s.indicator }} by area, {{ s.latest }}</figcaption></figure>
<div class="scroll"><table><caption>{{ s.indicator }}: {{ s.latest }} by area</caption>
<thead><tr><th scope="col">Area</th><th scope="col" class="n">{{ s.latest }}</th><th scope="col" class="n">{{ s.previous }}</th>
<th scope="col" class="n">Change (%)</th><th scope="col" class="n">Average</th><th scope="col">Note</th></tr></thead>
<tbody>{% for r in s.rows %}<tr><th scope="row">{{ r.area }}</th><td class="n">{{ r.latest_value }}</td><td class="n">{{ r.previous_value }}</td>
<td class="n">{{ r.change_percent }}</td><td class="n">{{ r.average }}</td><td>{{ r.note }}</td></tr>{% endfor %}</tbody>
</table></div></section>{% endfor %}
"""


def _t(code: str) -> Any:
    """The page words in ``code`` (the web app's catalogue; English without one)."""
    return translations(code).gettext


def _page(
    title: str,
    body: str,
    home: str = "index.html",
    lang: str = "en",
    alternates: Sequence[Mapping[str, str]] = (),
) -> str:
    return _ENV.from_string(_BASE).render(
        title=title,
        style=STYLE,
        body=Markup(body),
        home=home,
        lang=lang,
        t=_t(lang),
        alternates=[{**a, "name": LANGUAGES.get(a["lang"], a["lang"])} for a in alternates],
    )


def in_language(meta: Mapping[str, Any], code: str) -> dict[str, Any]:
    """A table's (or dashboard's) metadata with its words in ``code``: the ``cy``
    object's values over the English ones, for Welsh; the metadata as it is, else."""
    words = meta.get(code) if code != "en" else None
    return {**meta, **words} if isinstance(words, Mapping) else dict(meta)


def _cell(value: Any) -> str:
    from fivesafes.collections.publication import SUPPRESSED_SYMBOL

    if value is None or (isinstance(value, float) and pd.isna(value)):
        return SUPPRESSED_SYMBOL
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,}"


def cross_tables(meta: Mapping[str, Any], data: pd.DataFrame) -> list[dict[str, Any]]:
    """A published table's data (as in its JSON: ``metadata`` and ``data``) as
    cross-tables: per slice of ``by`` (and of any third dimension), rows of the
    first dimension by columns of the last; withheld cells as [c]."""
    by, dims = list(meta["by"]), list(meta["dims"])
    titles, labels = meta.get("column_titles", {}), meta.get("labels", {})

    def title_of(col: str) -> str:
        return str(titles.get(col, col.replace("_", " ")))

    def label(col: str, code: Any) -> str:
        text = str(code)
        return text if text == TOTAL else str(labels.get(col, {}).get(text, text))

    row_dim, col_dim = dims[0], dims[-1]
    slices = [*by, *dims[1:-1]]
    groups = data.groupby(slices, sort=False) if slices else [((), data)]
    out = []
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        cols = list(dict.fromkeys(part[col_dim].astype(str)))
        names = list(dict.fromkeys(part[row_dim].astype(str)))
        grid = {
            (str(r), str(c)): v
            for r, c, v in zip(part[row_dim], part[col_dim], part["value"], strict=True)
        }
        where = ", ".join(f"{title_of(s)} {label(s, k)}" for s, k in zip(slices, key, strict=True))
        single = len(dims) == 1
        rows = [
            {
                "name": label(row_dim, n),
                "total": n == TOTAL,
                "cells": [_cell(grid.get((n, n)))]
                if single
                else [_cell(grid.get((n, c))) for c in cols],
            }
            for n in names
        ]
        out.append(
            {
                "caption": f"{meta['title']}" + (f": {where}" if where else ""),
                "corner": title_of(row_dim),
                "columns": [str(meta.get("unit", "count"))]
                if single
                else [label(col_dim, c) for c in cols],
                "rows": rows,
            }
        )
    return out


def _tables(pub: Publication) -> list[dict[str, Any]]:
    return cross_tables(pub.metadata, pub.data)


def table_page(pub: Publication, language: str = "en") -> str:
    """A table's page in ``language`` (``cy``: from its metadata's ``cy`` object)."""
    files = {k: p.name for k, p in pub.paths.items()}
    files.setdefault("png", "")
    meta = in_language(pub.metadata, language)
    body = _ENV.from_string(_TABLE).render(
        meta=meta, files=files, tables=cross_tables(meta, pub.data), t=_t(language)
    )
    slug = pub.spec.slug
    others = [code for code in pub.spec.languages if code != language]
    alternates = [
        {"lang": c, "href": f"{slug}.html" if c == "en" else f"{slug}.{c}.html"} for c in others
    ]
    home = "index.html" if language == "en" else f"index.{language}.html"
    return _page(str(meta["title"]), body, home=home, lang=language, alternates=alternates)


def index_page(title: str, entries: Sequence[Mapping[str, Any]], language: str = "en") -> str:
    """The list of publications in ``language``: an entry's own words in it (its ``cy``
    object: title, coverage, href) where it has them, English otherwise (marked so)."""
    items = []
    for e in entries:
        words = e.get(language) if language != "en" else None
        words = words if isinstance(words, Mapping) else {}
        items.append(
            {
                "href": words.get("href") or e.get("href") or f"{e['slug']}.html",
                "title": words.get("title") or e["title"],
                "lang": language if words.get("title") else "en",
                "release_date": e.get("release_date", ""),
                "coverage": words.get("coverage") or e.get("coverage", ""),
            }
        )
    other = "cy" if language == "en" else "en"
    alternates = [{"lang": other, "href": "index.html" if other == "en" else f"index.{other}.html"}]
    body = _ENV.from_string(_INDEX).render(
        title=title, entries=items, lang=language, t=_t(language)
    )
    home = "index.html" if language == "en" else f"index.{language}.html"
    return _page(title, body, home=home, lang=language, alternates=alternates)


def dashboard_page(meta: Mapping[str, Any], sections: Sequence[Mapping[str, Any]]) -> str:
    body = _ENV.from_string(_DASHBOARD).render(meta=meta, sections=sections)
    return _page(str(meta["title"]), body, home="../index.html")
