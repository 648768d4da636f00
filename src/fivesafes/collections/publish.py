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
HTML or the chart. The shared types (:class:`TableSpec`, :class:`Publication`) are in
:mod:`.publication`; the demo's publication is :func:`fivesafes.demo.collections.publish_demo`.

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
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from fivesafes.collections.publication import (
    FORMAT,
    SUPPRESSED_SYMBOL,
    Publication,
    TableSpec,
    label,
)
from fivesafes.collections.publish_charts import table_chart
from fivesafes.collections.publish_html import index_page, table_page
from fivesafes.errors import FivesafesError
from fivesafes.outputs.check import CheckResult, check
from fivesafes.outputs.differencing import (
    LEDGER_DIR,
    Ledger,
    ReleasedTable,
    ledger_rule,
)
from fivesafes.outputs.objects import FrequencyTable
from fivesafes.outputs.policy import Policy, tre_policy
from fivesafes.spreadsheet import inert_frame

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


#: The words of a table's notes, each in the languages a table is published in
#: (the Welsh says the same facts, no more). A pair is (one, more than one) for
#: a count; Welsh counts with the singular noun after a number.
NOTE_WORDS: dict[str, dict[str, Any]] = {
    "zeros_too": {
        "en": " Zeros are suppressed too.",
        "cy": " Caiff sero eu hatal hefyd.",
    },
    "minimum": {
        "en": (
            "Cells counting fewer than {minimum} {unit} are suppressed and shown as "
            "{symbol} (blank in the CSV and null in the JSON).{zeros}"
        ),
        "cy": (
            "Caiff celloedd sy'n cyfrif llai na {minimum} {unit} eu hatal a'u dangos fel "
            "{symbol} (yn wag yn y CSV ac yn null yn y JSON).{zeros}"
        ),
    },
    "zeros": {
        "en": "Zero cells are suppressed and shown as {symbol}.",
        "cy": "Caiff celloedd sero eu hatal a'u dangos fel {symbol}.",
    },
    "secondary": {
        "en": (
            "Further cells are suppressed where a suppressed cell could otherwise be "
            "worked out from the totals (secondary suppression); totals are true totals, "
            "never the sum of the cells shown."
        ),
        "cy": (
            "Caiff celloedd eraill eu hatal lle gellid fel arall gyfrifo cell a ataliwyd "
            "o'r cyfansymiau (ataliad eilaidd); gwir gyfansymiau yw'r cyfansymiau, nid "
            "swm y celloedd a ddangosir."
        ),
    },
    "nearest": {
        "en": (
            "Counts, totals included, are rounded to the nearest {base} (halves up), so "
            "cells may not add up to the totals."
        ),
        "cy": (
            "Caiff cyfrifon, gan gynnwys cyfansymiau, eu talgrynnu i'r {base} agosaf "
            "(haneri i fyny), felly efallai na fydd y celloedd yn adio i'r cyfansymiau."
        ),
    },
    "midpoint6": {
        "en": (
            "Counts are rounded to the midpoint of their band of {base} (zero stays "
            "zero), so cells may not add up to the totals."
        ),
        "cy": (
            "Caiff cyfrifon eu talgrynnu i ganolbwynt eu band o {base} (mae sero yn aros "
            "yn sero), felly efallai na fydd y celloedd yn adio i'r cyfansymiau."
        ),
    },
    "unrounded": {
        "en": "Counts are not rounded.",
        "cy": "Nid yw'r cyfrifon wedi'u talgrynnu.",
    },
    "suppressed": {
        "en": "{suppressed} of {cells} cells are suppressed; disclosure control policy {policy}.",
        "cy": (
            "Mae {suppressed} o {cells} cell wedi'u hatal; polisi rheoli datgelu "
            "ystadegol {policy}."
        ),
    },
    "no_earlier": {
        "en": (
            "Disclosure by differencing: no table had been published earlier in this "
            "series, so there was none to check this one against."
        ),
        "cy": (
            "Datgelu drwy wahaniaethu: nid oedd tabl wedi'i gyhoeddi'n gynharach yn y "
            "gyfres hon, felly nid oedd un i wirio'r tabl hwn yn ei erbyn."
        ),
    },
    "none_withheld": {
        "en": (
            "Disclosure by differencing: checked against the {tables} published earlier "
            "in this series; no cell needed to be withheld."
        ),
        "cy": (
            "Datgelu drwy wahaniaethu: wedi'i wirio yn erbyn y {tables} a gyhoeddwyd yn "
            "gynharach yn y gyfres hon; nid oedd angen atal unrhyw gell."
        ),
    },
    "withheld": {
        "en": (
            "{cells} suppressed because, subtracted from {what}, {they} would give away a"
            " count of fewer than {minimum} {unit} (disclosure by differencing); checked "
            "against the {tables} published earlier in this series."
        ),
        "cy": (
            "{cells} wedi'u hatal oherwydd, o'u tynnu o {what}, {they} yn datgelu cyfrif "
            "o lai na {minimum} {unit} (datgelu drwy wahaniaethu); wedi'i wirio yn erbyn "
            "y {tables} a gyhoeddwyd yn gynharach yn y gyfres hon."
        ),
    },
    "tables": {
        "en": ("{n} table", "{n} tables"),
        "cy": ("{n} tabl", "{n} tabl"),
    },
    "cells": {
        "en": ("{n} cell is", "{n} cells are"),
        "cy": ("Mae {n} cell", "Mae {n} cell"),
    },
    "they": {
        "en": ("it", "they"),
        "cy": ("y byddent", "y byddent"),
    },
    "and": {
        "en": " and ",
        "cy": " a ",
    },
    "an_earlier_table": {
        "en": "a table published earlier",
        "cy": "dabl a gyhoeddwyd yn gynharach",
    },
    "years": {
        "en": "{title} {first} to {last}",
        "cy": "{title} {first} i {last}",
    },
    "year": {
        "en": "{title} {first}",
        "cy": "{title} {first}",
    },
    "values": {
        "en": "{n} values of {title}",
        "cy": "{n} gwerth o {title}",
    },
}


