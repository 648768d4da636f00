# ruff: noqa: E501  (the rule file below keeps one rule per line, as a data manager writes it)
"""The rule engine: every kind of rule with a failing and a passing case, the
exact wording of the messages, and rule files that cannot be used.

Each case is a tiny return run through the same DuckDB engine as a real one;
the expected issues are written out by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from fivesafes.collections.rules import Context, issues_relation, run_rules
from fivesafes.collections.spec import SpecError, available, load_spec

#: A small collection using every kind of check (a pupil return, so that "age
#: consistent with year group" can be a rule).
SPEC = """
collection: pupils
title: Pupils
period: {start_month: 9, start_day: 1}
code_lists:
  sex: {M: Male, F: Female}
  year_group: {"R": Reception, "1": Year 1, "2": Year 2, "3": Year 3}
columns:
  - {name: pupil_id, type: string, zone: identifier}
  - {name: dob, type: date, zone: identifier, birth: true}
  - {name: sex, type: code, codes: sex, zone: both}
  - {name: school, type: string, zone: content, provider: true}
  - {name: year_group, type: code, codes: year_group, zone: content}
  - {name: sessions, type: integer, zone: content}
  - {name: absent, type: integer, zone: content}
  - {name: start, type: date, zone: content}
  - {name: leave, type: date, zone: content}
  - {name: fsm, type: flag, zone: content}
rules:
  - {id: R1, check: required, field: pupil_id, severity: error, message: "The pupil ID is missing."}
  - {id: R2, check: type, field: sessions, severity: error, message: "Sessions '{value}' is not a whole number."}
  - {id: R3, check: codes, field: sex, severity: error, message: "Sex '{value}' is not one of {codes}."}
  - {id: R4, check: pattern, field: pupil_id, pattern: "P[0-9]{3}", severity: error, message: "Pupil ID '{value}' is not P and three digits."}
  - {id: R5, check: range, field: sessions, min: 0, max: 400, severity: warning, message: "Sessions {value} is outside {min} to {max}."}
  - {id: R6, check: range, field: start, min: "{period_start} - 1 years", max: "{period_end}", severity: error, message: "Start {value} is outside {min} to {max}."}
  - {id: R7, check: provider, field: school, severity: error, message: "School {value} is not yours."}
  - {id: R8, check: compare, field: absent, op: "<=", other: sessions, severity: error, message: "Absent {value} is more than the {sessions} sessions (row {row})."}
  - {id: R9, check: age, field: dob, at: "{period_start}", min: 4, max: 8, severity: error, message: "Aged {age} on {period_start}: outside {min} to {max}."}
  - {id: R10, check: condition, field: year_group, when: "year_group <> 'R'", condition: "CAST(year_group AS INTEGER) = date_sub('year', dob, {period_start}) - 5", severity: warning, message: "Year group {value} does not fit a date of birth of {dob}."}
  - {id: R11, check: unique, fields: [pupil_id], severity: error, message: "Pupil {pupil_id} again (first in row {first_row})."}
  - {id: R12, check: no_overlap, group: pupil_id, start: start, end: leave, severity: error, message: "Enrolment from {start} overlaps row {other_row} (to {other_end})."}
  - {id: R13, check: consistent, group: pupil_id, fields: [dob, sex], severity: error, message: "{field} of {pupil_id} is '{value}', but '{first_value}' in row {first_row}."}
  - {id: R14, check: count_change, count: rows, max_change_percent: 20, min_previous: 2, severity: warning, message: "Pupils changed by {change}% ({previous} then, {current} now)."}
  - {id: R15, check: count_change, count: distinct pupil_id, by: sex, max_change_percent: 50, min_previous: 2, severity: warning, message: "Sex {group}: {previous} then, {current} now ({change}%)."}
  - {id: R16, check: type, field: dob, severity: error, message: "Date of birth '{value}' is not a date."}
  - {id: R17, check: type, field: absent, severity: error, message: "Absent '{value}' is not a whole number."}
  - {id: R18, check: type, field: start, severity: error, message: "Start '{value}' is not a date."}
  - {id: R19, check: type, field: leave, severity: error, message: "Leave '{value}' is not a date."}
  - {id: R20, check: type, field: fsm, severity: error, message: "FSM '{value}' is not 0 or 1."}
