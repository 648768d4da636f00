"""A submission's report, as CSV (every issue) and HTML (for people).

Both list every error and warning with its row (1 = first row after the
header; blank for a comparison about the whole return), field, value, rule,
severity, the rule's message and, once given, the provider's explanation. The
CSV is written by DuckDB straight from the stored issues, so it lists every
issue however many; the HTML shows the first :data:`HTML_LIMIT` and says where
the rest are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from fivesafes.collections.spec import CollectionSpec
from fivesafes.reports.render import render
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
    """The HTML report (the template ``fivesafes/reports/templates/submission.html``)."""
    start, end = spec.period(sub.collection_year)
    return render(
        "submission.html",
        spec=spec,
        sub=sub,
        provider=provider,
        status=STATUS_WORDS.get(sub.status, sub.status),
        start=start.isoformat(),
        end=end.isoformat(),
        notes=notes,
        rules=[(rule, by_rule[rule.id]) for rule in spec.rules if by_rule.get(rule.id)],
        shown=shown,
        total=sum(by_rule.values()),
        columns=CSV_COLUMNS,
    )