def _words(language: str) -> dict[str, Any]:
    """The notes' words in ``language``."""
    return {key: by_language[language] for key, by_language in NOTE_WORDS.items()}


def _count(words: Mapping[str, Any], key: str, n: int) -> str:
    """The words for ``n`` of something: the first of the pair for one, else the second."""
    return str(words[key][0 if n == 1 else 1]).format(n=n)


def _policy_notes(
    policy: Policy, unit: str, counts: Mapping[str, int], language: str = "en"
) -> list[str]:
    """What the policy did to the table, in ``language`` (``unit``: its word in it)."""
    words = _words(language)
    notes = []
    minimum = policy.minimum_count
    if minimum:
        zeros = words["zeros_too"] if policy.zeros else ""
        notes.append(
            words["minimum"].format(
                minimum=minimum, unit=unit, symbol=SUPPRESSED_SYMBOL, zeros=zeros
            )
        )
    elif policy.zeros:
        notes.append(words["zeros"].format(symbol=SUPPRESSED_SYMBOL))
    notes.append(words["secondary"])
    if policy.rounding in ("nearest", "midpoint6"):
        notes.append(words[policy.rounding].format(base=policy.rounding_base))
    else:
        notes.append(words["unrounded"])
    notes.append(
        words["suppressed"].format(
            suppressed=counts.get("suppress", 0), cells=sum(counts.values()), policy=policy.label
        )
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
    policy: Policy,
    unit: str,
    checks: Sequence[CheckResult],
    earlier: int,
    against: list[str],
    language: str = "en",
) -> str:
    """The note on disclosure by differencing, in ``language``. It never names the cells
    nor the counts they would give away (saying a difference is small would itself be
    a disclosure)."""
    words = _words(language)
    minimum = policy.minimum_count
    if earlier == 0:
        return str(words["no_earlier"])
    n = _differencing_cells(checks)
    tables = _count(words, "tables", earlier)
    if n == 0 or minimum <= 1:
        return str(words["none_withheld"]).format(tables=tables)
    return str(words["withheld"]).format(
        cells=_count(words, "cells", n),
        what=words["and"].join(against) if against else words["an_earlier_table"],
        they=_count(words, "they", n),
        minimum=minimum,
        unit=unit,
        tables=tables,
    )


