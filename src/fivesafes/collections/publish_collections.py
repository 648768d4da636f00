"""The standard published tables of the collections, from the accepted records.

- ``children-looked-after-at-31-march``: children looked after at 31 March, by
  local authority and placement type, each year. A child is looked after at 31
  March when an episode of the collection year that ends that day started on or
  before it and had not ended by it (no end date, or an end after 31 March);
  each child has at most one open episode, so the open episodes count children.
  Only the episodes of collection year Y count at 31 March Y+1, so an episode
  returned in several years is counted once.
- ``children-in-need-at-31-march``: children in need at 31 March, by local
  authority and primary category of need: referred on or before 31 March of the
  year the collection year ends, and the case not closed by then.

:func:`publish_accepted` reads the accepted-collections DuckDB file (see
docs/collections.md; opened read-only); :func:`publish_world` reads a synthetic
world's provider files as if every return had been accepted.

Each table is a publication series of its collection (``series`` ``cla_episodes``
or ``cin_census``): every publication is checked against the earlier ones in the
series' ledger (``<out>/ledger/<collection>.jsonl``) for disclosure by
differencing, each year's slice being the population of the local authorities it
covers, so that a late return accepted between two publications is an added part
of the population whose small counts the difference of the totals must not give
away.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from fivesafes.collections.publish import Publication, TableSpec, publish_table
from fivesafes.errors import FivesafesError
from fivesafes.outputs.policy import Policy

Progress = Callable[[str, float], None]
ACCEPTED_SOURCE = "Accepted returns of the {title} collection (fivesafes collections), {n}"
ACCEPTED_SOURCE_CY = "Ffurflenni a dderbyniwyd o gasgliad {title} (casgliadau fivesafes), {n}"
WORLD_SOURCE_CY = "Ffeiliau darparwyr y byd synthetig ({title}), {n}, fel pe baent wedi'u derbyn"

CLA_AT_31_MARCH = """
SELECT c.collection_year + 1 AS year,
       coalesce(p.name, c.provider) AS local_authority,
       c.placement_type
FROM cla_episodes AS c LEFT JOIN _providers AS p ON p.code = c.provider
WHERE c.episode_start <= make_date(c.collection_year + 1, 3, 31)
  AND (c.episode_end IS NULL OR c.episode_end > make_date(c.collection_year + 1, 3, 31))
"""

CIN_AT_31_MARCH = """
SELECT c.collection_year + 1 AS year,
       coalesce(p.name, c.provider) AS local_authority,
       c.primary_need
FROM cin_census AS c LEFT JOIN _providers AS p ON p.code = c.provider
WHERE c.referral_date <= make_date(c.collection_year + 1, 3, 31)
  AND (c.closure_date IS NULL OR c.closure_date > make_date(c.collection_year + 1, 3, 31))
"""


ADULTS_AT_31_MARCH = """
SELECT c.collection_year + 1 AS year,
       coalesce(p.name, c.provider) AS local_authority,
       c.service_type
FROM adults_census AS c LEFT JOIN _providers AS p ON p.code = c.provider
WHERE c.plan_start <= make_date(c.collection_year + 1, 3, 31)
  AND (c.plan_end IS NULL OR c.plan_end > make_date(c.collection_year + 1, 3, 31))
"""

CARERS_IN_YEAR = """
SELECT c.collection_year AS year,
       coalesce(p.name, c.provider) AS local_authority,
       c.support_type
FROM carers_census AS c LEFT JOIN _providers AS p ON p.code = c.provider
"""

# An aggregate return's value counts people or events: each is expanded to that
# many records, so that the framework's table is checked (threshold, secondary
# suppression, differencing) exactly as a count of the people behind it.
PIF_COUNTS = """
SELECT c.collection_year AS year,
       coalesce(p.name, c.provider) AS local_authority,
       c.measure
FROM pif_measures AS c LEFT JOIN _providers AS p ON p.code = c.provider,
     range(greatest(c.value, 0)) AS r(i)
