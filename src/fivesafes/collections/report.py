"""A submission's report, as CSV (every issue) and HTML (for people).

Both list every error and warning with its row (1 = first row after the
header; blank for a comparison about the whole return), field, value, rule,
severity, the rule's message and, once given, the provider's explanation. The
CSV is written by DuckDB straight from the stored issues, so it lists every
issue however many; the HTML shows the first :data:`HTML_LIMIT` and says where
the rest are.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from fivesafes.collections.spec import CollectionSpec
from fivesafes.spreadsheet import inert_sql

if TYPE_CHECKING:
    from fivesafes.collections.models import Provider, Submission

HTML_LIMIT = 5000
CSV_COLUMNS = ("row", "field", "value", "rule", "severity", "message", "explanation")
STATUS_WORDS = {
    "rejected": "Rejected: the return has errors. Correct them and submit the file again.",
    "needs_explanation": "Waiting for explanations: the return has no errors, but every "
    "warning needs an explanation before it can be accepted.",
    "ready": "Ready to accept: no errors, and every warning is explained.",
    "accepted": "Accepted.",
    "superseded": "Superseded by a later submission.",
}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1b1b1b; max-width: 80rem; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #b1b4b6; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f2f1; }
.error { color: #b10e1e; font-weight: bold; }
.warning { color: #8a5300; font-weight: bold; }
.status { padding: .5rem 1rem; border-left: .4rem solid #1d70b8; background: #f3f2f1; }
"""


def write_reports(
    folder: Path,
    spec: CollectionSpec,
    sub: Submission,
    provider: Provider,
    explanations: dict[tuple[str, int | None], str],
    notes: dict[str, str],
) -> tuple[Path, Path]:
    """Write ``report.csv`` and ``report.html`` in ``folder`` from its ``issues.parquet``."""
    listing = write_csv_report(folder, explanations)
    return write_html_report(folder, spec, sub, provider, listing, notes), listing.csv


@dataclass(frozen=True)
class Listing:
    """The CSV report written, and what the HTML report shows of it."""

    csv: Path
    shown: list[tuple[Any, ...]]
    by_rule: dict[str, int]


def write_csv_report(
    folder: Path, explanations: dict[tuple[str, int | None], str] | None = None
) -> Listing:
    """Write ``report.csv`` (every issue) in ``folder`` from its ``issues.parquet``,
    streaming: however many issues, only the first :data:`HTML_LIMIT` are held."""
    explanations = explanations or {}
    issues = folder / "issues.parquet"
    con = duckdb.connect()
    try:
        con.execute(f"CREATE VIEW issues AS SELECT * FROM read_parquet('{issues}')")
        con.register(
            "expl",
            pa.table(
                {
                    "rule": pa.array([k[0] for k in explanations], pa.string()),
                    "row": pa.array([k[1] for k in explanations], pa.int64()),
                    "text": pa.array(list(explanations.values()), pa.string()),
                }
            ),
        )
        joined = (
            "SELECT i.row, i.field, i.value, i.rule, i.severity, i.message, "
            "coalesce(er.text, ea.text) AS explanation FROM issues i "
            "LEFT JOIN expl er ON er.rule = i.rule AND er.row = i.row "
            "LEFT JOIN (SELECT * FROM expl WHERE row IS NULL) ea ON ea.rule = i.rule "
            "ORDER BY i.row NULLS FIRST, i.rule, i.field"
        )
        csv_path = folder / "report.csv"
        inert = (
            f"SELECT row, field, {inert_sql('value')} AS value, rule, severity, message, "
            f"{inert_sql('explanation')} AS explanation FROM ({joined})"
        )
        con.execute(f"COPY ({inert}) TO '{csv_path}' (HEADER, DELIMITER ',')")
        shown = con.execute(f"{joined} LIMIT {HTML_LIMIT}").fetchall()
        by_rule = dict(con.execute("SELECT rule, count(*) FROM issues GROUP BY rule").fetchall())
    finally:
        con.close()
    return Listing(csv_path, shown, by_rule)