def welsh_metadata(
    records: pd.DataFrame,
    spec: TableSpec,
    policy: Policy,
    counts: Mapping[str, int],
    differencing: tuple[Sequence[CheckResult], int, list[str]],
) -> dict[str, Any]:
    """The ``cy`` object of a table's metadata: its words in Welsh, under the same keys
    as the English ones beside it (``title``, ``description``, ``source``,
    ``coverage``, ``unit``, ``column_titles``, ``labels``, ``notes``); what has no
    Welsh is in English."""
    unit = spec.unit_cy or spec.unit
    checks, earlier, against = differencing
    return {
        "title": spec.title_cy,
        "description": spec.description_cy or spec.description,
        "source": spec.source_cy or spec.source,
        "coverage": _coverage(records, spec, "cy"),
        "unit": unit,
        "column_titles": spec.welsh_column_titles(),
        "labels": spec.welsh_labels(),
        "notes": [
            *(spec.notes_cy or spec.notes),
            *_policy_notes(policy, unit, counts, "cy"),
            _differencing_note(policy, unit, checks, earlier, against, "cy"),
        ],
    }


def _coverage(records: pd.DataFrame, spec: TableSpec, language: str = "en") -> str:
    """What the table covers, in ``language``: the spec's words, else the range of
    each ``by`` column and the number of values of each dimension."""
    given = spec.coverage_cy if language == "cy" else spec.coverage
    if given:
        return given
    words = _words(language)
    titles = (
        spec.welsh_column_titles()
        if language == "cy"
        else {c: spec.title_of(c) for c in (*spec.by, *spec.dims)}
    )
    parts = []
    for col in (*spec.by, *spec.dims):
        values = sorted(records[col].dropna().astype(str).unique())
        if not values:
            continue
        if col in spec.by:
            key = "years" if len(values) > 1 else "year"
            parts.append(words[key].format(title=titles[col], first=values[0], last=values[-1]))
        else:
            parts.append(words["values"].format(n=len(values), title=titles[col].lower()))
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
    metadata["languages"] = spec.languages
    if spec.title_cy:
        metadata["cy"] = welsh_metadata(records, spec, policy, counts, (checks, earlier, against))
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
        if spec.title_cy:
            html_cy = out / f"{spec.slug}.cy.html"
            html_cy.write_text(table_page(pub, "cy"), encoding="utf-8")
            pub.paths["html_cy"] = html_cy
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
    title_cy: str = "Ystadegau cyhoeddedig",
) -> Path:
    """``index.html`` and ``index.json``: every publication and dashboard in ``out_dir``;
    and ``index.cy.html``, the list in Welsh (each entry's ``cy`` title and coverage
    where it has them, linking to the Welsh pages)."""

    out = Path(out_dir)
    entries = [
        {
            "slug": p.spec.slug,
            "title": p.spec.title,
            "release_date": p.metadata["release_date"],
            "coverage": p.metadata["coverage"],
            "kind": "table",
            "files": {k: v.name for k, v in p.paths.items()},
            "languages": p.spec.languages,
            **(
                {
                    "cy": {
                        "title": p.metadata["cy"]["title"],
                        "coverage": p.metadata["cy"]["coverage"],
                        "href": p.paths["html_cy"].name,
                    }
                }
                if "cy" in p.metadata and "html_cy" in p.paths
                else {}
            ),
        }
        for p in publications
    ] + [dict(d) for d in dashboards]
    (out / "index.json").write_text(
        json.dumps(
            {
                "format": FORMAT,
                "title": title,
                "languages": ["en", "cy"],
                "cy": {"title": title_cy},
                "publications": entries,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    path = out / "index.html"
    path.write_text(index_page(title, entries), encoding="utf-8")
    (out / "index.cy.html").write_text(index_page(title_cy, entries, "cy"), encoding="utf-8")
    return path


__all__ = ["FORMAT", "SUPPRESSED_SYMBOL", "Publication", "TableSpec", "label"]
