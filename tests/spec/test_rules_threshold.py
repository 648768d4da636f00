"""Minimum frequency: input table -> expected verdicts."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from fivesafes.outputs import FrequencyTable, check
from fivesafes.outputs.check import CheckResult
from fivesafes.outputs.policy import ACRO, OPENSAFELY, UK_LLC


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


# Handbook on Statistical Disclosure Control (sdcTools/HandbookSDC, the open
# successor of Hundepool et al., Statistical Disclosure Control, Wiley 2012),
# chapter 5 "Frequency tables", section "Disclosure risks", table
# "Marital status by sex" (tbl-mar-by-sex): the single female (1) can be identified.
MARITAL_BY_SEX = {
    "Married": {"Male": 38, "Female": 17, "Total": 55},
    "Divorced": {"Male": 7, "Female": 4, "Total": 11},
    "Single": {"Male": 3, "Female": 1, "Total": 4},
    "Total": {"Male": 48, "Female": 22, "Total": 70},
}


def table(rows: dict[str, dict[str, int]]) -> FrequencyTable:
    return FrequencyTable.from_long(wide(rows), ["row", "col"], "n", persons=True)


def test_handbook_marital_status_by_sex_threshold_3() -> None:
    """Handbook ch. 5 'Disclosure risks', tbl-mar-by-sex, with the handbook's
    common minimum frequency of 3 (ch. 4, 'Minimum frequency rule'): the 1
    (single female) is unsafe; every count of 3 or more passes."""
    policy = replace(ACRO, name="threshold-3", threshold=3, class_disclosure=False)
    got = statuses(check(table(MARITAL_BY_SEX), policy))
    assert got[("Single", "Female")] == "suppress"
    unsafe = {k for k, s in got.items() if s == "suppress"}
    assert unsafe >= {("Single", "Female")}
    assert ("Single", "Male") not in unsafe  # 3 is not fewer than 3
    assert ("Married", "Male") not in unsafe


@pytest.mark.parametrize(
    ("policy", "count", "expected"),
    [
        (UK_LLC, 9, "suppress"),  # counts < 10 are not released
        (UK_LLC, 10, "pass"),
        (UK_LLC, 0, "suppress"),  # UK LLC: "including zero"
        (ACRO, 9, "suppress"),
        (ACRO, 10, "pass"),
        (OPENSAFELY, 7, "suppress"),  # redact <= 7
        (OPENSAFELY, 8, "round"),  # then round to the nearest 5
        (OPENSAFELY, 0, "round"),  # zeros retained in general (rounded: still 0)
    ],
)
def test_threshold_per_preset(policy: object, count: int, expected: str) -> None:
    t = FrequencyTable.from_long(wide({"a": {"x": count}}), ["row", "col"], "n", persons=True)
    result = check(t, policy)  # type: ignore[arg-type]
    assert result.verdicts[0].status == expected


def test_reason_is_plain_words() -> None:
    t = FrequencyTable.from_long(wide({"a": {"x": 4}}), ["row", "col"], "n", persons=True)
    v = check(t, UK_LLC).verdicts[0]
    assert v.reasons == ["4 people: fewer than the threshold of 10"]
    o = check(t, OPENSAFELY).verdicts[0]
    assert o.reasons == ["4 people: 7 or fewer are redacted"]
