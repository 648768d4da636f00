"""Static HTML pages of published statistics (Jinja2, autoescaped, no script): the
templates of ``fivesafes/collections/templates`` filled from a publication.

A table's page has its metadata (source, coverage, release date, notes on
suppression and rounding), the chart with its alternative text and the data as
accessible tables (caption, header cells with scope); the index lists every
publication; a dashboard shows one section per indicator.

Tables and the index come in English (``<slug>.html``, ``index.html``) and, for a
table with Welsh metadata, in Welsh (``<slug>.cy.html``, ``index.cy.html``), each
page linking to the other language's. The pages' own words (Source, Coverage, ...)
come from the web app's gettext catalogue (:mod:`fivesafes.web.i18n`, through
Jinja2's i18n extension), the same messages the web app's statistics pages show;
the table's words from its metadata (the ``cy`` object for Welsh).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import jinja2
import pandas as pd

from fivesafes.outputs.objects import TOTAL
from fivesafes.web.i18n import LANGUAGES, translations

if TYPE_CHECKING:
    from fivesafes.collections.publication import Publication

#: The pages' templates (``collections/templates``): ``table.html``, ``index.html``
#: and ``dashboard.html``, each extending ``_publication.html`` (with ``publish.css``).
TEMPLATES = ("fivesafes.collections", "templates")


@cache
def environment(code: str = "en") -> jinja2.Environment:
    """The pages' Jinja environment in the language ``code``: autoescaped, with the
    i18n extension and the web app's catalogue for ``code`` (English without one),
    so ``{{ _("Source") }}`` reads as the web app's statistics pages read it."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(*TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(code), newstyle=True)  # type: ignore[attr-defined]
    return env


def _page(
    template: str,
    home: str = "index.html",
    lang: str = "en",
    alternates: Sequence[Mapping[str, str]] = (),
    **context: Any,
) -> str:
    """The page ``template`` in ``lang``, linking ``home`` and the ``alternates``
    (the same page in other languages, each named in its own)."""
    return (
        environment(lang)
        .get_template(template)
        .render(
            home=home,
            lang=lang,
            alternates=[{**a, "name": LANGUAGES.get(a["lang"], a["lang"])} for a in alternates],
            **context,
        )
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
    slug = pub.spec.slug
    others = [code for code in pub.spec.languages if code != language]
    alternates = [
        {"lang": c, "href": f"{slug}.html" if c == "en" else f"{slug}.{c}.html"} for c in others
    ]
    home = "index.html" if language == "en" else f"index.{language}.html"
    return _page(
        "table.html",
        home=home,
        lang=language,
        alternates=alternates,
        meta=meta,
        files=files,
        tables=cross_tables(meta, pub.data),
    )


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
    home = "index.html" if language == "en" else f"index.{language}.html"
    return _page(
        "index.html", home=home, lang=language, alternates=alternates, title=title, entries=items
    )


def dashboard_page(meta: Mapping[str, Any], sections: Sequence[Mapping[str, Any]]) -> str:
    """An indicator dashboard's page (English), one section per indicator."""
    return _page("dashboard.html", home="../index.html", meta=meta, sections=sections)