"""

# A pupil who passes every rule (year 2023: 1 September 2023 to 31 August 2024).
GOOD = {
    "pupil_id": "P001",
    "dob": "2016-10-01",  # 6 on 1 September 2023: year 1
    "sex": "F",
    "school": "S1",
    "year_group": "1",
    "sessions": "380",
    "absent": "12",
    "start": "2023-09-04",
    "leave": "",
    "fsm": "0",
}


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "pupils.yaml"
    path.write_text(SPEC)
    return path


def run(
    spec_file: Path, rows: list[dict[str, str]], previous: Any = None
) -> tuple[list[tuple[Any, ...]], Any]:
    spec = load_spec(spec_file)
    table = pa.Table.from_pylist([{k: (v or None) for k, v in r.items()} for r in rows])
    table = table.append_column("__row", pa.array(np.arange(1, len(rows) + 1)))
    con = duckdb.connect()
    con.register("incoming", table)
    validation = run_rules(con, "incoming", Context(spec, "S1", 2023), previous)
    issues = con.execute(
        f"SELECT rule, row, field, value, message FROM ({issues_relation(spec)})"
    ).fetchall()
    return issues, validation


def only(
    spec_file: Path, rows: list[dict[str, str]], previous: Any = None
) -> list[tuple[Any, ...]]:
    issues, _ = run(spec_file, rows, previous)
    return issues


def test_a_good_return_passes_every_rule(spec_file: Path) -> None:
    second = GOOD | {"pupil_id": "P002", "sex": "M"}
    issues, validation = run(spec_file, [GOOD, second])
    assert issues == []
    assert (validation.errors, validation.warnings, validation.rows) == (0, 0, 2)


# (rule, the row changed from GOOD, the issue expected: field, value, message)
FIELD_AND_CROSS_FIELD = [
    # Text that is only spaces is blank, and reported as blank.
    ("R1", {"pupil_id": " "}, ("pupil_id", None, "The pupil ID is missing.")),
    ("R2", {"sessions": "3.5"}, ("sessions", "3.5", "Sessions '3.5' is not a whole number.")),
    ("R3", {"sex": "X"}, ("sex", "X", "Sex 'X' is not one of M, F.")),
    ("R4", {"pupil_id": "Q12"}, ("pupil_id", "Q12", "Pupil ID 'Q12' is not P and three digits.")),
    ("R5", {"sessions": "401"}, ("sessions", "401", "Sessions 401 is outside 0 to 400.")),
    (
        "R6",
        {"start": "2022-08-31"},
        ("start", "2022-08-31", "Start 2022-08-31 is outside 2022-09-01 to 2024-08-31."),
    ),
    ("R7", {"school": "S2"}, ("school", "S2", "School S2 is not yours.")),
    (
        "R8",
        {"absent": "381"},
        ("absent", "381", "Absent 381 is more than the 380 sessions (row 1)."),
    ),
    (
        "R9",
        {"dob": "2019-09-02", "year_group": "R"},
        ("dob", "2019-09-02", "Aged 3 on 2023-09-01: outside 4 to 8."),
    ),
    (
        "R10",
        {"year_group": "2"},
        ("year_group", "2", "Year group 2 does not fit a date of birth of 2016-10-01."),
    ),
    (
        "R16",
        {"dob": "01/10/2016"},
        ("dob", "01/10/2016", "Date of birth '01/10/2016' is not a date."),
    ),
    (
        "R16",
        {"dob": "2016-02-30"},
        ("dob", "2016-02-30", "Date of birth '2016-02-30' is not a date."),
    ),
    ("R20", {"fsm": "yes"}, ("fsm", "yes", "FSM 'yes' is not 0 or 1.")),
]


@pytest.mark.parametrize(("rule", "change", "expected"), FIELD_AND_CROSS_FIELD)
def test_field_and_cross_field_rules_fail_with_their_message(
    spec_file: Path, rule: str, change: dict[str, str], expected: tuple[str, str, str]
) -> None:
    issues = only(spec_file, [GOOD | change])
    assert (rule, 1, *expected) in issues
    # Only that rule fires (a value that is not of its type is not also out of range).
    assert {i[0] for i in issues} == {rule}


def test_a_rule_with_when_applies_only_where_it_holds(spec_file: Path) -> None:
    # Reception: the year group rule (R10) does not apply, whatever the age.
    assert only(spec_file, [GOOD | {"year_group": "R", "dob": "2018-10-01"}]) == []


def test_blank_optional_values_pass_and_blank_required_fail(spec_file: Path) -> None:
    assert only(spec_file, [GOOD | {"leave": "", "sessions": "", "absent": ""}]) == []
    assert [i[0] for i in only(spec_file, [GOOD | {"pupil_id": ""}])] == ["R1"]


def test_cross_record_rules(spec_file: Path) -> None:
    first = GOOD | {"start": "2023-09-04", "leave": "2023-12-20"}
    again = GOOD | {"start": "2024-01-08"}  # the same pupil: a new enrolment, fine
    assert [i[0] for i in only(spec_file, [first, again])] == ["R11"]  # but the id repeats

    overlapping = GOOD | {"start": "2023-12-01"}
    issues = only(spec_file, [first, overlapping])
    assert (
        "R12",
        2,
        "start",
        "2023-12-01",
        "Enrolment from 2023-12-01 overlaps row 1 (to 2023-12-20).",
    ) in issues
    # An open enrolment overlaps any later one.
    issues = only(spec_file, [GOOD, GOOD | {"start": "2024-05-01"}])
    assert (
        "R12",
        2,
        "start",
        "2024-05-01",
        "Enrolment from 2024-05-01 overlaps row 1 (to still open).",
    ) in issues
    # Back to back (leaving the day the next starts) is no overlap.
    back_to_back = [first, GOOD | {"start": "2023-12-20"}]
    assert "R12" not in {i[0] for i in only(spec_file, back_to_back)}

    issues = only(spec_file, [GOOD, GOOD | {"sex": "M"}])
    assert ("R11", 2, "pupil_id", "P001", "Pupil P001 again (first in row 1).") in issues
    assert ("R13", 2, "sex", "M", "sex of P001 is 'M', but 'F' in row 1.") in issues
    assert (
        "R13",
        2,
        "dob",
        "2016-10-01",
        "dob of P001 is '2016-10-01', but '2016-10-01' in row 1.",
    ) not in issues


def test_the_comparison_with_the_previous_return(spec_file: Path) -> None:
    rows = [GOOD | {"pupil_id": f"P{i:03d}", "sex": "F" if i < 6 else "M"} for i in range(10)]
    # No previous return: nothing to compare, and the report says so.
    issues, validation = run(spec_file, rows, None)
    assert issues == []
    assert validation.summary == {"R14": {"": 10}, "R15": {"F": 6, "M": 4}}
    assert validation.comparison["R14"] == "no previous accepted submission to compare with"
    # 8 before, 10 now: +25% > 20%; F 6 -> 6 and M 2 -> 4 (+100% > 50%).
    issues = only(spec_file, rows, {"R14": {"": 8}, "R15": {"F": 6, "M": 2}})
    assert issues == [
        ("R14", None, None, "8 -> 10", "Pupils changed by +25.0% (8 then, 10 now)."),
        ("R15", None, "sex", "2 -> 4", "Sex M: 2 then, 4 now (+100.0%)."),
    ]
    # Within the limits, or too few before to judge (min_previous 2): no warning.
    assert only(spec_file, rows, {"R14": {"": 9}, "R15": {"F": 6, "M": 1}}) == []


def test_errors_and_warnings_are_counted_apart(spec_file: Path) -> None:
    _, v = run(spec_file, [GOOD | {"sessions": "401", "sex": "X"}])
    assert (v.errors, v.warnings) == (1, 1)
    assert v.counts == {"R3": 1, "R5": 1}


# --- rule files that cannot be used ---------------------------------------------------------


def bad_spec(tmp_path: Path, old: str, new: str) -> SpecError:
    assert old in SPEC
    path = tmp_path / "bad.yaml"
    path.write_text(SPEC.replace(old, new, 1))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    return err.value


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("check: required", "check: mandatory", "rule R1: check 'mandatory' is not one of"),
        (
            'severity: error, message: "The pupil ID',
            'severity: fatal, message: "The pupil ID',
            "rule R1: severity must be error or warning",
        ),
        (
            "field: sessions, severity: error",
            "field: sesions, severity: error",
            "rule R2: field 'sesions' is not a column of pupils",
        ),
        ("{codes}", "{code_list}", "rule R3: the message uses {code_list}"),
        (
            'pattern: "P[0-9]{3}"',
            'pattern: "P[0-9"',
            "rule R4: the pattern is not a regular expression",
        ),
        ("min: 0, max: 400", "min: zero", "rule R5: min 'zero' is not a number"),
        ('op: "<="', 'op: "=<"', "rule R8: op must be one of"),
        ('at: "{period_start}"', 'at: "last summer"', "rule R9: at: 'last summer' is neither"),
        (
            'condition: "CAST(',
            'condition: "no_such_column = 1 AND CAST(',
            "rule R10: the rule cannot be compiled to SQL",
        ),
        (
            'condition: "CAST(',
            'condition: "1=1; DROP TABLE x; CAST(',
            "rule R10: condition must be one condition",
        ),
        ("id: R11,", "id: R1,", "rule R1: the id is used twice"),
        (
            "max_change_percent: 20,",
            "",
            "rule R14: a rule with check: count_change needs max_change_percent",
        ),
        (
            "  - {id: R17, check: type, field: absent",
            "  - {id: R17, check: required, field: absent",
            "column absent is a integer but no rule checks",
        ),
        (
            "codes: sex, zone: both",
            "codes: sexes, zone: both",
            "column sex: no code list called 'sexes'",
        ),
    ],
)
def test_a_bad_rule_file_is_refused_naming_the_file_and_rule(
    tmp_path: Path, old: str, new: str, says: str
) -> None:
    err = bad_spec(tmp_path, old, new)
    assert str(err).startswith("bad.yaml")
    assert says in str(err), str(err)
    assert str(err).endswith("Fix the rule file; nothing was checked.")


def test_a_file_that_is_not_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("collection: x\nrules: [\n")
    with pytest.raises(SpecError, match=r"broken.yaml: is not valid YAML at line"):
        load_spec(path)


def test_the_packaged_rule_files_load() -> None:
    assert {"cla_episodes", "cin_census"} <= set(available())
    for name in available():
        spec = load_spec(name)
        kinds = {r.kind for r in spec.rules}
        assert kinds == {"field", "cross_field", "cross_record", "comparison"}


def test_a_condition_cannot_read_files(tmp_path: Path) -> None:
    err = bad_spec(
        tmp_path,
        'condition: "CAST(',
        "condition: \"(SELECT count(*) FROM read_text('/etc/hostname')) > 0 AND CAST(",
    )
    assert "rule R10: the rule cannot be compiled to SQL" in str(err)
    assert "Permission" in str(err)
