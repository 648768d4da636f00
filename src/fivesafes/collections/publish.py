"""Publication of safe statistics: aggregate tables of accepted records, checked by
the disclosure engine, written as CSV, JSON with metadata and static HTML pages
with a chart; and the indicator dashboards (:mod:`.publish_indicators`).

:func:`publish_table` takes records (a pandas DataFrame, e.g. from the accepted
collections table in DuckDB, see docs/collections.md) and a :class:`TableSpec`:
the table counts records (or distinct values of a key) by the spec's dimensions,
with every margin (``Total``), once per value of the ``by`` columns (a year, say:
counts at a date in different years are not added up). Each slice is checked by
:func:`fivesafes.outputs.check` under the policy — small cells suppressed, further
cells withheld so that none can be worked out from the totals, counts rounded if
the policy rounds, totals at their true (rounded) values — and only the safe
version is written. Nothing but the safe values reaches the CSV, the JSON, the
HTML or the chart. :func:`publish_demo` runs the whole publication for the demo.

Disclosure by differencing across publications: every table is also checked
against the tables published before it in the same **series** (the release
ledger of :mod:`fivesafes.outputs.differencing`, one JSON-lines file per series
in ``<out_dir>/ledger/``), with the same rule the airlock uses
(:func:`~fivesafes.outputs.differencing.ledger_rule`): a cell that, subtracted
from an earlier publication, would give away a count below the threshold is
suppressed like any unsafe cell. A table goes into the ledger only once its files
are written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from fivesafes.errors import FivesafesError
from fivesafes.outputs.check import CheckResult, check
from fivesafes.outputs.differencing import (
    LEDGER_DIR,
    Ledger,
    Population,
    ReleasedTable,
    ledger_rule,
)
from fivesafes.outputs.objects import TOTAL, FrequencyTable
from fivesafes.outputs.policy import Policy, tre_policy
from fivesafes.spreadsheet import inert_frame

#: The symbol a published table shows for a withheld cell (GSS guidance on
#: symbols in tables: [c] confidential).
SUPPRESSED_SYMBOL = "[c]"
FORMAT = "fivesafes.publication/1"
#: The folder the web app's statistics pages serve (see :func:`published_dir`).
PUBLISHED_DIR_ENV = "FIVESAFES_PUBLISHED_DIR"


def published_dir() -> Path:
    """Where publications go by default and what the web app serves:
    ``$FIVESAFES_PUBLISHED_DIR``, else ``<state dir>/published``."""
    if os.environ.get(PUBLISHED_DIR_ENV):
        return Path(os.environ[PUBLISHED_DIR_ENV])
    from fivesafes.appdb import state_dir

    return state_dir() / "published"


def publication_ledger(out_dir: str | Path) -> Ledger:
    """The release ledger of the publications in ``out_dir``: one JSON-lines file per
    series, ``<out_dir>/ledger/<series>.jsonl`` (hash-chained, as the airlock's). The
    web pages never serve it (they serve only the files the publications name)."""
    return Ledger(Path(out_dir) / LEDGER_DIR)


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

    def title_of(self, column: str) -> str:
        return self.column_titles.get(column, column.replace("_", " "))

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


def _policy_notes(policy: Policy, unit: str, counts: Mapping[str, int]) -> list[str]:
    notes = []
    minimum = policy.minimum_count
    zeros = " Zeros are suppressed too." if policy.zeros else ""
    if minimum:
        notes.append(
            f"Cells counting fewer than {minimum} {unit} are suppressed and shown as "
            f"{SUPPRESSED_SYMBOL} (blank in the CSV and null in the JSON).{zeros}"
        )
    elif policy.zeros:
        notes.append(f"Zero cells are suppressed and shown as {SUPPRESSED_SYMBOL}.")
    notes.append(
        "Further cells are suppressed where a suppressed cell could otherwise be worked out "
        "from the totals (secondary suppression); totals are true totals, never the sum of "
        "the cells shown."
    )
    if policy.rounding == "nearest":
        notes.append(
            f"Counts, totals included, are rounded to the nearest {policy.rounding_base} "
            "(halves up), so cells may not add up to the totals."
        )
    elif policy.rounding == "midpoint6":
        notes.append(
            f"Counts are rounded to the midpoint of their band of {policy.rounding_base} "
            "(zero stays zero), so cells may not add up to the totals."
        )
    else:
        notes.append("Counts are not rounded.")
    notes.append(
        f"{counts.get('suppress', 0)} of {sum(counts.values())} cells are suppressed; "
        f"disclosure control policy {policy.label}."
    )
    return notes


def _differencing_cells(checks: Sequence[CheckResult]) -> int:
    return sum("differencing" in v.rules for c in checks for v in c.verdicts)


def _earlier(checks: Sequence[CheckResult], ledger: Ledger, series: str) -> list[str]:
    """The earlier publications the withheld cells were checked against, by name."""
    names = {e.output: e.name for e in ledger.entries(series)}
    found: list[str] = []
    for c in checks:
        for v in c.verdicts:
            if "differencing" not in v.rules:
                continue
            for reason in v.reasons:
                for output, name in names.items():
                    if name in reason and name not in found:
                        found.append(name)
                        del names[output]
                        break
    return found


def _differencing_note(
    policy: Policy, unit: str, checks: Sequence[CheckResult], earlier: int, against: list[str]
) -> str:
    """The note on disclosure by differencing. It never names the cells nor the counts
    they would give away (saying a difference is small would itself be a disclosure)."""
    minimum = policy.minimum_count
    if earlier == 0:
        return (
            "Disclosure by differencing: no table had been published earlier in this series, "
            "so there was none to check this one against."
        )
    n = _differencing_cells(checks)
    tables = f"{earlier} table{'' if earlier == 1 else 's'}"
    if n == 0 or minimum <= 1:
        return (
            f"Disclosure by differencing: checked against the {tables} published earlier in "
            "this series; no cell needed to be withheld."
        )
    cells = f"{n} cell{' is' if n == 1 else 's are'}"
    what = " and ".join(against) if against else "a table published earlier"
    return (
        f"{cells} suppressed because, subtracted from {what}, "
        f"{'it' if n == 1 else 'they'} would give away a count of fewer than {minimum} "
        f"{unit} (disclosure by differencing); checked against the {tables} published earlier "
        "in this series."
    )


def _coverage(records: pd.DataFrame, spec: TableSpec) -> str:
    if spec.coverage:
        return spec.coverage
    parts = []
    for col in (*spec.by, *spec.dims):
        values = sorted(records[col].dropna().astype(str).unique())
        if not values:
            continue
        if col in spec.by and len(values) > 1:
            parts.append(f"{spec.title_of(col)} {values[0]} to {values[-1]}")
        elif col in spec.by:
            parts.append(f"{spec.title_of(col)} {values[0]}")
        else:
            parts.append(f"{len(values)} values of {spec.title_of(col).lower()}")
    return "; ".join(parts)


def safe_table(
    records: pd.DataFrame, spec: TableSpec, policy: Policy, ledger: Ledger | None = None
) -> tuple[pd.DataFrame, list[CheckResult]]:
    """The checked table: one row per cell (``by``, ``dims``, ``value``, ``status``),
    value None where withheld, margins labelled ``Total``. With ``ledger``, each slice
    is also checked against what the spec's series published before (disclosure by
    differencing), and its check result carries the slice's population."""
    data, checks, _ = _safe_slices(records, spec, policy, ledger)
    return data, checks


