"""Indicator inputs: periods, missing values and malformed tables (InputError
naming file, row and field), and properties of the calculation on random series."""

from __future__ import annotations

from fractions import Fraction

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.analysis.indicators import (
    Period,
    calculate,
    long_table,
    parse_period,
    quarters,
    read_indicators_csv,
    round_half_away,
)
from fivesafes.errors import InputError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024Q1", Period(2024, 1)),
        ("2024 Q4", Period(2024, 4)),
        ("2024-q2", Period(2024, 2)),
        ("2024", Period(2024)),
        ("2024Q5", None),
        ("2024Q0", None),
        ("24Q1", None),
        ("Q1 2024", None),
        ("2024/25", None),
        ("", None),
    ],
)
def test_parse_period(text: str, expected: Period | None) -> None:
    assert parse_period(text) == expected


def test_previous_period_crosses_the_year() -> None:
    assert str(Period(2024, 1).previous()) == "2023Q4"
    assert str(Period(2024, 3).previous()) == "2024Q2"
    assert str(Period(2024).previous()) == "2023"
    assert quarters("2023Q3", "2024Q2") == ["2023Q3", "2023Q4", "2024Q1", "2024Q2"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(5, 2), 3),  # 2.5 -> 3 (banker's: 2)
        (Fraction(7, 2), 4),  # 3.5 -> 4 (banker's: 4)
        (Fraction(-5, 2), -3),  # away from zero
        (Fraction(249, 100), 2),
        (Fraction(0), 0),
    ],
)
def test_round_half_away_from_zero(value: Fraction, expected: int) -> None:
    assert round_half_away(value) == expected


def test_round_to_one_decimal_exactly() -> None:
    assert round_half_away(Fraction(1225, 100), 1) == Fraction(123, 10)
    assert round_half_away(Fraction(-1225, 100), 1) == Fraction(-123, 10)
    # 0.15 is not exact in binary; the fraction of the decimal is, and rounds up
    assert round_half_away(Fraction("0.15"), 1) == Fraction(2, 10)


def _csv(tmp_path, text: str):
    path = tmp_path / "returns.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("area,indicator,period\nA,x,2024Q1\n", "field 'value'", "has no column 'value'"),
        ("area,indicator,period,value\n", None, "has no rows"),
        (
            "area,indicator,period,value\nA,x,2024Q1,1\n,x,2024Q2,3\n",
            "row 2 (line 3), field 'area'",
            "the area is blank",
        ),
        (
            "area,indicator,period,value\nA,x,2024Q1,1\nA,x,2024 quarter 2,3\n",
            "row 2 (line 3), field 'period'",
            "not a quarter like 2024Q1 or a year like 2024 (got '2024 quarter 2')",
        ),
        (
            "area,indicator,period,value\nA,x,2024Q1,1,5\n",
            None,
            "cannot be read as CSV",
        ),
        (
            "area,indicator,period,value\nA,x,2024Q1,1\nA,x,2024,3\n",
            "row 2 (line 3), field 'period'",
            "indicator 'x' mixes quarters and years",
        ),
        (
            "area,indicator,period,value\nA,x,2024Q1,1\nA,x,2024Q2,1.2.3\nA,x,2024Q3,z\n",
            "row 2 (line 3), field 'value'",
            "and 1 more problem",
        ),
    ],
)
def test_malformed_tables_name_file_row_and_field(
    tmp_path, text: str, where: str | None, message: str
) -> None:
    with pytest.raises(InputError) as info:
        read_indicators_csv(_csv(tmp_path, text))
    said = str(info.value)
    assert said.startswith(str(tmp_path / "returns.csv"))
    assert message in said
    if where:
        assert where in said
    assert said.endswith("Nothing was written.")


def test_not_utf8_is_an_input_error(tmp_path) -> None:
    path = tmp_path / "returns.csv"
    path.write_bytes("area,indicator,period,value\nYnys Môn,x,2024Q1,1\n".encode("utf-16"))
    with pytest.raises(InputError):
        read_indicators_csv(path)


@pytest.mark.parametrize("blank", ["", "N/A", "n/a", "NA", ".."])
def test_missing_markers(blank: str) -> None:
    df = pd.DataFrame(
        {"area": ["A", "A"], "indicator": ["x", "x"], "period": ["2024Q1", "2024Q2"]}
        | {"value": ["10", blank]}
    )
    row = calculate(df).summary.iloc[0]
    assert row["latest_value"] is None
    assert row["note"] == "latest quarter not available"


values = st.one_of(st.none(), st.integers(min_value=0, max_value=10_000))


@settings(max_examples=60, deadline=None)
@given(st.lists(values, min_size=1, max_size=12), st.integers(min_value=1, max_value=6))
def test_properties_on_random_series(series: list[int | None], window: int) -> None:
    """The change uses the two last quarters only; the average lies between the
    smallest and largest of the values it averages (a naive recomputation)."""
    periods = quarters("2022Q1", "2024Q4")[-len(series) :]
    df = long_table(("A", "x", p, v) for p, v in zip(periods, series, strict=True))
    row = calculate(df, window=window).summary.iloc[0]
    latest = series[-1]
    previous = series[-2] if len(series) > 1 else None
    assert row["latest_value"] == latest
    assert row["previous_value"] == previous
    if latest is None or previous is None or previous == 0:
        assert row["change_percent"] is None
        assert row["note"]
    else:
        exact = Fraction(latest - previous, previous) * 100
        assert abs(row["change_percent"] - float(exact)) <= 0.05 + 1e-9
    known = [v for v in series if v is not None][-window:]
    if not known:
        assert row["average"] is None
    else:
        assert min(known) <= row["average"] <= max(known)
        assert abs(row["average"] - sum(known) / len(known)) <= 0.5
        assert row["periods_averaged"] == len(known)


@settings(max_examples=200, deadline=None)
@given(
    st.decimals(min_value=-10_000, max_value=10_000, places=3, allow_nan=False),
    st.integers(min_value=0, max_value=2),
)
def test_rounding_agrees_with_decimal_round_half_up(value, places: int) -> None:
    """Outside reference: Python's decimal module, ROUND_HALF_UP ("round away from
    zero if the discarded digit is 5 or more"; decimal — Decimal fixed point and
    floating point arithmetic, Python 3.11 documentation)."""
    from decimal import ROUND_HALF_UP, Decimal

    expected = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    assert round_half_away(Fraction(value), places) == Fraction(expected)


def test_a_dataframe_with_numbers_and_nones() -> None:
    df = pd.DataFrame(
        {"area": ["A", "A"], "indicator": ["x", "x"], "period": ["2024Q1", "2024Q2"]}
        | {"value": [40, None]}
    )
    row = calculate(df).summary.iloc[0]
    assert (row["latest_value"], row["previous_value"]) == (None, 40)
