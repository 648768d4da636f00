"""The study report: one self-contained HTML page per study run.

It shows, from the *releasable* outputs only (what passed disclosure control,
with unsafe cells blanked), the study's question, data and method from its
docstring, what it found in plain words, the planted truth beside each
estimate, every table, every figure (PNG embedded as base64, with its
description as alternative text) and the disclosure verdict of each output with
the reasons. A withheld output is listed with why, never shown.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from fivesafes.analysis.studies import CheckedOutput, Study, StudyResult

#: Words for each disclosure status, for readers who are not checkers.
STATUS_WORDS = {
    "pass": "safe to release",
    "round": "released rounded",
    "review": "needs a checker's review",
    "suppress": "some cells withheld",
    "unchecked": "no rule applies: a checker reviews it by eye",
}
MAX_ROWS = 60

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:62rem;margin:2rem auto;
padding:0 1rem;color:#1b1b1b;line-height:1.5}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #ddd}
h3{margin-bottom:.3rem}.meta{color:#555}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.88rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
th{background:#f1f1f1}td.l,th.l{text-align:left}
.pass{color:#0a6b2d}.suppress{color:#a4000f}.review,.unchecked,.round{color:#8a5300}
.badge{font-weight:600}.withheld{background:#fbeaea;padding:.5rem;border-left:4px solid #a4000f}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.9rem;color:#444}dl dt{font-weight:600;margin-top:.6rem}dl dd{margin-left:0}
.yes{color:#0a6b2d;font-weight:600}.no{color:#a4000f;font-weight:600}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _num(x: Any) -> str:
    if hasattr(x, "item"):
        x = x.item()
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if abs(x) >= 1e4:
            return f"{x:,.1f}"
        if x != 0 and abs(x) < 1e-3:
            return f"{x:.3g}"
        return f"{x:,.3f}"
    return _e(x)


def html_table(frame: pd.DataFrame, max_rows: int = MAX_ROWS) -> str:
    """A DataFrame as an HTML table (numbers right-aligned, blanks for withheld)."""
    head = "".join(
        f'<th class="{"l" if frame[c].dtype == object else ""}" scope="col">{_e(c)}</th>'
        for c in frame.columns
    )
    rows = []
    shown = frame.head(max_rows)
    columns = [shown[c].tolist() for c in shown.columns]  # per column: ints stay ints
    for i in range(len(shown)):
        cells = []
        for values in columns:
            v = values[i]
            if isinstance(v, str):
                cells.append(f'<td class="l">{_e(v)}</td>')
            else:
                cells.append(f"<td>{_num(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (
        f"<p class='meta'>First {max_rows} of {len(frame):,} rows; all are in the CSV.</p>"
        if len(frame) > max_rows
        else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


def _verdict(o: CheckedOutput) -> str:
    words = STATUS_WORDS.get(o.status, o.status)
    return f'<span class="badge {o.status}">{_e(o.status)}</span> ({_e(words)})'


def _comparisons(result: StudyResult) -> str:
    if not result.comparisons:
        return "<p>This study has no planted value to compare with.</p>"
    rows = []
    for c in result.comparisons:
        interval = (
            f"{_num(c.lower)} to {_num(c.upper)}"
            if c.lower is not None and c.upper is not None
            else ""
        )
        covered = c.covered
        mark = (
            ""
            if covered is None
            else ('<span class="yes">yes</span>' if covered else '<span class="no">no</span>')
        )
        rows.append(
            f'<tr><td class="l">{_e(c.quantity)}</td><td>{_num(c.planted)}</td>'
            f"<td>{_num(c.estimate)}</td><td>{interval}</td><td>{mark}</td>"
            f'<td class="l">{_e(c.note)}</td></tr>'
        )
    return (
        "<table><thead><tr><th class='l'>quantity</th><th>planted</th><th>estimate</th>"
        "<th>95% interval</th><th>planted value inside</th><th class='l'>note</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _outputs(outputs: list[CheckedOutput]) -> str:
    parts = []
    for o in outputs:
        title = f"<h3>{_e(o.name)}</h3><p>{_e(o.description)}. Disclosure check: {_verdict(o)}"
        if o.suppressed_rows and not o.withheld:
            title += f"; withheld rows: {_e(', '.join(o.suppressed_rows))}"
        title += "</p>"
        if o.reasons and o.status != "pass":
            title += "<ul>" + "".join(f"<li>{_e(r)}</li>" for r in o.reasons) + "</ul>"
        if o.status in ("unchecked", "review") and not o.withheld:
            body = (
                '<p class="withheld">Not shown: no disclosure rule could check it, so it '
                f"waits for a checker's review (file {_e(o.released.name if o.released else '')}"
                ").</p>"
            )
        elif o.withheld:
            body = (
                '<p class="withheld">Withheld: this output did not pass disclosure control '
                "and is not released (see its check report).</p>"
            )
        elif o.kind == "figure" and o.png is not None:
            data = base64.b64encode(o.png).decode("ascii")
            body = (
                f'<figure><img src="data:image/png;base64,{data}" alt="{_e(o.description)}">'
                f"<figcaption>{_e(o.description)}</figcaption></figure>"
            )
        elif o.frame is not None:
            body = html_table(o.frame)
        else:
            body = ""
        parts.append(title + body)
    return "\n".join(parts)


def _verdict_table(outputs: list[CheckedOutput]) -> str:
    rows = "".join(
        f'<tr><td class="l">{_e(o.name)}</td><td class="l">{_e(o.kind)}</td>'
        f'<td class="l">{_verdict(o)}</td>'
        f'<td class="l">{"withheld" if o.withheld else _e(o.released.name if o.released else "")}'
        f'</td><td class="l">{_e(o.report.name if o.report else "")}</td></tr>'
        for o in outputs
    )
    return (
        "<table><thead><tr><th class='l'>output</th><th class='l'>kind</th>"
        "<th class='l'>verdict</th><th class='l'>released file</th>"
        f"<th class='l'>check report</th></tr></thead><tbody>{rows}</tbody></table>"
    )


#: What a report says where it has no truth to compare with (a real workspace).
NO_TRUTH = (
    "No truth to compare with: the estimates stand alone. (On a synthetic world, "
    "give the world's truth folder, e.g. fivesafes study run --truth world/truth, "
    "to set each planted value beside its estimate.)"
)


def _truth(result: StudyResult, sections: dict[str, str], summary: dict[str, Any]) -> str:
    if not result.comparisons:
        return f"<h2>Planted truth</h2>\n<p>{_e(NO_TRUTH)}</p>"
    source = f" (<code>{_e(summary['truth'])}</code>)" if summary.get("truth") else ""
    return f"""<h2>Planted truth and estimates</h2>