def _safe_slices(
    records: pd.DataFrame, spec: TableSpec, policy: Policy, ledger: Ledger | None
) -> tuple[pd.DataFrame, list[CheckResult], list[tuple[Any, ...]]]:
    missing = [
        c for c in (*spec.by, *spec.dims, *([spec.key] if spec.key else [])) if c not in records
    ]
    if missing:
        raise FivesafesError(
            f"table {spec.slug}: the records have no column {', '.join(missing)} "
            f"(they have {', '.join(map(str, records.columns))})"
        )
    frames, checks, keys = [], [], []
    groups = records.groupby(list(spec.by), sort=True) if spec.by else [((), records)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        sub = part[[*spec.dims, *([spec.key] if spec.key else [])]].copy()
        for d in spec.dims:
            sub[d] = sub[d].astype(str)
        table = FrequencyTable.from_microdata(sub, list(spec.dims), person=spec.key)
        population = spec.population(key, part)
        rule = None if ledger is None else ledger_rule(spec.series_name, population, policy, ledger)
        result = check(table, policy, differencing=rule)
        result.population = population.to_dict()
        keys.append(key)
        safe = result.safe
        for col, value in zip(spec.by, key, strict=True):
            safe.insert(list(spec.by).index(col), col, value)
        frames.append(safe)
        checks.append(result)
    if not frames:
        raise FivesafesError(f"table {spec.slug}: there are no records to publish")
    data = pd.concat(frames, ignore_index=True)
    data["value"] = data["value"].astype(object).where(data["value"].notna(), None)
    return data, checks, keys


def _same_table(a: ReleasedTable, b: ReleasedTable) -> bool:
    keep = ("output", "dims", "population", "cells")
    da, db = a.to_dict(), b.to_dict()
    return all(da[k] == db[k] for k in keep)


def _record(ledger: Ledger, series: str, entries: Sequence[ReleasedTable]) -> int:
    """Add the published slices to the series' ledger, except one exactly as already
    recorded (publishing it again gives nothing away); returns how many were added."""
    existing = ledger.entries(series)
    added = 0
    for entry in entries:
        if any(_same_table(entry, e) for e in existing):
            continue
        ledger.record(entry)
        existing.append(entry)
        added += 1
    return added


def publish_table(
    records: pd.DataFrame,
    spec: TableSpec,
    out_dir: str | Path,
    policy: Policy | None = None,
    release_date: date | None = None,
) -> Publication:
    """Check and publish one table: ``<slug>.csv``, ``<slug>.json``, ``<slug>.png``
    and ``<slug>.html`` under ``out_dir``. The policy defaults to the TRE's."""
    from fivesafes.collections.publish_charts import table_chart
    from fivesafes.collections.publish_html import table_page

    policy = policy or tre_policy()
    released = release_date or date.today()
    out = Path(out_dir)
    ledger = publication_ledger(out)
    series = spec.series_name
    earlier = len(ledger.entries(series))  # also checks the ledger's hash chain
    data, checks, keys = _safe_slices(records, spec, policy, ledger)
    entries = []
    for key, result in zip(keys, checks, strict=True):
        entry = ReleasedTable.from_report(
            series,
            spec.output_name(key),
            result.to_dict(),
            released_at=released.isoformat(),
            released_by="fivesafes publish",
        )
        if entry is not None:
            entries.append(entry)
    withheld = _differencing_cells(checks)
    against = _earlier(checks, ledger, series) if withheld else []
    counts: dict[str, int] = {}
    for c in checks:
        for k, n in c.counts().items():
            counts[k] = counts.get(k, 0) + n
    metadata = {
        "format": FORMAT,
        "slug": spec.slug,
        "title": spec.title,
        "description": spec.description,
        "source": spec.source,
        "coverage": _coverage(records, spec),
        "unit": spec.unit,
        "release_date": released.isoformat(),
        "dimensions": [*spec.by, *spec.dims],
        "by": list(spec.by),
        "dims": list(spec.dims),
        "column_titles": {c: spec.title_of(c) for c in (*spec.by, *spec.dims)},
        "labels": {k: dict(v) for k, v in spec.labels.items()},
        "notes": [
            *spec.notes,
            *_policy_notes(policy, spec.unit, counts),
            _differencing_note(policy, spec.unit, checks, earlier, against),
        ],
        "disclosure": {
            "policy": policy.label,
            "cells": counts,
            "secondary_suppression": sorted({c.secondary for c in checks}),
            "check_notes": sorted({n for c in checks for n in c.notes}),
            "differencing": {
                "series": series,
                "ledger": f"{LEDGER_DIR}/{ledger.path(series).name}",
                "earlier_tables": earlier,
                "cells": withheld,
                "checked_against": against,
            },
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    pub = Publication(spec, data, metadata, checks, ledger_entries=entries)
    pub.ledger_path = ledger.path(series)
    try:
        csv_path = out / f"{spec.slug}.csv"
        inert_frame(data).to_csv(csv_path, index=False, na_rep="")
        pub.paths = {"csv": csv_path}
        if spec.chart is not None:
            png, alt = table_chart(pub, out / f"{spec.slug}.png")
            pub.paths["png"] = png
            metadata["chart"] = {"png": png.name, "alt": alt}
            metadata["chart_alt"] = alt
        json_path = out / f"{spec.slug}.json"
        json_path.write_text(
            json.dumps(
                {"metadata": metadata, "data": data.to_dict(orient="records")},
                indent=2,
                default=str,
            )
            + "\n",
            encoding="utf-8",
        )
        pub.paths["json"] = json_path
        html_path = out / f"{spec.slug}.html"
        html_path.write_text(table_page(pub), encoding="utf-8")
        pub.paths["html"] = html_path
        # Only now, with every file written, does the table go into the ledger.
        pub.ledger_recorded = _record(ledger, series, entries)
    except Exception as exc:
        # Nothing stays published that the ledger does not know of.
        for path in pub.paths.values():
            path.unlink(missing_ok=True)
        if not isinstance(exc, OSError | FivesafesError):
            raise
        raise FivesafesError(
            f"table {spec.slug}: could not be published in {out}: {exc}; its files were "
            "removed and it was not recorded in the publication ledger"
        ) from exc
    return pub


def record_publication(
    actor: str,
    kind: str,
    paths: Sequence[str | Path],
    policy: Policy,
    db_url: str | None = None,
) -> int:
    """Write the publication into the tamper-evident audit log (the state
    database, ``db_url`` or the settings default): action ``publication.publish``,
    the policy and the SHA-256 of every file published. Returns the entry's number."""
    import hashlib

    from fivesafes import audit
    from fivesafes.appdb import migrate, session_factory

    files = {
        str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest()
        for p in sorted(map(str, paths))
        if Path(p).is_file()
    }
    migrate(db_url)
    with session_factory(db_url)() as session:
        entry = audit.record(
            session,
            actor,
            "publication.publish",
            f"publication:{kind}",
            {"policy": policy.label, "files": files},
        )
        seq = int(entry.seq)
        session.commit()
    return seq


def write_index(
    out_dir: str | Path,
    publications: Sequence[Publication],
    dashboards: Sequence[Mapping[str, Any]] = (),
    title: str = "Published statistics",
) -> Path:
    """``index.html`` and ``index.json``: every publication and dashboard in ``out_dir``."""
    from fivesafes.collections.publish_html import index_page

    out = Path(out_dir)
    entries = [
        {
            "slug": p.spec.slug,
            "title": p.spec.title,
            "release_date": p.metadata["release_date"],
            "coverage": p.metadata["coverage"],
            "kind": "table",
            "files": {k: v.name for k, v in p.paths.items()},
        }
        for p in publications
    ] + [dict(d) for d in dashboards]
    (out / "index.json").write_text(
        json.dumps({"format": FORMAT, "title": title, "publications": entries}, indent=2) + "\n",
        encoding="utf-8",
    )
    path = out / "index.html"
    path.write_text(index_page(title, entries), encoding="utf-8")
    return path


def publish_demo(
    out_dir: str | Path,
    accepted: str | Path | None = None,
    world: str | Path | None = None,
    indicators_csv: str | Path | None = None,
    seed: int = 1,
    policy: Policy | None = None,
    release_date: date | None = None,
) -> dict[str, Any]:
    """The demo's publication, written under ``out_dir``; returns what it wrote.

    Tables come from the accepted collections (``accepted``: a collections folder
    or its ``accepted.duckdb``) or, without one, from a synthetic world's provider
    files (``world``: its folder) as if every return had been accepted. The
    indicator dashboard reads ``indicators_csv`` or makes synthetic board-area
    indicators (:mod:`fivesafes.synth.indicators`) with ``seed``."""
    from fivesafes.collections.publish_collections import (
        publish_accepted,
        publish_world,
    )
    from fivesafes.collections.publish_indicators import publish_indicators
    from fivesafes.synth.indicators import make_indicators

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    policy = policy or tre_policy()
    pubs: list[Publication] = []
    if accepted is not None:
        pubs = publish_accepted(accepted, out, policy=policy, release_date=release_date)
    elif world is not None:
        pubs = publish_world(world, out, policy=policy, release_date=release_date)
    # the synthetic input stays in memory: only safe outputs go into the folder
    table = make_indicators(seed=seed) if indicators_csv is None else indicators_csv
    dash = publish_indicators(table, out / "indicators", policy=policy, release_date=release_date)
    index = write_index(out, pubs, [dash.entry(prefix="indicators/")])
    return {
        "index": str(index),
        "tables": [p.to_dict() for p in pubs],
        "indicators": dash.to_dict(),
        "paths": [str(index)]
        + [str(p) for pub in pubs for p in pub.paths.values()]
        + [str(p) for p in dash.paths.values()],
    }


def label(spec: TableSpec, column: str, code: Any) -> str:
    """The words for a code of ``column`` (the code itself if it has none)."""
    text = str(code)
    if text == TOTAL:
        return TOTAL
    return str(spec.labels.get(column, {}).get(text, text))
