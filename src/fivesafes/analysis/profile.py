"""Data-quality profiling of a project workspace, per dataset and variable.

For every column of every table (or of the datasets asked for): its type,
completeness (share of rows not missing), distinct values, range (minimum,
maximum, mean of numbers and dates), and *invalid values*: codes not in the
datasets catalogue's code list (:mod:`fivesafes.datasets`), text not matching
the column's pattern, numbers outside its range, with a few examples. Coverage
over time (rows and completeness per year of the dataset's time column) and by
area (per local authority, or small area when there is no local authority).

Everything is computed in DuckDB, one aggregate query per table and view
(columns side by side), so a profile of millions of rows takes seconds. Tables
the catalogue does not know (derived tables) are profiled without the checks.

A profile describes microdata and stays in the workspace; :meth:`outputs`
gives the counts behind it as objects the disclosure rules check, for taking
any of it out through the airlock.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from fivesafes.analysis.curation.steps import quote, table_names
from fivesafes.analysis.result import AnalysisResult
from fivesafes.datasets import BY_NAME, Column
from fivesafes.errors import FivesafesError
from fivesafes.outputs.objects import FrequencyTable, OutputObject

#: The date or year each dataset's records are about, for coverage over time.
TIME_COLUMNS = {
    "pupil_census": "academic_year",
    "justice_offences": "offence_date",
    "cla_episodes": "episode_start",
    "cin_census": "census_year",
    "hospital_admissions": "admission_date",
    "earnings_survey": "survey_year",
}
AREA_COLUMNS = ("la_code", "area_code")
EXAMPLES = 5
NUMERIC = ("INT", "DOUBLE", "FLOAT", "DECIMAL", "REAL", "NUMERIC")


@dataclass
class VariableProfile:
    variable: str
    type: str
    rows: int
    non_missing: int
    completeness_pct: float | None
    distinct: int
    minimum: str | None
    maximum: str | None
    mean: float | None
    rule: str  # what the catalogue expects, "" when it has nothing to check
    invalid: int
    invalid_examples: list[str] = field(default_factory=list)


@dataclass
class DatasetProfile:
    dataset: str
    rows: int
    persons: int | None
    variables: list[VariableProfile]
    time_column: str | None
    by_time: pd.DataFrame  # period, rows, then completeness % per variable
    area_column: str | None
    by_area: pd.DataFrame  # area, rows, then completeness % per variable

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "rows": self.rows,
            "persons": self.persons,
            "variables": [asdict(v) for v in self.variables],
            "time_column": self.time_column,
            "by_time": self.by_time.to_dict(orient="records"),
            "area_column": self.area_column,
            "by_area": self.by_area.to_dict(orient="records"),
        }


@dataclass
class WorkspaceProfile:
    datasets: list[DatasetProfile]

    def variables(self) -> pd.DataFrame:
        """One row per dataset and variable."""
        rows = [
            {"dataset": d.dataset, **asdict(v), "invalid_examples": "; ".join(v.invalid_examples)}
            for d in self.datasets
            for v in d.variables
        ]
        return pd.DataFrame(rows)

    def dataset(self, name: str) -> DatasetProfile:
        for d in self.datasets:
            if d.dataset == name:
                return d
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"datasets": [d.to_dict() for d in self.datasets]}

    def result(self) -> AnalysisResult:
        """As the common result: the variables table (ranges show extremes, so it has
        no output object: a checker reviews it by eye), and per dataset the record
        counts per period and per area with the tables the disclosure rules check
        (they count records, not people)."""
        res = AnalysisResult(
            method="profile",
            summary={"datasets": {d.dataset: {"rows": d.rows} for d in self.datasets}},
        )
        res.add_table(
            "profile_variables",
            self.variables(),
            "Per dataset and variable: completeness, distinct values, range, invalid values.",
        )
        for d in self.datasets:
            if d.time_column is not None and len(d.by_time):
                t = d.by_time[["period", "rows"]].assign(period=lambda x: x["period"].astype(str))
                t = pd.concat([t, pd.DataFrame({"period": ["Total"], "rows": [d.rows]})])
                res.add_table(
                    f"{d.dataset}_rows_by_period",
                    d.by_time,
                    f"{d.dataset}: records and completeness (%) per {d.time_column}.",
                    FrequencyTable.from_long(t, ["period"], "rows", kind="series"),
                )
            if d.area_column is not None and len(d.by_area):
                a = d.by_area[["area", "rows"]].assign(area=lambda x: x["area"].astype(str))
                a = pd.concat([a, pd.DataFrame({"area": ["Total"], "rows": [d.rows]})])
                res.add_table(
                    f"{d.dataset}_rows_by_area",
                    d.by_area,
                    f"{d.dataset}: records and completeness (%) per {d.area_column}.",
                    FrequencyTable.from_long(a, ["area"], "rows", kind="area table"),
                )
        return res

    def outputs(self) -> dict[str, OutputObject]:
        """The output objects the disclosure rules check, by name."""
        return self.result().outputs()


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [
        (str(r[0]), str(r[1]))
        for r in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_catalog = current_database() "
            "AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _invalid_condition(col: Column, name: str, kind: str) -> tuple[str, str] | None:
    """SQL that is true for an invalid non-missing value, and the rule in words."""
    c = quote(name)
    if col.codes:
        codes = ", ".join(_sql_text(x) for x in col.codes)
        rule = f"one of {len(col.codes)} codes"
        return f"{c} IS NOT NULL AND CAST({c} AS VARCHAR) NOT IN ({codes})", rule
    if col.pattern and "VARCHAR" in kind:
        return (
            f"{c} IS NOT NULL AND NOT regexp_full_match({c}, {_sql_text(col.pattern.strip('^$'))})",
            f"matches {col.pattern}",
        )
    if (col.minimum is not None or col.maximum is not None) and any(n in kind for n in NUMERIC):
        parts = []
        if col.minimum is not None:
            parts.append(f"{c} < {col.minimum}")
        if col.maximum is not None:
            parts.append(f"{c} > {col.maximum}")
        rule = f"between {col.minimum if col.minimum is not None else '-∞'} and " + (
            f"{col.maximum}" if col.maximum is not None else "∞"
        )
        return f"({' OR '.join(parts)})", rule
    return None


def profile_table(con: duckdb.DuckDBPyConnection, table: str) -> DatasetProfile:
    """The profile of one workspace table."""
    cols = _columns(con, table)
    if not cols:
        raise FivesafesError(f"the workspace has no table {table!r}")
    spec = BY_NAME.get(table)
    known = {c.name: c for c in spec.columns} if spec else {}
    t = quote(table)
    select = ["count(*)"]
    checks: dict[str, tuple[str, str]] = {}
    for name, kind in cols:
        c = quote(name)
        numeric = any(n in kind for n in NUMERIC)
        ordered = numeric or "DATE" in kind or "TIME" in kind
        select += [
            f"count({c})",
            f"count(DISTINCT {c})",
            f"CAST(min({c}) AS VARCHAR)" if ordered else "NULL",
            f"CAST(max({c}) AS VARCHAR)" if ordered else "NULL",
            f"avg({c})" if numeric else "NULL",
        ]
        cond = _invalid_condition(known[name], name, kind) if name in known else None
        if cond is not None:
            checks[name] = cond
            select.append(f"count(*) FILTER (WHERE {cond[0]})")
        else:
            select.append("0")
    (stats,) = con.execute(f"SELECT {', '.join(select)} FROM {t}").fetchall()
    rows = int(stats[0])
    variables = []
    for i, (name, kind) in enumerate(cols):
        non_null, distinct, lo, hi, mean, invalid = stats[1 + 6 * i : 7 + 6 * i]
        examples: list[str] = []
        if invalid:
            examples = [
                str(r[0])
                for r in con.execute(
                    f"SELECT CAST({quote(name)} AS VARCHAR) AS v, count(*) AS n FROM {t} "
                    f"WHERE {checks[name][0]} GROUP BY 1 ORDER BY n DESC, v LIMIT {EXAMPLES}"
                ).fetchall()
            ]
        variables.append(
            VariableProfile(
                variable=name,
                type=kind,
                rows=rows,
                non_missing=int(non_null),
                completeness_pct=round(100 * int(non_null) / rows, 2) if rows else None,
                distinct=int(distinct),
                minimum=lo,
                maximum=hi,
                mean=None if mean is None else round(float(mean), 4),
                rule=checks[name][1] if name in checks else "",
                invalid=int(invalid),
                invalid_examples=examples,
            )
        )
    names = [n for n, _ in cols]
    persons = None
    if "person_pseudonym" in names:
        ((persons,),) = con.execute(f"SELECT count(DISTINCT person_pseudonym) FROM {t}").fetchall()
    completeness = ", ".join(
        f"round(100.0 * count({quote(n)}) / count(*), 2) AS {quote(n)}" for n in names
    )
    time_col = TIME_COLUMNS.get(table)
    if time_col is None or time_col not in names:
        time_col = next((n for n, k in cols if k == "DATE" or n.endswith("_year")), None)
        time_col = None if time_col in ("birth_year",) else time_col
    by_time = pd.DataFrame()
    if time_col is not None:
        kind = dict(cols)[time_col]
        period = f"year({quote(time_col)})" if "DATE" in kind else quote(time_col)
        by_time = con.execute(
            f"SELECT {period} AS period, count(*) AS rows, {completeness} FROM {t} "
            "GROUP BY 1 ORDER BY 1 NULLS LAST"
        ).df()
    area_col = next((a for a in AREA_COLUMNS if a in names), None)
    by_area = pd.DataFrame()
    if area_col is not None:
        by_area = con.execute(
            f"SELECT {quote(area_col)} AS area, count(*) AS rows, {completeness} FROM {t} "
            "GROUP BY 1 ORDER BY 1 NULLS LAST"
        ).df()
    return DatasetProfile(
        dataset=table,
        rows=rows,
        persons=None if persons is None else int(persons),
        variables=variables,
        time_column=time_col,
        by_time=by_time,
        area_column=area_col,
        by_area=by_area,
    )


def profile_workspace(
    con: duckdb.DuckDBPyConnection, datasets: list[str] | None = None
) -> WorkspaceProfile:
    """Profiles of the datasets asked for (default: every table but the workspace's own)."""
    present = table_names(con)
    if datasets:
        missing = [d for d in datasets if d not in present]
        if missing:
            raise FivesafesError(
                f"{', '.join(missing)} not in the workspace; it holds "
                f"{', '.join(sorted(t for t in present if not t.startswith('_')))}"
            )
        chosen = list(datasets)
    else:
        chosen = sorted(t for t in present if not t.startswith("_"))
    return WorkspaceProfile([profile_table(con, t) for t in chosen])


def write_profile(profile: WorkspaceProfile, out: Path) -> dict[str, Path]:
    """``profile.json``, ``profile-variables.csv`` and ``profile.md`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "profile.json",
        "csv": out / "profile-variables.csv",
        "markdown": out / "profile.md",
    }
    paths["json"].write_text(json.dumps(profile.to_dict(), indent=2, default=str) + "\n")
    profile.variables().to_csv(paths["csv"], index=False)
    paths["markdown"].write_text(to_markdown(profile), encoding="utf-8")
    return paths


def to_markdown(profile: WorkspaceProfile) -> str:
    lines = ["# Workspace profile", ""]
    for d in profile.datasets:
        who = f", {d.persons:,} persons" if d.persons is not None else ""
        lines += [
            f"## `{d.dataset}` ({d.rows:,} rows{who})",
            "",
            "| variable | type | complete | distinct | min | max | rule | invalid |",
            "| --- | --- | ---: | ---: | --- | --- | --- | ---: |",
        ]
        for v in d.variables:
            bad = f"{v.invalid:,}" + (f" ({', '.join(v.invalid_examples)})" if v.invalid else "")
            lines.append(
                f"| `{v.variable}` | {v.type} | {v.completeness_pct}% | {v.distinct:,} | "
                f"{v.minimum or ''} | {v.maximum or ''} | {v.rule} | {bad} |"
            )
        if d.time_column and len(d.by_time):
            periods = d.by_time["period"].dropna()
            lines += [
                "",
                f"Coverage over time ({d.time_column}): {len(periods)} periods, "
                f"{periods.min()} to {periods.max()}; rows per period "
                f"{int(d.by_time['rows'].min()):,} to {int(d.by_time['rows'].max()):,}.",
            ]
            gaps = _gaps(periods)
            if gaps:
                lines.append(f"Periods with no rows: {', '.join(str(g) for g in gaps)}.")
        if d.area_column and len(d.by_area):
            lines += [
                "",
                f"Coverage by area ({d.area_column}): {len(d.by_area):,} areas; rows per area "
                f"{int(d.by_area['rows'].min()):,} to {int(d.by_area['rows'].max()):,}.",
            ]
        lines.append("")
    return "\n".join(lines)


def _gaps(periods: pd.Series) -> list[int]:
    try:
        years = sorted(int(p) for p in periods)
    except (TypeError, ValueError):
        return []
    return sorted(set(range(years[0], years[-1] + 1)) - set(years)) if years else []


__all__ = [
    "DatasetProfile",
    "VariableProfile",
    "WorkspaceProfile",
    "profile_table",
    "profile_workspace",
    "write_profile",
]
