"""The indicator calculation against a table worked out by hand.

Every expected figure below was computed by hand (the arithmetic is in the
comments), not by the code: quarter-on-quarter change in percent to one decimal
and the average of the last N available quarters to a whole number, both rounded
half away from zero, with missing quarters (``N/A`` and absent rows), a zero
previous value, a single quarter, a window larger than what is available, a
negative change, halves, an area that did not report the latest quarter, and a
yearly series.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from fivesafes.analysis.indicators import calculate, long_table
from fivesafes.outputs.policy import PRESETS

NA = None
IND = "suspects charged"

# (area, period, value); 2023Q4 of Northshire has no row at all, and Oldbridge
# has no row for 2024Q2, the indicator's latest quarter.
ROWS = [
    ("Northshire", "2023Q1", 120),
    ("Northshire", "2023Q2", NA),
    ("Northshire", "2023Q3", 130),
    ("Northshire", "2024Q1", 125),
    ("Northshire", "2024Q2", 100),
    ("Eastmoor", "2023Q1", 40),
    ("Eastmoor", "2023Q2", 0),
    ("Eastmoor", "2023Q3", NA),
    ("Eastmoor", "2023Q4", 10),
    ("Eastmoor", "2024Q1", 0),
    ("Eastmoor", "2024Q2", 8),
    ("Westdale", "2024Q2", 57),
    ("Southvale", "2023Q3", 200),
    ("Southvale", "2023Q4", 210),
    ("Southvale", "2024Q1", 205),
    ("Southvale", "2024Q2", NA),
    ("Highfield", "2023Q4", 80),
    ("Highfield", "2024Q1", NA),
    ("Highfield", "2024Q2", 90),
    ("Kingsmead", "2024Q1", 400),
    ("Kingsmead", "2024Q2", 449),
    ("Lowmoor", "2024Q1", 400),
    ("Lowmoor", "2024Q2", 351),
    ("Oldbridge", "2023Q4", 30),
    ("Oldbridge", "2024Q1", 33),
]

COLS = ["latest_period", "latest_value", "previous_value", "change_percent", "average", "note"]

# All available quarters averaged (the default).
EXPECTED_ALL: dict[str, tuple[Any, ...]] = {
    # 2024Q2 100 on 2024Q1 125: (100-125)/125 = -20.0%; (120+130+125+100)/4 = 118.75 -> 119
    "Northshire": ("2024Q2", 100, 125, -20.0, 119, ""),
    # previous 0: no change; (40+0+10+0+8)/5 = 11.6 -> 12
    "Eastmoor": ("2024Q2", 8, 0, None, 12, "previous value is zero"),
    # one quarter only: 2024Q1 has no row -> not available; average 57
    "Westdale": ("2024Q2", 57, None, None, 57, "previous quarter not available"),
    # latest N/A; (200+210+205)/3 = 205
    "Southvale": ("2024Q2", None, 205, None, 205, "latest quarter not available"),
    # previous quarter N/A: NOT compared with 2023Q4 (80); (80+90)/2 = 85
    "Highfield": ("2024Q2", 90, None, None, 85, "previous quarter not available"),
    # (449-400)/400 = 12.25% -> 12.3 (half away from zero; banker's would give 12.2);
    # (400+449)/2 = 424.5 -> 425 (banker's would give 424)
    "Kingsmead": ("2024Q2", 449, 400, 12.3, 425, ""),
    # (351-400)/400 = -12.25% -> -12.3; (400+351)/2 = 375.5 -> 376
    "Lowmoor": ("2024Q2", 351, 400, -12.3, 376, ""),
    # did not report 2024Q2 (no row): latest blank, not 2024Q1's 33; (30+33)/2 = 31.5 -> 32
    "Oldbridge": ("2024Q2", None, 33, None, 32, "latest quarter not available"),
}

# The last 3 available quarters.
EXPECTED_3: dict[str, tuple[Any, str]] = {
    "Northshire": (118, ""),  # (130+125+100)/3 = 118.33 -> 118
    "Eastmoor": (6, "previous value is zero"),  # (10+0+8)/3 = 6
    # window larger than available: the one quarter, said in the note
    "Westdale": (
        57,
        "previous quarter not available; average of 1 quarter, fewer than the window of 3",
    ),
    "Southvale": (205, "latest quarter not available"),  # 200, 210, 205
    "Highfield": (
        85,
        "previous quarter not available; average of 2 quarters, fewer than the window of 3",
    ),
    "Kingsmead": (425, "average of 2 quarters, fewer than the window of 3"),
    "Lowmoor": (376, "average of 2 quarters, fewer than the window of 3"),
    "Oldbridge": (
        32,
        "latest quarter not available; average of 2 quarters, fewer than the window of 3",
    ),
}

# The last 2: Northshire (125+100)/2 = 112.5 -> 113; Southvale (210+205)/2 = 207.5 -> 208.
EXPECTED_2 = {"Northshire": 113, "Eastmoor": 4, "Southvale": 208, "Westdale": 57}


def _table() -> pd.DataFrame:
    return long_table((area, IND, period, value) for area, period, value in ROWS)


def _by_area(summary: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {row["area"]: row for row in summary.to_dict(orient="records")}


def test_worked_table_all_available_quarters() -> None:
    result = calculate(_table())
    got = _by_area(result.summary)
    assert list(got) == list(EXPECTED_ALL)  # one row per area and indicator, input order
    for area, expected in EXPECTED_ALL.items():
        row = got[area]
        assert tuple(row[c] for c in COLS) == expected, area
        assert row["previous_period"] == "2024Q1"
        assert row["indicator"] == IND
    assert got["Northshire"]["periods_averaged"] == 4
    assert got["Southvale"]["periods_averaged"] == 3
    assert result.latest == {IND: "2024Q2"}


def test_worked_table_window_of_three() -> None:
    got = _by_area(calculate(_table(), window=3).summary)
    for area, (average, note) in EXPECTED_3.items():
        assert (got[area]["average"], got[area]["note"]) == (average, note), area
    # the change does not depend on the window
    assert got["Lowmoor"]["change_percent"] == -12.3


def test_worked_table_window_of_two() -> None:
    got = _by_area(calculate(_table(), window=2).summary)
    for area, average in EXPECTED_2.items():
        assert got[area]["average"] == average, area


def test_missing_row_and_na_are_the_same() -> None:
    """A quarter written N/A and a quarter with no row give the same result."""
    with_na = [*ROWS, ("Northshire", "2023Q4", NA)]
    a = calculate(long_table((r[0], IND, r[1], r[2]) for r in ROWS)).summary
    b = calculate(long_table((r[0], IND, r[1], r[2]) for r in with_na)).summary
    pd.testing.assert_frame_equal(a, b)


def test_yearly_series_year_on_year() -> None:
    rows = [("Northshire", "cases", "2022", 50), ("Northshire", "cases", "2023", None)]
    rows += [("Northshire", "cases", "2024", 60), ("Northshire", "cases", "2025", 66)]
    rows += [("Eastmoor", "cases", "2023", 70), ("Eastmoor", "cases", "2025", 77)]
    got = _by_area(calculate(long_table(rows)).summary)
    # (66-60)/60 = +10.0%; (50+60+66)/3 = 58.67 -> 59
    assert tuple(got["Northshire"][c] for c in COLS) == ("2025", 66, 60, 10.0, 59, "")
    assert got["Northshire"]["previous_period"] == "2024"
    # 2024 has no row: previous year not available (not 2023); (70+77)/2 = 73.5 -> 74
    assert tuple(got["Eastmoor"][c] for c in COLS) == (
        "2025",
        77,
        None,
        None,
        74,
        "previous year not available",
    )


def test_small_numbers_suppressed_under_acro() -> None:
    """acro: counts below 10 and zeros are withheld; a change or an average that
    would need a withheld value is withheld too."""
    got = _by_area(calculate(_table(), window=3, policy=PRESETS["acro"]).summary)
    east = got["Eastmoor"]
    why = "suppressed (fewer than 10 or zero, policy acro)"
    assert (east["latest_value"], east["previous_value"], east["change_percent"]) == (
        None,
        None,
        None,
    )
    assert east["average"] is None
    assert east["note"] == (
        f"latest value {why}; previous value {why}; "
        "average withheld: it would include the suppressed values of 2024Q1, 2024Q2"
    )
    # 10 is not below the threshold of 10: published as it is
    assert got["Northshire"]["average"] == 118
    assert got["Kingsmead"]["change_percent"] == 12.3


def test_rounding_policy_changes_computed_from_published_values() -> None:
    """opensafely: 7 or fewer redacted, then rounded to the nearest 5, zeros kept.
    Kingsmead 449 is published as 450, so the change is (450-400)/400 = 12.5%."""
    got = _by_area(calculate(_table(), policy=PRESETS["opensafely"]).summary)
    assert (got["Kingsmead"]["latest_value"], got["Kingsmead"]["change_percent"]) == (450, 12.5)
    # (400+450)/2 = 425
    assert got["Kingsmead"]["average"] == 425
    # Eastmoor's 8 is published as 10 and its zeros are kept: previous value is zero;
    # (40+0+10+0+10)/5 = 12
    east = got["Eastmoor"]
    assert (east["latest_value"], east["previous_value"], east["average"]) == (10, 0, 12)
    assert east["note"] == "previous value is zero"
    # Lowmoor 351 -> 350: (350-400)/400 = -12.5%
    assert got["Lowmoor"]["change_percent"] == -12.5


@pytest.mark.parametrize("window", [0, -1])
def test_window_must_be_positive(window: int) -> None:
    with pytest.raises(ValueError):
        calculate(_table(), window=window)


def test_as_an_analysis_result_checked_by_the_rules() -> None:
    """The same calculation as an analysis method's result: its tables carry the
    series' output object, and the rules flag exactly the small values."""
    result = calculate(_table(), policy=PRESETS["acro"]).as_analysis_result()
    assert result.method == "indicators"
    assert set(result.tables) == {"indicators", "indicator-series"}
    checks = result.check(PRESETS["acro"])
    flagged = {
        v.label[0] + " " + v.label[2]
        for v in checks["indicators"].verdicts
        if v.status == "suppress"
    }
    # below 10 or zero: Eastmoor's 0 (2023Q2), 0 (2024Q1) and 8 (2024Q2)
    assert flagged == {"Eastmoor 2023Q2", "Eastmoor 2024Q1", "Eastmoor 2024Q2"}
    series = result.table("indicator-series")
    assert series.loc[series["status"] == "suppressed", "value"].isna().all()
