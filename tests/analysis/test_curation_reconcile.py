"""Reconciliation of an attribute recorded in several sources, checked against a
small example worked by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from fivesafes.analysis.curation.reconcile import reconcile
from fivesafes.errors import FivesafesError
from fivesafes.outputs import check, load_policy

# Five persons, three sources (census, school, hospital), with dates.
#   p1: census A; school A, A;  hospital A            → all agree
#   p2: census B; school C (2019), C (2020); hospital B (2022)
#   p3: school D (2015), E (2016), E (2017)  (inconsistent within school); hospital D (2018)
#   p4: census missing (blank); school F; hospital REFU (refused: missing)
#   p5: hospital G only
RECORDS = [
    ("p1", "census", "A", "2021-03-21"),
    ("p1", "school", "A", "2015-01-18"),
    ("p1", "school", "A", "2016-01-18"),
    ("p1", "hospital", "A", "2019-06-01"),
    ("p2", "census", "B", "2021-03-21"),
    ("p2", "school", "C", "2019-01-18"),
    ("p2", "school", "C", "2020-01-18"),
    ("p2", "hospital", "B", "2022-02-02"),
    ("p3", "school", "D", "2015-01-18"),
    ("p3", "school", "E", "2016-01-18"),
    ("p3", "school", "E", "2017-01-18"),
    ("p3", "hospital", "D", "2018-05-05"),
    ("p4", "census", None, "2021-03-21"),
    ("p4", "school", "F", "2014-01-18"),
    ("p4", "hospital", "REFU", "2020-01-01"),
    ("p5", "hospital", "G", "2010-10-10"),
]
FRAME = pd.DataFrame(RECORDS, columns=["person", "source", "value", "date"])
ORDER = ["census", "school", "hospital"]


def _chosen(rule: str) -> dict[str, str]:
    r = reconcile(FRAME, rule, priority=ORDER, date="date", missing=["REFU"])  # type: ignore[arg-type]
    return dict(zip(r.values["person"], r.values["value"], strict=True))


def test_priority_order() -> None:
    # census first; p3's school value is its most frequent (E, twice)
    assert _chosen("priority") == {"p1": "A", "p2": "B", "p3": "E", "p4": "F", "p5": "G"}


def test_most_recent() -> None:
    # p2's latest is the hospital's B (2022); p3's is the hospital's D (2018)
    assert _chosen("most_recent") == {"p1": "A", "p2": "B", "p3": "D", "p4": "F", "p5": "G"}


def test_most_frequent() -> None:
    # p2: B twice (census, hospital) and C twice (school): the tie goes to the source
    # first in the priority order (census's B). p3: D twice (school 2015, hospital
    # 2018) and E twice (school 2016, 2017): both reach the school, so the latest, D.
    assert _chosen("most_frequent") == {"p1": "A", "p2": "B", "p3": "D", "p4": "F", "p5": "G"}


def test_disagreement_report_counts_by_hand() -> None:
    r = reconcile(FRAME, "priority", priority=ORDER, date="date", missing=["REFU"])
    pairs = {(p.source_a, p.source_b): (p.both, p.disagree) for p in r.pairs.itertuples()}
    # each source's value per person: census p1 A, p2 B; school p1 A, p2 C, p3 E, p4 F;
    # hospital p1 A, p2 B, p3 D, p5 G
    assert pairs == {
        ("census", "school"): (2, 1),  # p1 agree, p2 B≠C
        ("census", "hospital"): (2, 0),  # p1, p2 agree
        ("school", "hospital"): (3, 2),  # p1 agree, p2 C≠B, p3 E≠D
    }
    assert r.persons == 5
    assert r.multi_source == 3  # p1, p2, p3 (p4 has only the school: blank and REFU are missing)
    assert r.any_disagreement == 2  # p2, p3
    within = dict(zip(r.within["source"], r.within["inconsistent"], strict=True))
    assert within == {"census": 0, "school": 1, "hospital": 0}  # p3's D then E
    text = " ".join(r.summary())
    assert "school and hospital: 2 of 3 persons recorded in both disagree (66.7%)" in text


def test_recode_before_comparing() -> None:
    to_group = {"A": "X", "B": "X", "C": "X", "D": "Y", "E": "Y"}
    r = reconcile(
        FRAME,
        "priority",
        priority=ORDER,
        date="date",
        missing=["REFU"],
        recode={"census": to_group, "school": to_group, "hospital": to_group},
    )
    pairs = {(p.source_a, p.source_b): p.disagree for p in r.pairs.itertuples()}
    assert pairs == {("census", "school"): 0, ("census", "hospital"): 0, ("school", "hospital"): 0}


def test_report_is_an_output_the_disclosure_rules_check() -> None:
    r = reconcile(FRAME, "priority", priority=ORDER, date="date", missing=["REFU"])
    table = r.outputs()["reconciliation_disagreement"]
    result = check(table, load_policy("acro"))
    # every count here is below any threshold: nothing may leave as it is
    assert result.status != "pass"
    assert table.cells().persons
    res = r.result()
    assert set(res.check(load_policy("acro"))) == {"reconciliation_disagreement"}
    assert res.table("reconciliation_disagreement")["disagree"].tolist() == [1, 0, 2]


def test_bad_arguments() -> None:
    with pytest.raises(FivesafesError, match="unknown rule"):
        reconcile(FRAME, "loudest")  # type: ignore[arg-type]
    with pytest.raises(FivesafesError, match="needs the date"):
        reconcile(FRAME, "most_recent")
    with pytest.raises(FivesafesError, match="not in the priority order"):
        reconcile(FRAME, "priority", priority=["census"])
