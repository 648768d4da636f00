"""What a publication of safe statistics is: a table's spec (:class:`TableSpec`), a
published table (:class:`Publication`), the file format and the symbol for a
withheld cell. Shared by the publication (:mod:`.publish`), its charts and pages
(:mod:`.publish_charts`, :mod:`.publish_html`) and the dashboards
(:mod:`.publish_indicators`), which otherwise would import one another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fivesafes.outputs.check import CheckResult
from fivesafes.outputs.differencing import Population, ReleasedTable
from fivesafes.outputs.objects import TOTAL

#: The symbol a published table shows for a withheld cell (GSS guidance on
#: symbols in tables: [c] confidential).
SUPPRESSED_SYMBOL = "[c]"
FORMAT = "fivesafes.publication/1"


@dataclass(frozen=True)
class TableSpec:
    """What one published table counts and how it is described.

    ``dims`` are the table's categories (each gets a ``Total``), ``by`` the
    columns that split it into separate tables (no total across them), ``key`` a
    column whose distinct values are counted (else rows). ``labels`` maps a
    column's codes to the words shown in the HTML and the chart (the CSV keeps
    the codes and adds nothing). ``chart`` is ``(x, series)``: a line per
    ``series`` category over ``x``, every other dimension at its ``Total``.

    For disclosure by differencing, each slice (one value of ``by``) is a table of
    the **population** of ``universe`` (what a unit is; default: the ``unit``
    counted in this ``slug``) with those ``by`` values and, when ``units`` names a
    column (e.g. the local authority), the values of that column present in the
    slice (the coverage): a re-publication that covers one authority more is then a
    population with an added atom. It is checked against, and recorded in, the
    ledger of ``series`` (default: the slug).
    """

    slug: str
    title: str
    dims: tuple[str, ...]
    source: str
    unit: str = "records"
    by: tuple[str, ...] = ()
    key: str | None = None
    description: str = ""
    coverage: str = ""
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    column_titles: Mapping[str, str] = field(default_factory=dict)
    chart: tuple[str | None, str | None] | None = None
    notes: tuple[str, ...] = ()
    series: str = ""
    universe: str = ""
    units: str | None = None
    #: The table in Welsh (Cymraeg): with ``title_cy`` set, the metadata gains a
    #: ``cy`` object and the static pages a ``<slug>.cy.html`` (docs/languages.md).
    #: What has no Welsh (a label, a column title, a note) shows in English.
    title_cy: str = ""
    description_cy: str = ""
    source_cy: str = ""
    coverage_cy: str = ""
    unit_cy: str = ""
    labels_cy: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    column_titles_cy: Mapping[str, str] = field(default_factory=dict)
    notes_cy: tuple[str, ...] = ()

    def title_of(self, column: str) -> str:
        return self.column_titles.get(column, column.replace("_", " "))

    @property
    def languages(self) -> list[str]:
        """The languages the table is published in: English, and Welsh with ``title_cy``."""
        return ["en", "cy"] if self.title_cy else ["en"]

    def welsh_labels(self) -> dict[str, dict[str, str]]:
        """Every column's code → words in Welsh, English words where there is no Welsh."""
        columns = set(self.labels) | set(self.labels_cy)
        return {
            c: {**dict(self.labels.get(c, {})), **dict(self.labels_cy.get(c, {}))}
            for c in sorted(columns)
        }

    def welsh_column_titles(self) -> dict[str, str]:
        return {c: self.column_titles_cy.get(c, self.title_of(c)) for c in (*self.by, *self.dims)}

    @property
    def series_name(self) -> str:
        """The publication series whose ledger this table is checked against."""
        return self.series or self.slug

    @property
    def universe_name(self) -> str:
        return self.universe or f"{self.unit} counted in the table {self.slug}"

    def population(self, key: Sequence[Any], records: pd.DataFrame) -> Population:
        """The population of one slice (``key``: its values of ``by``)."""
        conditions: dict[str, Any] = {c: str(v) for c, v in zip(self.by, key, strict=True)}
        if self.units is not None and self.units in records:
            covered = sorted(records[self.units].dropna().astype(str).unique())
            if covered:
                conditions[self.units] = covered
        return Population.of(self.universe_name, **conditions)

    def output_name(self, key: Sequence[Any]) -> str:
        """The name of one slice in the ledger."""
        where = ", ".join(f"{c} {v}" for c, v in zip(self.by, key, strict=True))
        return f"{self.slug}" + (f" ({where})" if where else "")


@dataclass
class Publication:
    """One published table: its safe data, metadata and the files written."""

    spec: TableSpec
    data: pd.DataFrame  # by..., dims..., value (None where withheld), status
    metadata: dict[str, Any]
    checks: list[CheckResult]
    paths: dict[str, Path] = field(default_factory=dict)
    #: The slices as recorded in the series' ledger (once the files are written).
    ledger_entries: list[ReleasedTable] = field(default_factory=list)
    #: The ledger file, and how many of the slices were added to it (0 for a table
    #: published before exactly so).
    ledger_path: Path | None = None
    ledger_recorded: int = 0

    def differencing(self) -> list[dict[str, Any]]:
        """The cells withheld for disclosure by differencing, with the full reasons
        (which state the count they would give away): for the publisher, inside the
        TRE; the published files only say how many and why."""
        out = []
        for check_result, entry in zip(self.checks, self.ledger_entries, strict=False):
            for v in check_result.verdicts:
                if "differencing" in v.rules:
                    reason = next((r for r in v.reasons if "differencing" in r), "")
                    out.append({"table": entry.output, "cell": list(v.label), "reason": reason})
        return out

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.checks:
            for k, n in c.counts().items():
                out[k] = out.get(k, 0) + n
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "slug": self.spec.slug,
            "title": self.spec.title,
            "cells": len(self.data),
            "counts": self.counts(),
            "paths": {k: str(v) for k, v in self.paths.items()},
            "differencing": {
                "series": self.spec.series_name,
                "ledger": None if self.ledger_path is None else str(self.ledger_path),
                "recorded": self.ledger_recorded,
                "withheld": self.differencing(),
            },
        }


def label(spec: TableSpec, column: str, code: Any) -> str:
    """The words for a code of ``column`` (the code itself if it has none)."""
    text = str(code)
    if text == TOTAL:
        return TOTAL
    return str(spec.labels.get(column, {}).get(text, text))
