"""Public pages of the published statistics: the list, each table and the indicator
dashboard, served from the publication folder (what ``fivesafes publish`` wrote).

Everything here is public (listed in :data:`fivesafes.web.access.PUBLIC`): the
folder holds only safe outputs, checked by the disclosure engine when published.
The folder is ``$FIVESAFES_PUBLISHED_DIR``, else ``<state dir>/published``;
the indicator dashboard is its ``indicators/`` subfolder.

The pages show a publication in the reader's language: a Welsh reader gets the
metadata's ``cy`` object (title, description, labels, notes) where the publication
has one, the English otherwise (marked ``lang="en"``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from fivesafes.collections.publish import published_dir
from fivesafes.collections.publish_html import in_language
from fivesafes.web.i18n import _, current
from fivesafes.web.templating import render

router = APIRouter()

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,120}$")
_FILE = re.compile(r"^[a-z0-9][a-z0-9-]{0,120}\.(csv|json|png)$")
_MEDIA = {"csv": "text/csv; charset=utf-8", "json": "application/json", "png": "image/png"}


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _tables() -> list[dict[str, Any]]:
    """Every published table (the ``*.json`` with publication metadata), newest first."""
    out = []
    for path in sorted(published_dir().glob("*.json")):
        doc = _read(path)
        meta = (doc or {}).get("metadata")
        if not isinstance(meta, dict) or "dims" not in meta or not _SLUG.match(path.stem):
            continue
        out.append({**_shown(meta), "slug": path.stem})
    return sorted(out, key=lambda m: (str(m.get("release_date", "")), m["title"]), reverse=True)


def _shown(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` in the reader's language, with ``shown_language`` the language its
    words are in (English where it has none of the reader's)."""
    code = current()
    has = isinstance(meta.get(code), dict)
    return {**in_language(meta, code), "shown_language": code if has else "en"}


def _dashboard() -> dict[str, Any] | None:
    doc = _read(published_dir() / "indicators" / "indicators.json")
    return doc if doc and "charts" in doc else None


def _file(folder: Path, name: str, allowed: set[str]) -> FileResponse:
    """A file of a publication; only the files the publications name are served,
    never anything else that may sit in the folder."""
    match = _FILE.match(name)
    path = folder / name
    if not match or name not in allowed or not path.is_file():
        raise HTTPException(
            status_code=404, detail=_("There is no such file among the published statistics.")
        )
    return FileResponse(path, media_type=_MEDIA[match.group(1)], filename=name)


@router.get("/statistics", response_class=HTMLResponse)
def statistics_index(request: Request) -> HTMLResponse:
    dash = _dashboard()
    return render(
        request,
        "statistics/index.html",
        tables=_tables(),
        dashboard=None if dash is None else _shown(dash["metadata"]),
    )


@router.get("/statistics/files/{name}")
def statistics_file(name: str) -> FileResponse:
    """A published table's CSV, JSON or chart."""
    allowed = {f"{t['slug']}.{ext}" for t in _tables() for ext in ("csv", "json", "png")}
    return _file(published_dir(), name, allowed)


@router.get("/statistics/{slug}", response_class=HTMLResponse)
def statistics_table(request: Request, slug: str) -> HTMLResponse:
    from fivesafes.collections.publish_html import cross_tables

    doc = _read(published_dir() / f"{slug}.json") if _SLUG.match(slug) else None
    meta = (doc or {}).get("metadata")
    if doc is None or not isinstance(meta, dict) or "dims" not in meta:
        raise HTTPException(
            status_code=404, detail=_("There is no published table at this address.")
        )
    data = pd.DataFrame(doc["data"])
    chart = meta.get("chart") or {}
    meta = _shown(meta)
    return render(
        request,
        "statistics/table.html",
        meta=meta,
        slug=slug,
        tables=cross_tables(meta, data),
        chart=chart,
    )


@router.get("/indicators", response_class=HTMLResponse)
def indicators(request: Request) -> HTMLResponse:
    from fivesafes.collections.publish_indicators import dashboard_sections

    doc = _dashboard()
    if doc is None:
        return render(request, "statistics/indicators.html", meta=None, sections=[])
    return render(
        request,
        "statistics/indicators.html",
        meta=_shown(doc["metadata"]),
        sections=dashboard_sections(doc),
    )


@router.get("/indicators/files/{name}")
def indicators_file(name: str) -> FileResponse:
    """The dashboard's CSV exports, JSON and charts."""
    doc = _dashboard()
    allowed: set[str] = set()
    if doc is not None:
        allowed |= {str(f) for f in doc["metadata"].get("files", {}).values()}
        allowed |= {str(c[k]) for c in doc["charts"].values() for k in ("png", "csv")}
    return _file(published_dir() / "indicators", name, allowed)
