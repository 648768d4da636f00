"""check_table_csv: the long-format CSV interface behind `fivesafes outputs check-table`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from fivesafes.errors import InputError
from fivesafes.outputs import check_table_csv, load_policy

GOOD = """region,sex,count
North,F,40
North,M,4
North,Total,44
South,F,25
South,M,31
South,Total,56
Total,F,65
Total,M,35
Total,Total,100
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "table.csv"
    p.write_text(text)
    return p


def test_safe_csv_has_status_and_blank_suppressed(tmp_path: Path) -> None:
    out = tmp_path / "safe.csv"
    result = check_table_csv(write(tmp_path, GOOD), "count", load_policy("acro"), out=out)
    safe = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(safe.columns) == ["region", "sex", "count", "status"]
    row = safe[(safe.region == "North") & (safe.sex == "M")].iloc[0]
    assert (row["count"], row["status"]) == ("", "suppress")
    grand = safe[(safe.region == "Total") & (safe.sex == "Total")].iloc[0]
    assert grand["count"] == "100"  # margins keep their true values
    report = json.loads(result.to_json())
    assert report["policy"]["name"] == "acro" and report["policy"]["version"]
    assert report["summary"]["suppress"] >= 1
    cell = next(c for c in report["cells"] if c["labels"] == {"region": "North", "sex": "M"})
    assert cell["reasons"][0] == "4 records: fewer than the threshold of 10"
    assert report["secondary_suppression"]["status"] in ("done", "pending")


def test_missing_value_column(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="has no column 'n'"):
        check_table_csv(write(tmp_path, GOOD), "n", load_policy("acro"))


def test_non_numeric_value_names_row(tmp_path: Path) -> None:
    bad = GOOD.replace("South,F,25", "South,F,lots")
    with pytest.raises(InputError) as e:
        check_table_csv(write(tmp_path, bad), "count", load_policy("acro"))
    assert e.value.row == 4 and e.value.field == "count"


def test_an_empty_value_is_refused_saying_to_write_zero(tmp_path: Path) -> None:
    """A blank could be 0 (no records) or a value not known: the margins cannot be
    checked either way, so the file is refused, naming the file, row and field."""
    path = write(tmp_path, GOOD.replace("South,F,25", "South,F, "))
    with pytest.raises(InputError) as e:
        check_table_csv(path, "count", load_policy("acro"))
    assert (e.value.row, e.value.field) == (4, "count")
    assert str(path) in str(e.value)
    assert "the value is empty: write 0 for a combination with no records" in str(e.value)


def test_total_that_is_not_its_parts(tmp_path: Path) -> None:
    bad = GOOD.replace("North,Total,44", "North,Total,45")
    with pytest.raises(InputError, match="this Total is 45 but its 2 parts add up to 44") as e:
        check_table_csv(write(tmp_path, bad), "count", load_policy("acro"))
    assert e.value.row == 3


def test_duplicate_cells(tmp_path: Path) -> None:
    bad = GOOD + "North,F,40\n"
    with pytest.raises(InputError, match="the same cell appears twice") as e:
        check_table_csv(write(tmp_path, bad), "count", load_policy("acro"))
    assert e.value.row == 10


def test_rounding_policy_rounds_margins_from_true_values(tmp_path: Path) -> None:
    result = check_table_csv(write(tmp_path, GOOD), "count", load_policy("opensafely"))
    for v in result.verdicts:
        if v.status == "round":
            assert v.safe_value == 5 * ((v.value + 2.5) // 5)
    safe = result.safe.set_index(["region", "sex"])
    assert safe.loc[("Total", "Total"), "count"] == 100
    assert safe.loc[("North", "M"), "status"] == "suppress"


def test_microdata_rows_of_one_person_are_one_contribution(tmp_path: Path) -> None:
    """With ``person``, a person's rows are summed into one contribution: ten rows of
    one firm are one contributor (fewer than the threshold), not ten."""
    from fivesafes.outputs import check_microdata_csv

    rows = ["firm,region,profit"]
    rows += [f"f1,A,{100 + i}" for i in range(10)]
    rows += [f"f{i},B,{50 + i}" for i in range(2, 14)]
    path = write(tmp_path, "\n".join(rows) + "\n")
    policy = load_policy("acro")
    by_row = check_microdata_csv(path, "profit", policy)
    assert by_row.dims == ["firm", "region"]  # without person, the firm is a category
    by_firm = check_microdata_csv(path, "profit", policy, person="firm")
    assert by_firm.dims == ["region"]
    cells = {v.label: v for v in by_firm.verdicts}
    assert cells[("A",)].status == "suppress" and "threshold" in cells[("A",)].rules
    assert cells[("B",)].status == "suppress"  # secondary: A is B's total less B
    assert by_firm.to_dict()["attacker_bounds"][0]["lower_bound"] == 0
    blank = write(tmp_path, "firm,region,profit\nf1,A,10\n ,A,12\n")
    with pytest.raises(InputError, match=r"row 2 \(line 3\), field 'firm': the person is empty"):
        check_microdata_csv(blank, "profit", policy, person="firm")
