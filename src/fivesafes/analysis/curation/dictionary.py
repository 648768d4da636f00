"""The data dictionary of a derived dataset, generated from its steps.

One row per column of every table the steps write: table, column, description
(from the step's ``columns``), type, the step that makes it, that step's
inputs, completeness (share of rows not null), distinct values and examples (the
most frequent codes of a text column with few values, or the range of a
number or date). Written as Markdown, HTML and CSV.

The examples come from the data: the dictionary is for the workspace. To take
it out, send it through the airlock like any other output.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from fivesafes.analysis.curation.steps import Pipeline, quote, table_names
from fivesafes.reports.render import render

COLUMNS = (
    "table",
    "column",
    "description",
    "type",
    "step",
    "inputs",
    "rows",
    "completeness_pct",
    "distinct",
    "examples",
)
#: A text column with at most this many distinct values lists its commonest codes.
MAX_CODES = 30
EXAMPLES = 5
#: Descriptions of columns many steps carry.
KNOWN = {"person_pseudonym": "The person's pseudonym in this project"}


def _examples(con: duckdb.DuckDBPyConnection, table: str, column: str, kind: str) -> str:
    col, tab = quote(column), quote(table)
    numeric = any(k in kind for k in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "DATE", "TIME"))
    if numeric:
        ((lo, hi),) = con.execute(f"SELECT min({col}), max({col}) FROM {tab}").fetchall()
        return "" if lo is None else f"{lo} to {hi}"
    rows = con.execute(
        f"SELECT {col}::VARCHAR AS v, count(*) AS n FROM {tab} WHERE {col} IS NOT NULL "
        f"GROUP BY 1 ORDER BY n DESC, v LIMIT {EXAMPLES}"
    ).fetchall()
    return ", ".join(str(r[0]) for r in rows)


def data_dictionary(con: duckdb.DuckDBPyConnection, pipeline: Pipeline) -> pd.DataFrame:
    """The dictionary of every table the pipeline's steps wrote (run them first)."""
    present = table_names(con)
    rows = []
    for name in pipeline.order:
        s = pipeline.steps[name]
        for table in s.outputs:
            if table not in present:
                continue
            cols = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'main' AND table_catalog = current_database() "
                "AND table_name = ? ORDER BY ordinal_position",
                [table],
            ).fetchall()
            if not cols:
                continue
            counts = ", ".join(f"count({quote(c)}), count(DISTINCT {quote(c)})" for c, _ in cols)
            (stats,) = con.execute(f"SELECT count(*), {counts} FROM {quote(table)}").fetchall()
            n = int(stats[0])
            for i, (column, kind) in enumerate(cols):
                non_null, distinct = int(stats[1 + 2 * i]), int(stats[2 + 2 * i])
                examples = ""
                if non_null and ("VARCHAR" not in kind or distinct <= MAX_CODES):
                    examples = _examples(con, table, column, kind)
                elif non_null:
                    examples = f"{distinct:,} distinct values"
                rows.append(
                    {
                        "table": table,
                        "column": column,
                        "description": s.columns.get(column) or KNOWN.get(column, ""),
                        "type": kind,
                        "step": s.name,
                        "inputs": ", ".join(s.inputs),
                        "rows": n,
                        "completeness_pct": round(100 * non_null / n, 1) if n else None,
                        "distinct": distinct,
                        "examples": examples,
                    }
                )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def to_markdown(dictionary: pd.DataFrame, pipeline: Pipeline, title: str) -> str:
    lines = [f"# {title}", ""]
    for table, part in dictionary.groupby("table", sort=False):
        step = pipeline.steps[str(part["step"].iloc[0])]
        lines += [
            f"## `{table}`",
            "",
            f"Made by step `{step.name}` from {', '.join(f'`{t}`' for t in step.inputs)}: "
            f"{step.description} ({int(part['rows'].iloc[0]):,} rows)",
            "",
            "| column | description | type | complete | distinct | examples |",
            "| --- | --- | --- | ---: | ---: | --- |",
        ]
        for r in part.itertuples(index=False):
            cells = [
                f"`{r.column}`",
                str(r.description),
                str(r.type),
                f"{r.completeness_pct}%",
                f"{r.distinct:,}",
                str(r.examples),
            ]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def to_html(dictionary: pd.DataFrame, pipeline: Pipeline, title: str) -> str:
    """The dictionary as a page (the template
    ``fivesafes/reports/templates/dictionary.html``)."""
    tables = [
        (
            str(table),
            pipeline.steps[str(part["step"].iloc[0])],
            int(part["rows"].iloc[0]),
            list(part.itertuples(index=False)),
        )
        for table, part in dictionary.groupby("table", sort=False)
    ]
    return render("dictionary.html", title=title, tables=tables)


def write_dictionary(
    con: duckdb.DuckDBPyConnection,
    pipeline: Pipeline,
    out: Path,
    title: str = "Data dictionary of the derived dataset",
) -> dict[str, Path]:
    """Write ``data-dictionary.md``, ``.html`` and ``.csv`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    d = data_dictionary(con, pipeline)
    paths = {
        "markdown": out / "data-dictionary.md",
        "html": out / "data-dictionary.html",
        "csv": out / "data-dictionary.csv",
    }
    paths["markdown"].write_text(to_markdown(d, pipeline, title), encoding="utf-8")
    paths["html"].write_text(to_html(d, pipeline, title), encoding="utf-8")
    d.to_csv(paths["csv"], index=False)
    return paths


__all__ = ["COLUMNS", "data_dictionary", "to_html", "to_markdown", "write_dictionary"]
