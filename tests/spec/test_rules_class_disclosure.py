"""Zeros and full cells (group attribute disclosure).

Source: Handbook on Statistical Disclosure Control, chapter 5 "Frequency
tables", section "Disclosure risks", table "Marital status by hours worked"
(tbl-mar-hours; sdcTools/HandbookSDC, chapters/05/_05-frequency-tables-02-Disclosure-risks.qmd):
"all married individuals work full time" (6 full time, 0 part time).
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from fivesafes.outputs import FrequencyTable, check
from fivesafes.outputs.check import CheckResult
from fivesafes.outputs.policy import ACRO, OPENSAFELY
from fivesafes.outputs.primary import primary


def statuses(result: CheckResult) -> dict[tuple[str, ...], str]:
    """Primary verdicts only (cells withheld by secondary suppression excluded)."""
    return {v.label: v.status for v in result.verdicts if v.rules != ["secondary"]}


def wide(
    rows: dict[str, dict[str, int]], row_dim: str = "row", col_dim: str = "col"
) -> pd.DataFrame:
    """A long table (with its margins as given) from {row: {col: value}}."""
    return pd.DataFrame(
        [(r, c, v) for r, cols in rows.items() for c, v in cols.items()],
        columns=[row_dim, col_dim, "n"],
    )


MARITAL_BY_HOURS = {
    "Married": {"Full time": 6, "Part time": 0, "Total": 6},
    "Divorced": {"Full time": 5, "Part time": 1, "Total": 6},
    "Single": {"Full time": 2, "Part time": 2, "Total": 4},
    "Total": {"Full time": 13, "Part time": 3, "Total": 16},
}


def table() -> FrequencyTable:
    return FrequencyTable.from_long(wide(MARITAL_BY_HOURS), ["row", "col"], "n", persons=True)


def test_full_cell_is_class_disclosure_and_zero_is_flagged() -> None:
    policy = replace(ACRO, name="spec", threshold=0, zeros=True, class_disclosure=True)
    verdicts = primary(table().cells(), policy)
    got = {v.label: v.status for v in verdicts}
    assert got[("Married", "Part time")] == "suppress"  # the zero
    assert got[("Married", "Full time")] == "review"  # everyone married works full time
    married = next(v for v in verdicts if v.label == ("Married", "Full time"))
    assert married.reasons == [
        "every person in Married × Total is in Married × Full time: class disclosure "
        "(everyone in the group shares this attribute)"
    ]
    assert got[("Divorced", "Full time")] == "pass"


def test_zeros_kept_when_policy_says_so() -> None:
    """OpenSAFELY: 'Counts of zero can be retained in general, but be aware that
    zero or 100% counts can be disclosive' -> the zero is kept (rounded, 0) and
    the full cell goes to review."""
    got = statuses(check(table(), replace(OPENSAFELY, redact_at_or_below=0)))
    assert got[("Married", "Part time")] == "round"
    assert got[("Married", "Full time")] == "review"