def write_html_report(
    folder: Path,
    spec: CollectionSpec,
    sub: Submission,
    provider: Provider,
    listing: Listing,
    notes: dict[str, str],
) -> Path:
    """Write ``report.html`` in ``folder`` (the submission's number and status, and
    the first issues of ``listing``)."""
    html_path = folder / "report.html"
    html_path.write_text(
        render_html(spec, sub, provider, listing.shown, listing.by_rule, notes), encoding="utf-8"
    )
    return html_path


def render_html(
    spec: CollectionSpec,
    sub: Submission,
    provider: Provider,
    shown: list[tuple[Any, ...]],
    by_rule: dict[str, int],
    notes: dict[str, str],
) -> str:
    e = html.escape
    total = sum(by_rule.values())
    start, end = spec.period(sub.collection_year)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Submission {sub.id}: {e(spec.title)} {sub.collection_year}, "
        f"{e(provider.name)}</title><style>{STYLE}</style></head><body><main>",
        f"<h1>{e(spec.title)}: {e(provider.name)} ({e(provider.code)}), {sub.collection_year}</h1>",
        f'<p class="status"><strong>{e(STATUS_WORDS.get(sub.status, sub.status))}</strong></p>',
        "<table><tbody>",
        f"<tr><th scope=row>Submission</th><td>{sub.id}</td></tr>",
        f"<tr><th scope=row>File</th><td>{e(sub.file_name)} ({sub.rows:,} rows; "
        f"SHA-256 {e(sub.sha256[:16])}…)</td></tr>",
        f"<tr><th scope=row>Collection year</th><td>{start.isoformat()} to "
        f"{end.isoformat()}</td></tr>",
        f"<tr><th scope=row>Submitted by</th><td>{e(sub.submitted_by.name)}</td></tr>",
        f"<tr><th scope=row>Errors</th><td>{sub.errors:,}</td></tr>",
        f"<tr><th scope=row>Warnings</th><td>{sub.warnings:,}</td></tr>",
        f"<tr><th scope=row>Rules</th><td>{e(spec.path.name)} version {spec.version}</td></tr>",
        "</tbody></table>",
    ]
    if notes:
        parts.append("<h2>Comparison with the previous return</h2><ul>")
        for rule_id, note in sorted(notes.items()):
            parts.append(f"<li>{e(rule_id)}: {e(note)}</li>")
        parts.append("</ul>")
    parts.append("<h2>Issues by rule</h2>")
    if not by_rule:
        parts.append("<p>No errors and no warnings: every rule passed.</p>")
    else:
        parts.append(
            "<table><thead><tr><th scope=col>Rule</th><th scope=col>Severity</th>"
            "<th scope=col>Kind</th><th scope=col>Issues</th></tr></thead><tbody>"
        )
        for rule in spec.rules:
            n = by_rule.get(rule.id)
            if n:
                parts.append(
                    f"<tr><td>{e(rule.id)}</td><td class={rule.severity}>{rule.severity}</td>"
                    f"<td>{e(rule.kind.replace('_', '-'))}</td><td>{n:,}</td></tr>"
                )
        parts.append("</tbody></table>")
        parts.append("<h2>Every issue</h2>")
        if total > len(shown):
            parts.append(
                f"<p>The first {len(shown):,} of {total:,} issues are below; "
                "<a href='report.csv'>report.csv</a> lists every one.</p>"
            )
        parts.append(
            "<table><thead><tr>"
            + "".join(f"<th scope=col>{e(c.capitalize())}</th>" for c in CSV_COLUMNS)
            + "</tr></thead><tbody>"
        )
        for row, field, value, rule_id, severity, message, explanation in shown:
            parts.append(
                f"<tr><td>{'' if row is None else row}</td><td>{e(field or '')}</td>"
                f"<td>{e('' if value is None else str(value))}</td><td>{e(rule_id)}</td>"
                f"<td class={severity}>{severity}</td><td>{e(message)}</td>"
                f"<td>{e(explanation or '')}</td></tr>"
            )
        parts.append("</tbody></table>")
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"
