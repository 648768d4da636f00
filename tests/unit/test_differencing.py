"""Disclosure by differencing: a new table checked against the project's release ledger.

The geographical example is the Handbook on Statistical Disclosure Control's
(Hundepool et al.; the open edition sdcTools/HandbookSDC on GitHub, commit eef4a18,
file chapters/05/_05-frequency-tables-02-Disclosure-risks.qmd, section "Disclosure
risks", tables tbl-single-hh-hours, tbl-single-hh-income and tbl-differenced-table):
single-person households by sex and hours worked in Area A, once on the 2001 Output
Area definition and once on the 1991 Enumeration District one; subtracting one from
the other gives the "new differenced table" 2, 1 / 2, 0 / 0, 0 for the remaining area.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.orm import Session

from fivesafes.appdb import add_user, engine_for, migrate, session_factory
from fivesafes.errors import FivesafesError
from fivesafes.outputs import airlock as airlock_module
from fivesafes.outputs.check import check
from fivesafes.outputs.differencing import (
    Ledger,
    Population,
    ReleasedTable,
    check_against_ledger,
    ledger_rule,
)
from fivesafes.outputs.objects import FrequencyTable
from fivesafes.outputs.policy import ACRO, Policy

PROJECT = "p-001"
PUPILS = "pupils in the school census, distinct persons"


def _record(ledger: Ledger, name: str, table: FrequencyTable, pop: Population) -> None:
    result = check(table, ACRO)
    result.population = pop.to_dict()
    entry = ReleasedTable.from_report(PROJECT, name, result.to_dict(), released_at="2026-11-01")
    assert entry is not None
    ledger.record(entry)


def _pupils(extra: list[tuple[str, str, int]] = ()) -> pd.DataFrame:  # type: ignore[assignment]
    """30 pupils in every LA × sex cell, born January to August; ``extra`` adds
    (la, sex, birth month) pupils."""
    rows = []
    pid = 0
    for la in ("LA1", "LA2", "LA3", "LA4"):
        for sex in ("F", "M"):
            for k in range(30):
                rows.append((pid, la, sex, 1 + k % 8))
                pid += 1
    for la, sex, month in extra:
        rows.append((pid, la, sex, month))
        pid += 1
    return pd.DataFrame(rows, columns=["pid", "la", "sex", "birth_month"])


def _table(df: pd.DataFrame) -> FrequencyTable:
    return FrequencyTable.from_microdata(df, ["la", "sex"], person="pid")


def _labels(table: FrequencyTable, cells: list[int]) -> set[tuple[str, ...]]:
    return {tuple(table.labels.iloc[i]) for i in cells}


ADDED = [("LA1", "F", 9), ("LA1", "F", 9), ("LA2", "M", 9)]
DIFFERENCES = {
    ("LA1", "F"): 2,
    ("LA1", "Total"): 2,
    ("Total", "F"): 2,
    ("LA2", "M"): 1,
    ("LA2", "Total"): 1,
    ("Total", "M"): 1,
    ("Total", "Total"): 3,
}


def test_a_rerun_with_three_more_people_is_caught(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger")
    old = Population.of(PUPILS, "pupils born January to August", birth_month=range(1, 9))
    _record(ledger, "pupils by LA and sex", _table(_pupils()), old)
    # The same table with the age band widened by a month: 3 more pupils.
    new_pop = Population.of(PUPILS, "pupils born January to September", birth_month=range(1, 10))
    new = _table(_pupils(ADDED))
    findings = check_against_ledger(PROJECT, new, ACRO, new_pop, ledger)
    found = {f.label: f.derived for f in findings}
    assert found == DIFFERENCES
    reason = next(f.reason for f in findings if f.label == ("LA2", "M"))
    assert "'pupils by LA and sex'" in reason and "1 person" in reason
    assert "birth_month 9" in reason and "differencing" in reason

    # Through the check: those cells are suppressed, and what is left gives nothing away.
    result = check(new, ACRO, differencing=ledger_rule(PROJECT, new_pop, ACRO, ledger))
    withheld = {v.cell for v in result.verdicts if v.status == "suppress"}
    assert _labels(new, sorted(withheld)) >= set(DIFFERENCES)
    assert all("differencing" in v.rules for v in result.verdicts if v.label in DIFFERENCES)
    assert check_against_ledger(PROJECT, new, ACRO, new_pop, ledger, withheld=withheld) == []
    # The nested population the other way round (the new table is the smaller one).
    ledger2 = Ledger(tmp_path / "ledger2")
    _record(ledger2, "pupils born Jan-Sep", new, new_pop)
    found2 = check_against_ledger(PROJECT, _table(_pupils()), ACRO, old, ledger2)
    assert {f.label: f.derived for f in found2} == DIFFERENCES


def test_no_false_alarm(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger")
    old = Population.of(PUPILS, birth_month=range(1, 9))
    _record(ledger, "pupils", _table(_pupils()), old)
    wider = Population.of(PUPILS, birth_month=range(1, 10))
    # The same table again: every difference is 0.
    same = check_against_ledger(PROJECT, _table(_pupils()), ACRO, old, ledger)
    assert same == []
    # Ten or more added in every cell that changes: no small difference.
    many = [(la, sex, 9) for la in ("LA1", "LA2") for sex in ("F", "M") for _ in range(10)]
    assert check_against_ledger(PROJECT, _table(_pupils(many)), ACRO, wider, ledger) == []
    # An unrelated table: another universe, other dimensions, a disjoint population.
    small = _table(_pupils(ADDED))
    offenders = Population.of("offenders, distinct persons", birth_month=range(1, 10))
    assert check_against_ledger(PROJECT, small, ACRO, offenders, ledger) == []
    other_dims = FrequencyTable.from_microdata(_pupils(ADDED), ["la"], person="pid")
    assert check_against_ledger(PROJECT, other_dims, ACRO, wider, ledger) == []
    disjoint = Population.of(PUPILS, birth_month=range(9, 13))
    assert check_against_ledger(PROJECT, small, ACRO, disjoint, ledger) == []
    # Another project's ledger is not consulted.
    assert check_against_ledger("p-002", small, ACRO, wider, ledger) == []


# The handbook's tables (rows: hours worked; columns: single-person household male, female).
HOURS = ["More than 30", "16-30", "15 or less"]
OA_2001 = [[50, 54], [128, 140], [39, 49]]
ED_1991 = [[52, 55], [130, 140], [39, 49]]
DIFFERENCED = [[2, 1], [2, 0], [0, 0]]
HOUSEHOLDS = "single-person households"
#: Handbook wording: "a small cell (0, 1, or 2)"; a threshold of 3 flags 1 and 2.
THREE = Policy(name="threshold-3", version="1", threshold=3, zeros=False)


def _hh(values: list[list[int]]) -> FrequencyTable:
    rows = [
        {"hours": h, "sex": s, "n": values[i][j]}
        for i, h in enumerate(HOURS)
        for j, s in enumerate(["Male", "Female"])
    ]
    return FrequencyTable.from_long(pd.DataFrame(rows), ["hours", "sex"], "n", persons=True)


def test_handbook_geographical_differencing(tmp_path: Path) -> None:
    """2001 OA Area A is the 1991 ED Area A less a sliver of base units."""
    oa = Population.of(HOUSEHOLDS, "Area A (2001 OA definition)", base_area=["a1", "a2", "a3"])
    ed = Population.of(
        HOUSEHOLDS, "Area A (1991 ED definition)", base_area=["a1", "a2", "a3", "s1"]
    )
    expected = {
        (h, s): DIFFERENCED[i][j]
        for i, h in enumerate(HOURS)
        for j, s in enumerate(["Male", "Female"])
        if 1 <= DIFFERENCED[i][j] <= 2
    }
    both = [(oa, OA_2001), (ed, ED_1991)]
    for k, ((first, released), (second, new)) in enumerate((both, both[::-1])):
        ledger = Ledger(tmp_path / f"ledger-{k}")
        result = check(_hh(released), THREE)
        result.population = first.to_dict()
        entry = ReleasedTable.from_report(PROJECT, "Area A", result.to_dict())
        assert entry is not None
        ledger.record(entry)
        findings = check_against_ledger(PROJECT, _hh(new), THREE, second, ledger)
        assert {f.label: f.derived for f in findings} == expected
        assert all("base_area s1" in f.reason for f in findings)
    # Under a threshold of 10 the same three cells are caught (2, 1 and 2 < 10).
    ledger = Ledger(tmp_path / "ten")
    _record(ledger, "Area A", _hh(OA_2001), oa)
    assert len(check_against_ledger(PROJECT, _hh(ED_1991), ACRO, ed, ledger)) == 3


def test_overlapping_geographies_need_the_linear_system(tmp_path: Path) -> None:
    """Areas {1, 2} and {1} were released; a new table for {2, 3} overlaps both and
    nests with neither, yet with them it gives away area 3 (the table for {2} is
    the first two subtracted; area 3 is the new one less that)."""
    ledger = Ledger(tmp_path / "ledger")
    rng = np.random.default_rng(3)
    area = {a: rng.integers(40, 60, size=(3, 2)) for a in ("1", "2")}
    area["3"] = np.array([[2, 0], [1, 0], [0, 0]])

    def over(areas: list[str]) -> FrequencyTable:
        v = sum(area[a] for a in areas)
        return _hh(np.asarray(v).tolist())

    for areas in (["1", "2"], ["1"]):
        _record(
            ledger, f"areas {'+'.join(areas)}", over(areas), Population.of(HOUSEHOLDS, area=areas)
        )
    new_pop = Population.of(HOUSEHOLDS, area=["2", "3"])
    findings = check_against_ledger(PROJECT, over(["2", "3"]), ACRO, new_pop, ledger)
    assert {f.label: f.derived for f in findings} == {
        ("More than 30", "Male"): 2,
        ("16-30", "Male"): 1,
    }
    assert all("area 3" in f.reason for f in findings)


def test_the_ledger_persists_and_shows_edits(tmp_path: Path) -> None:
    folder = tmp_path / "state" / "ledger"
    pop = Population.of(PUPILS, "all pupils", birth_month=range(1, 9))
    _record(Ledger(folder), "first", _table(_pupils()), pop)
    _record(Ledger(folder), "second", _table(_pupils()), pop)
    entries = Ledger(folder).entries(PROJECT)  # a new session: read back from disk
    assert [e.output for e in entries] == ["first", "second"]
    assert entries[0].population == pop
    assert entries[0].dims == ["la", "sex"] and len(entries[0].labels) == 15
    assert Ledger(folder).entries("another-project") == []
    # An edited line breaks the hash chain.
    path = Ledger(folder).path(PROJECT)
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    first["cells"][0]["value"] = 1
    path.write_text(
        json.dumps(first, sort_keys=True, separators=(",", ":")) + "\n" + lines[1] + "\n"
    )
    with pytest.raises(FivesafesError, match="hash chain is broken"):
        Ledger(folder).entries(PROJECT)


# --- the airlock records what it releases ----------------------------------------------


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    url = f"sqlite:///{tmp_path / 'state' / 'fivesafes.db'}"
    migrate(url)
    engine = engine_for(url)
    with session_factory(engine)() as s:
        for name, role in {"ann": "researcher", "carol": "output_checker"}.items():
            add_user(s, name, role)
        add_user(s, "dave", "output_checker")
        yield s
    engine.dispose()


def test_release_records_the_released_tables(session: Session, tmp_path: Path) -> None:
    pop = Population.of(PUPILS, "pupils born January to August", birth_month=range(1, 9))
    result = check(_table(_pupils()), ACRO)
    result.population = pop.to_dict()
    csv = tmp_path / "table.csv"
    result.write_csv(csv)
    report = result.to_dict() | {"verdict": "pass"}
    note = tmp_path / "note.txt"
    note.write_text("a figure\n")
    req = airlock_module.create_request(session, "ann", PROJECT, "Pupils by LA and sex")
    airlock_module.add_output(session, req.id, "ann", "pupils", csv, "pupils by LA × sex", report)
    airlock_module.add_output(session, req.id, "ann", "note", note, "a note", {"verdict": "review"})
    airlock_module.submit(session, req.id, "ann")
    airlock_module.record_automatic_check(session, req.id)
    airlock_module.start_review(session, req.id, "carol")
    for checker in ("carol", "dave"):
        for name in ("pupils", "note"):
            airlock_module.review(session, req.id, name, checker, "approve")
    airlock_module.release(session, req.id, "carol", tmp_path / "released")
    ledger = Ledger.for_session(session)
    assert ledger.folder == tmp_path / "state" / "ledger"
    entries = ledger.entries(PROJECT)
    assert [(e.output, e.request_id, e.released_by) for e in entries] == [
        ("pupils", req.id, "carol")
    ]
    assert entries[0].population == pop
    # ... and the next table is checked against it.
    wider = Population.of(PUPILS, birth_month=range(1, 10))
    findings = check_against_ledger(PROJECT, _table(_pupils(ADDED)), ACRO, wider, ledger)
    assert {f.label for f in findings} == set(DIFFERENCES)
    assert all(f"request {req.id}" in f.reason for f in findings)
    shutil.rmtree(tmp_path / "released")


@pytest.mark.parametrize("size", [(6, 4), (20, 10)])
def test_the_exact_and_the_label_by_label_checks_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    """Small families get exact linear programs, large ones (here 20 × 10 with
    margins: 462 unknowns) a label-by-label check: on a re-run with a month more,
    both find exactly the cells whose difference is 1 to 9."""
    from fivesafes.outputs import differencing

    rows, cols = size
    rng = np.random.default_rng(11)
    n = rows * cols * 30
    df = pd.DataFrame(
        {
            "pid": np.arange(n),
            "a": rng.integers(0, rows, n).astype(str),
            "b": rng.integers(0, cols, n).astype(str),
            "month": rng.integers(1, 13, n),
        }
    )
    old = FrequencyTable.from_microdata(df[df["month"] <= 11], ["a", "b"], person="pid")
    new = FrequencyTable.from_microdata(df, ["a", "b"], person="pid")
    ledger = Ledger(tmp_path / "ledger")
    _record(ledger, "old", old, Population.of(PUPILS, month=range(1, 12)))
    diff = new.values - old.values
    expected = {tuple(new.labels.iloc[i]) for i in np.flatnonzero((diff >= 1) & (diff <= 9))}
    pop = Population.of(PUPILS, month=range(1, 13))
    for limit in (0, 10**6):  # label by label, then exact
        monkeypatch.setattr(differencing, "MAX_LP_UNKNOWNS", limit)
        found = check_against_ledger(PROJECT, new, ACRO, pop, ledger)
        assert {f.label for f in found} == expected
