"""Dominance rules for magnitude tables: p% and n,k, reported separately.

Source of the numbers: Handbook on Statistical Disclosure Control, chapter 4
"Magnitude tabular data", section "Sensitive cells in magnitude tables"
(sdcTools/HandbookSDC on GitHub, file
chapters/04/_04-magnitude-tabular-data-02-Disclosure-Control-Concepts-for-Magnitude-Tabular-Data.qmd),
Examples 1 and 2 and the table "Sensitivity rules". That handbook is the open,
maintained successor of Hundepool et al., Statistical Disclosure Control (Wiley
2012); we read the online text, not the printed book, so its section and
example numbers are cited as they appear there.
"""

from __future__ import annotations

from dataclasses import replace

from fivesafes.outputs import MagnitudeTable, check
from fivesafes.outputs.policy import ACRO


def one_cell(contributions: list[float]) -> MagnitudeTable:
    return MagnitudeTable.from_contributions(["cell"], [contributions])


def policy(p: float | None, n: int | None, k: float | None):  # type: ignore[no-untyped-def]
    return replace(ACRO, name="spec", threshold=0, zeros=False, p=p, n=n, k=k)


def test_handbook_example_1_one_k_rule_misses_what_p_percent_catches() -> None:
    """Example 1: X = 100,000, x1 = 50,000, x2 = 49,000. Safe under (1,90)
    (50,000 < 90,000) but the second largest can estimate the largest within
    2%: unsafe under the p% rule (X - x1 - x2 = 1,000 < 10% of 50,000)."""
    cell = one_cell([50_000, 49_000, 1_000])
    one_k = check(cell, policy(None, 1, 90.0)).verdicts[0]
    assert one_k.status == "pass"
    p10 = check(cell, policy(10.0, None, None)).verdicts[0]
    assert p10.status == "suppress"
    assert p10.rules == ["p%"]
    assert p10.reasons == [
        "the total less the two largest contributions is 2% of the largest (p% rule: 10%)"
    ]


def test_handbook_example_2_p_percent_and_two_k_disagree() -> None:
    """Example 2: p = 10, k = 100·100/(100+p) = 90.9; X = 110,000,
    x1 = 52,000, x2 = 50,000. The p% rule says safe (the estimate 60,000
    overestimates x1 by 15.4%); the (2, 90.9) rule says unsafe
    (102,000 > 100,000). The two verdicts are reported separately."""
    cell = one_cell([52_000, 50_000, 8_000])
    k = 100 * 100 / 110
    p_only = check(cell, policy(10.0, None, None)).verdicts[0]
    nk_only = check(cell, policy(None, 2, k)).verdicts[0]
    both = check(cell, policy(10.0, 2, k)).verdicts[0]
    assert p_only.status == "pass"
    assert nk_only.status == "suppress" and nk_only.rules == ["n,k"]
    assert both.rules == ["n,k"]
    assert both.reasons == [
        "the largest 2 contributors make up 93% of the total (n,k rule: 2, 90.91%)"
    ]


def test_several_contributors_with_residue_pass_both() -> None:
    """Hand-checked: 40 + 30 + 30 more in ten contributions of 3: the rest is
    30/40 = 75% of the largest (>= 10%); the top two are 70% (< 90%)."""
    cell = one_cell([40, 30, *([3] * 10)])
    v = check(cell, policy(10.0, 2, 90.0)).verdicts[0]
    assert v.status == "pass"


def test_negative_contributions_need_review() -> None:
    """The handbook notes both rules are meaningful only for non-negative
    contributions ('Sensitivity rules', note below the table)."""
    cell = one_cell([100, -20, 50, 5])
    v = check(cell, policy(10.0, 2, 90.0)).verdicts[0]
    assert v.status == "review"
    assert v.rules == ["negative"]