<p>The data are a synthetic world with known effects planted in it{source}:
{_e(sections.get("Planted truth", ""))} Each row
sets the planted value beside this study's estimate and its 95% interval. An interval
that misses the planted value can still happen by chance (one in twenty), or because
the study measures something slightly different from what was planted (as its notes
say).</p>
{_comparisons(result)}"""


def render_report(
    study: Study, result: StudyResult, outputs: list[CheckedOutput], summary: dict[str, Any]
) -> str:
    """The report as an HTML string."""
    sections = study.sections
    described = "".join(
        f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in sections.items() if k != "Planted truth"
    )
    cohort = ""
    for o in outputs:
        if o.name == "cohort/cohort" and o.frame is not None:
            cohort = "".join(
                f"<li>{_e(r.quantity)}: "
                f"{_num(r.persons) if pd.notna(r.persons) else 'withheld (too few)'}</li>"
                for r in o.frame.itertuples()
            )
    findings = "".join(f"<li>{_e(f)}</li>" for f in result.findings)
    notes = summary.get("notes") or []
    notes_html = (
        "<h2>Notes</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"
        if notes
        else ""
    )
    statuses = ", ".join(f"{n} {s}" for s, n in summary["statuses"].items() if n)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(study.title)} — fivesafes study</title><style>{CSS}</style></head>
<body><main>
<h1>{_e(study.title)}</h1>
<p class="meta">Study <code>{_e(study.name)}</code> on workspace
<code>{_e(summary["workspace"])}</code>; outputs checked under the disclosure policy
<code>{_e(summary["policy"])}</code> ({_e(statuses)}); {summary["seconds"]:.1f} s.</p>
<h2>What the study asks</h2><dl>{described}</dl>
<h2>What it found</h2><ul>{findings}</ul>
<p>Who was studied:</p><ul>{cohort}</ul>
{_truth(result, sections, summary)}
<h2>Disclosure control</h2>
<p>Every table and figure was checked by the disclosure rules before it was written
as releasable. Rows with an unsafe cell are blanked; an output whose unsafe part
cannot be blanked is withheld. Each check report (JSON) lies beside its output.</p>
{_verdict_table(outputs)}
<h2>Tables and figures</h2>
{_outputs(outputs)}
{notes_html}
</main></body></html>
"""


def write_report(
    study: Study,
    result: StudyResult,
    outputs: list[CheckedOutput],
    summary: dict[str, Any],
    path: Path,
) -> Path:
    """Write the report to ``path`` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(study, result, outputs, summary), encoding="utf-8")
    return path


__all__ = ["STATUS_WORDS", "html_table", "render_report", "write_report"]