"""

#: The collections with standard tables, and the query of the records behind each.
#: A collection whose rule file says ``published: false`` (the checkpoint) is
#: never here, and :func:`accepted_records` refuses to read one.
STANDARD_TABLES = {
    "cla_episodes": CLA_AT_31_MARCH,
    "cin_census": CIN_AT_31_MARCH,
    "adults_census": ADULTS_AT_31_MARCH,
    "carers_census": CARERS_IN_YEAR,
    "pif_measures": PIF_COUNTS,
}


def _authorities(n: object) -> str:
    return f"{n} local authority" if n == 1 else f"{n} local authorities"


def _authorities_cy(n: object) -> str:
    return f"{n} awdurdod lleol"  # Welsh keeps the noun singular after a number


def code_labels_cy(collection: str, column: str) -> dict[str, str]:
    """The Welsh words for the codes of ``column`` (the rule file's ``code_lists_cy``)."""
    from fivesafes.collections.spec import load_spec

    spec = load_spec(collection)
    col = next((c for c in spec.columns if c.name == column), None)
    if col is None or not col.codes:
        return {}
    for name, codes in spec.code_lists.items():
        if tuple(codes) == tuple(col.codes):
            return dict(spec.code_lists_cy.get(name, {}))
    return {}


def code_labels(collection: str, column: str) -> dict[str, str]:
    """The words for the codes of ``column`` from the collection's rule file."""
    from fivesafes.collections.spec import load_spec

    spec = load_spec(collection)
    col = next((c for c in spec.columns if c.name == column), None)
    if col is None or not col.codes:
        return {}
    for codes in spec.code_lists.values():
        if tuple(codes) == tuple(col.codes):
            return dict(codes)
    return {}


def cla_spec(
    source: str, labels: Mapping[str, str], labels_cy: Mapping[str, str] | None = None
) -> TableSpec:
    return TableSpec(
        slug="children-looked-after-at-31-march",
        title="Children looked after at 31 March by local authority and placement type",
        description=(
            "Children looked after by each local authority on 31 March, by the type of "
            "their placement on that day."
        ),
        dims=("local_authority", "placement_type"),
        by=("year",),
        source=source,
        unit="children",
        labels={"placement_type": dict(labels)},
        column_titles={
            "year": "Year (at 31 March)",
            "local_authority": "Local authority",
            "placement_type": "Placement type",
        },
        chart=("year", "placement_type"),
        series="cla_episodes",
        universe="children looked after at 31 March (accepted cla_episodes returns)",
        units="local_authority",
        notes=(
            "A child is counted when an episode of care was open on 31 March (started on "
            "or before it, not ended by it).",
        ),
        title_cy="Plant sy'n derbyn gofal ar 31 Mawrth yn ôl awdurdod lleol a math o leoliad",
        description_cy=(
            "Plant sy'n derbyn gofal gan bob awdurdod lleol ar 31 Mawrth, yn ôl y math o leoliad "
            "a oedd ganddynt y diwrnod hwnnw."
        ),
        unit_cy="plant",
        labels_cy={"placement_type": dict(labels_cy or {})},
        column_titles_cy={
            "year": "Blwyddyn (ar 31 Mawrth)",
            "local_authority": "Awdurdod lleol",
            "placement_type": "Math o leoliad",
        },
        notes_cy=(
            "Caiff plentyn ei gyfrif pan oedd cyfnod o ofal ar agor ar 31 Mawrth (wedi dechrau ar "
            "y diwrnod hwnnw neu cyn hynny, heb ddod i ben erbyn hynny).",
        ),
    )


def cin_spec(
    source: str, labels: Mapping[str, str], labels_cy: Mapping[str, str] | None = None
) -> TableSpec:
    return TableSpec(
        slug="children-in-need-at-31-march",
        title="Children in need at 31 March by local authority and primary need",
        description="Children in need on 31 March, by their primary category of need.",
        dims=("local_authority", "primary_need"),
        by=("year",),
        source=source,
        unit="children",
        labels={"primary_need": dict(labels)},
        column_titles={
            "year": "Year (at 31 March)",
            "local_authority": "Local authority",
            "primary_need": "Primary need",
        },
        chart=("year", "primary_need"),
        series="cin_census",
        universe="children in need at 31 March (accepted cin_census returns)",
        units="local_authority",
        notes=(
            "A child is counted when referred on or before 31 March and the case was not "
            "closed by that day.",
        ),
        title_cy="Plant mewn angen ar 31 Mawrth yn ôl awdurdod lleol a'r prif angen",
        description_cy=("Plant mewn angen ar 31 Mawrth, yn ôl eu prif gategori angen."),
        unit_cy="plant",
        labels_cy={"primary_need": dict(labels_cy or {})},
        column_titles_cy={
            "year": "Blwyddyn (ar 31 Mawrth)",
            "local_authority": "Awdurdod lleol",
            "primary_need": "Prif angen",
        },
        notes_cy=(
            "Caiff plentyn ei gyfrif pan gafodd ei atgyfeirio ar 31 Mawrth neu cyn hynny ac nad "
            "oedd yr achos wedi'i gau erbyn y diwrnod hwnnw.",
        ),
    )


def _publishable(collection: str) -> None:
    """Refuse a collection whose rule file says it is not published."""
    from fivesafes.collections.spec import load_spec

    if not load_spec(collection).published:
        raise FivesafesError(
            f"{collection} is not a published collection; its figures are seen only by "
            "the roles granted them"
        )


AT_31_MARCH = ("cla_episodes", "cin_census", "adults_census")


def adults_spec(
    source: str, labels: Mapping[str, str], labels_cy: Mapping[str, str] | None = None
) -> TableSpec:
    return TableSpec(
        slug="adults-receiving-care-and-support-at-31-march",
        title="Adults receiving care and support at 31 March by local authority and service",
        description=(
            "Adults with a care and support plan open on 31 March, by the main service "
            "provided to them."
        ),
        dims=("local_authority", "service_type"),
        by=("year",),
        source=source,
        unit="adults",
        labels={"service_type": dict(labels)},
        column_titles={
            "year": "Year (at 31 March)",
            "local_authority": "Local authority",
            "service_type": "Main service",
        },
        chart=("year", "service_type"),
        series="adults_census",
        universe="adults with a care and support plan at 31 March (accepted adults_census returns)",
        units="local_authority",
        notes=(
            "An adult is counted when their care and support plan started on or before 31 "
            "March and had not ended by it.",
        ),
        title_cy=(
            "Oedolion sy'n cael gofal a chymorth ar 31 Mawrth yn ôl awdurdod lleol a gwasanaeth"
        ),
        description_cy=(
            "Oedolion â chynllun gofal a chymorth a oedd ar agor ar 31 Mawrth, yn ôl y prif "
            "wasanaeth a ddarperir iddynt."
        ),
        unit_cy="oedolion",
        labels_cy={"service_type": dict(labels_cy or {})},
        column_titles_cy={
            "year": "Blwyddyn (ar 31 Mawrth)",
            "local_authority": "Awdurdod lleol",
            "service_type": "Prif wasanaeth",
        },
        notes_cy=(
            "Caiff oedolyn ei gyfrif pan ddechreuodd ei gynllun gofal a chymorth ar 31 Mawrth neu "
            "cyn hynny ac nad oedd wedi dod i ben erbyn hynny.",
        ),
    )


def carers_spec(
    source: str, labels: Mapping[str, str], labels_cy: Mapping[str, str] | None = None
) -> TableSpec:
    return TableSpec(
        slug="unpaid-carers-assessed-by-support",
        title="Unpaid carers assessed in the year by local authority and support",
        description=(
            "Unpaid carers whose needs were assessed in the year, by the main support given."
        ),
        dims=("local_authority", "support_type"),
        by=("year",),
        source=source,
        unit="carers",
        labels={"support_type": dict(labels)},
        column_titles={
            "year": "Year (2025 for 2025-26)",
            "local_authority": "Local authority",
            "support_type": "Main support",
        },
        chart=("year", "support_type"),
        series="carers_census",
        universe="unpaid carers assessed in the year (accepted carers_census returns)",
        units="local_authority",
        title_cy="Gofalwyr di-dâl a aseswyd yn y flwyddyn yn ôl awdurdod lleol a chymorth",
        description_cy=(
            "Gofalwyr di-dâl yr aseswyd eu hanghenion yn y flwyddyn, yn ôl y prif gymorth a "
            "roddwyd."
        ),
        unit_cy="gofalwyr",
        labels_cy={"support_type": dict(labels_cy or {})},
        column_titles_cy={
            "year": "Blwyddyn (2025 ar gyfer 2025-26)",
            "local_authority": "Awdurdod lleol",
            "support_type": "Prif gymorth",
        },
    )


def pif_spec(
    source: str, labels: Mapping[str, str], labels_cy: Mapping[str, str] | None = None
) -> TableSpec:
    return TableSpec(
        slug="performance-and-improvement-framework",
        title="Performance and Improvement Framework: activity by local authority",
        description=(
            "The framework's counts of social services activity, each measure by local "
            "authority, to compare authorities (not individuals)."
        ),
        dims=("local_authority",),
        by=("year", "measure"),
        source=source,
        unit="people or events",
        labels={"measure": dict(labels)},
        column_titles={
            "year": "Year (2022 for 2022-23)",
            "local_authority": "Local authority",
            "measure": "Measure",
        },
        series="pif_measures",
        universe="people and events counted by the framework (accepted pif_measures returns)",
        units="local_authority",
        notes=(
            "Each measure is a count of people or events in the year; small counts are "
            "withheld as in every table (the authorities' returns are aggregates, but the "
            "people behind a count of 3 are still 3 people).",
        ),
        title_cy="Fframwaith Perfformiad a Gwella: gweithgarwch yn ôl awdurdod lleol",
        description_cy=(
            "Cyfrifon y fframwaith o weithgarwch y gwasanaethau cymdeithasol, pob mesur yn ôl "
            "awdurdod lleol, i gymharu awdurdodau (nid unigolion)."
        ),
        unit_cy="pobl neu ddigwyddiadau",
        labels_cy={"measure": dict(labels_cy or {})},
        column_titles_cy={
            "year": "Blwyddyn (2022 ar gyfer 2022-23)",
            "local_authority": "Awdurdod lleol",
            "measure": "Mesur",
        },
        notes_cy=(
            "Mae pob mesur yn gyfrif o bobl neu ddigwyddiadau yn y flwyddyn; caiff cyfrifon bach "
            "eu hatal fel ym mhob tabl (ffurflenni cyfanredol yw ffurflenni'r awdurdodau, ond 3 o "
            "bobl yw'r bobl y tu ôl i gyfrif o 3 o hyd).",
        ),
    )


def accepted_records(accepted: str | Path) -> dict[str, pd.DataFrame]:
    """The records behind each standard table, from the accepted-collections file
    (or the collections folder that holds it)."""
    path = Path(accepted)
    if path.is_dir():
        path = path / "accepted.duckdb"
    if not path.is_file():
        raise FivesafesError(
            f"{path}: no accepted collections here; accept a submission first "
            "(see docs/collections.md)"
        )
    out: dict[str, pd.DataFrame] = {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        if "_providers" not in tables:
            con.execute("CREATE TEMP TABLE _providers (code VARCHAR, name VARCHAR)")
        for name, query in STANDARD_TABLES.items():
            if name in tables:
                _publishable(name)
                out[name] = con.execute(query).df()
        n = (
            con.execute("SELECT count(DISTINCT provider) FROM _submissions").fetchone()
            if ("_submissions" in tables)
            else None
        )
    if not out:
        raise FivesafesError(
            f"{path}: holds no accepted returns of a published collection "
            f"({', '.join(STANDARD_TABLES)})"
        )
    for df in out.values():
        df.attrs["providers"] = int(n[0]) if n else df["local_authority"].nunique()
    return out


def _publish(
    records: Mapping[str, pd.DataFrame],
    out_dir: Path,
    policy: Policy | None,
    release_date: date | None,
    source: str,
    progress: Progress | None = None,
    source_cy: str = ACCEPTED_SOURCE_CY,
) -> list[Publication]:
    pubs = []
    makers = {
        "cla_episodes": (cla_spec, "placement_type"),
        "cin_census": (cin_spec, "primary_need"),
        "adults_census": (adults_spec, "service_type"),
        "carers_census": (carers_spec, "support_type"),
        "pif_measures": (pif_spec, "measure"),
    }
    titles_cy = {
        "cla_episodes": "plant sy'n derbyn gofal",
        "cin_census": "plant mewn angen",
        "adults_census": "oedolion sy'n cael gofal a chymorth",
        "carers_census": "gofalwyr di-dâl sy'n cael cymorth",
        "pif_measures": "y Fframwaith Perfformiad a Gwella",
    }
    titles = {
        "cla_episodes": "children looked after",
        "cin_census": "children in need",
        "adults_census": "adults receiving care and support",
        "carers_census": "unpaid carers receiving support",
        "pif_measures": "Performance and Improvement Framework",
    }
    for k, (name, df) in enumerate(records.items()):
        if progress is not None:
            progress(titles[name], k / len(records))
        if df.empty:
            continue
        make, column = makers[name]
        try:
            labels = code_labels(name, column)
            labels_cy = code_labels_cy(name, column)
        except Exception:  # a rule file that cannot be read: codes are shown as codes
            labels, labels_cy = {}, {}
        n = df.attrs.get("providers", "?")
        text = source.format(title=titles[name], n=_authorities(n))
        years = sorted(df["year"].unique())
        when = "31 March " if name in AT_31_MARCH else "years "
        coverage = f"{_authorities(df['local_authority'].nunique())}; {when}" + (
            f"{years[0]} to {years[-1]}" if len(years) > 1 else f"{years[0]}"
        )
        when_cy = "31 Mawrth " if name in AT_31_MARCH else "blynyddoedd "
        coverage_cy = f"{_authorities_cy(df['local_authority'].nunique())}; {when_cy}" + (
            f"{years[0]} i {years[-1]}" if len(years) > 1 else f"{years[0]}"
        )
        spec = replace(
            make(text, labels, labels_cy),
            coverage=coverage,
            coverage_cy=coverage_cy,
            source_cy=source_cy.format(title=titles_cy[name], n=_authorities_cy(n)),
        )
        pubs.append(publish_table(df, spec, out_dir, policy=policy, release_date=release_date))
    if progress is not None:
        progress("done", 1.0)
    return pubs


def publish_accepted(
    accepted: str | Path,
    out_dir: str | Path,
    policy: Policy | None = None,
    release_date: date | None = None,
    progress: Progress | None = None,
) -> list[Publication]:
    """Publish the standard tables of the accepted collections into ``out_dir``
    (``progress(stage, fraction done)`` is told which table is being checked)."""
    return _publish(
        accepted_records(accepted),
        Path(out_dir),
        policy,
        release_date,
        ACCEPTED_SOURCE,
        progress,
    )


def _snapshots(
    df: pd.DataFrame, start: str, end: str, dim: str, names: Mapping[str, str]
) -> pd.DataFrame:
    """Records open at 31 March of every year the file covers."""
    first = pd.to_datetime(df[start], errors="coerce")
    last = pd.to_datetime(df[end], errors="coerce")
    years = range(int(first.dt.year.min()) + 1, int(first.dt.year.max()) + 1)
    frames = []
    for y in years:
        day = pd.Timestamp(y, 3, 31)
        open_ = (first <= day) & (last.isna() | (last > day))
        part = df.loc[open_, ["la_code", dim]].copy()
        part.insert(0, "year", y)
        frames.append(part)
    out = pd.concat(frames, ignore_index=True)
    out["local_authority"] = out.pop("la_code").map(lambda c: names.get(c, c))
    return out[["year", "local_authority", dim]]


def world_records(world: str | Path, last_years: int = 5) -> dict[str, pd.DataFrame]:
    """The records behind each standard table from a synthetic world's provider
    files (as if every return were accepted), for the last ``last_years`` years."""
    root = Path(world)
    provider = root / "provider"
    areas = pd.read_csv(root / "reference" / "areas.csv", dtype=str)
    names = dict(zip(areas["la_code"], areas["la_name"], strict=True))
    out: dict[str, pd.DataFrame] = {}
    cla = provider / "cla_episodes.csv"
    if cla.is_file():
        df = pd.read_csv(cla, dtype=str, keep_default_na=False).replace({"": None})
        df = df[df["la_code"].notna() & df["placement_type"].notna()]
        out["cla_episodes"] = _snapshots(
            df, "episode_start", "episode_end", "placement_type", names
        )
    cin_files = sorted(provider.glob("cin_census_*.csv"))
    if cin_files:
        df = pd.concat(
            [pd.read_csv(f, dtype=str, keep_default_na=False) for f in cin_files], ignore_index=True
        ).replace({"": None})
        df = df[df["la_code"].notna() & df["primary_need"].notna()]
        df = df.drop_duplicates(["child_id", "referral_date"])
        out["cin_census"] = _snapshots(
            df, "referral_date", "cin_closure_date", "primary_need", names
        )
    for name, df in list(out.items()):
        keep = sorted(df["year"].unique())[-last_years:]
        out[name] = df[df["year"].isin(keep)].reset_index(drop=True)
        out[name].attrs["providers"] = out[name]["local_authority"].nunique()
    if not out:
        raise FivesafesError(f"{root}: no cla_episodes or cin_census provider files")
    return out


def publish_world(
    world: str | Path,
    out_dir: str | Path,
    policy: Policy | None = None,
    release_date: date | None = None,
) -> list[Publication]:
    """Publish the standard tables from a synthetic world's provider files."""
    source = "Synthetic world provider files ({title}), {n}, as if accepted"
    return _publish(
        world_records(world), Path(out_dir), policy, release_date, source, None, WORLD_SOURCE_CY
    )
