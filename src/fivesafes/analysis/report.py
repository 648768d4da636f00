"""The study report: one self-contained HTML page per study run (the template
``fivesafes/reports/templates/study.html``).

It shows, from the *releasable* outputs only (what passed disclosure control,
with unsafe cells blanked), the study's question, data and method from its
docstring, what it found in plain words, the planted truth beside each
estimate, every table, every figure (PNG embedded as base64, with its
description as alternative text) and the disclosure verdict of each output with
the reasons. A withheld output is listed with why, never shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from fivesafes.reports.render import frame_table, render

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


#: What a report says where it has no truth to compare with (a real workspace).
NO_TRUTH = (
    "No truth to compare with: the estimates stand alone. (On a synthetic world, "
    "give the world's truth folder, e.g. fivesafes study run --truth world/truth, "
    "to set each planted value beside its estimate.)"
)


def _count(value: Any) -> Any:
    """A count read back as a float (45.0) shown as the whole number it is."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def render_report(
    study: Study, result: StudyResult, outputs: list[CheckedOutput], summary: dict[str, Any]
) -> str:
    """The report as an HTML string."""
    cohort = [
        (r.quantity, _count(r.persons) if pd.notna(r.persons) else None)
        for o in outputs
        if o.name == "cohort/cohort" and o.frame is not None
        for r in o.frame.itertuples()
    ]
    return render(
        "study.html",
        study=study,
        sections=study.sections,
        result=result,
        outputs=outputs,
        tables=[None if o.frame is None else frame_table(o.frame, MAX_ROWS) for o in outputs],
        summary={"notes": [], "truth": None, **summary},
        statuses=", ".join(f"{n} {s}" for s, n in summary["statuses"].items() if n),
        status_words=STATUS_WORDS,
        cohort=cohort,
        no_truth=NO_TRUTH,
    )


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


__all__ = ["NO_TRUTH", "STATUS_WORDS", "render_report", "write_report"]
