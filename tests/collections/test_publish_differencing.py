"""Disclosure by differencing between publications: each published table is checked
against what its series published before (the publication ledger), so that
subtracting two publications gives no small count away.

The example (children looked after at 31 March 2024, local authority × placement,
under ``acro``: threshold 10):

==========  ====  ====  =====
authority    U4    U1   Total
==========  ====  ====  =====
Abermere     40    25     65
Brynmouth    30    22     52
Carrow       35    28     63
Total       105    75    180
==========  ====  ====  =====

is published; then Dunmore's late return (U4 12, U1 3) is accepted and the table is
published again. Dunmore × U1 (3) is suppressed in the new table and protected
from its own totals, but Total × U1 goes from 75 to 78: subtracting the two
publications would give Dunmore's 3 away. The second publication withholds it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import duckdb
import pytest

from fivesafes.collections.publish import Publication, publication_ledger
from fivesafes.collections.publish_collections import publish_accepted
from fivesafes.errors import FivesafesError
from fivesafes.outputs.policy import PRESETS

ACRO = PRESETS["acro"]
THRESHOLD = 10
SLUG = "children-looked-after-at-31-march"
# (code, name) -> {placement: children looked after at 31 March 2024}
FIRST = {
    ("X06000001", "Abermere"): {"U4": 40, "U1": 25},
    ("X06000002", "Brynmouth"): {"U4": 30, "U1": 22},
    ("X06000003", "Carrow"): {"U4": 35, "U1": 28},
}
LATE = {("X06000004", "Dunmore"): {"U4": 12, "U1": 3}}
SECOND = {**FIRST, **LATE}
TOTAL = "Total"

Label = tuple[str, str]


def _accepted(folder: Path, returns: Mapping[tuple[str, str], Mapping[str, int]]) -> Path:
    """An accepted.duckdb (the documented tables, as in test_publish_accepted) with the
    2023 returns: every episode open on 31 March 2024."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "accepted.duckdb"
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE cla_episodes (provider VARCHAR, submission_id BIGINT, "
            "collection_year INTEGER, record_id UUID, sex VARCHAR, ethnicity VARCHAR, "
            "la_code VARCHAR, episode_start DATE, episode_end DATE, legal_status VARCHAR, "
            "placement_type VARCHAR, reason_for_entry VARCHAR, reason_for_leaving VARCHAR, "
            "birth_year SMALLINT, birth_month SMALLINT)"
        )
        con.execute("CREATE TABLE _providers (code VARCHAR, name VARCHAR)")
        con.execute(
            "CREATE TABLE _submissions (submission_id BIGINT, collection VARCHAR, "
            "provider VARCHAR, collection_year INTEGER, rows BIGINT, accepted_at TIMESTAMP)"
        )
        for sub, ((code, name), cells) in enumerate(returns.items(), start=1):
            con.execute("INSERT INTO _providers VALUES (?, ?)", [code, name])
            con.execute(
                "INSERT INTO _submissions VALUES (?, 'cla_episodes', ?, 2023, ?, now())",
                [sub, code, sum(cells.values())],
            )
            for placement, n in cells.items():
                for _ in range(n):
                    con.execute(
                        "INSERT INTO cla_episodes VALUES (?, ?, 2023, uuid(), 'F', 'WBRI', ?, "
                        "DATE '2023-05-01', NULL, 'C2', ?, 'N1', NULL, 2012, 5)",
                        [code, sub, code, placement],
                    )
    return path


def _publish(
    tmp: Path, name: str, returns: Mapping[tuple[str, str], Mapping[str, int]], site: Path
) -> Publication:
    accepted = _accepted(tmp / name, returns)
    [pub] = publish_accepted(accepted, site, policy=ACRO, release_date=date(2026, 1, 15))
    return pub


def _published(pub: Publication) -> dict[Label, float | None]:
    """The table as published, read back from its JSON."""
    doc = json.loads(pub.paths["json"].read_text())
    return {(d["local_authority"], d["placement_type"]): d["value"] for d in doc["data"]}


def _status(pub: Publication) -> dict[Label, str]:
    doc = json.loads(pub.paths["json"].read_text())
    return {(d["local_authority"], d["placement_type"]): d["status"] for d in doc["data"]}


def _truth(returns: Mapping[tuple[str, str], Mapping[str, int]]) -> dict[Label, int]:
    cells: dict[Label, int] = {}
    for (_, name), row in returns.items():
        for placement, n in row.items():
            for key in ((name, placement), (name, TOTAL), (TOTAL, placement), (TOTAL, TOTAL)):
                cells[key] = cells.get(key, 0) + n
    return cells


def _peel(values: dict[Label, float], rows: list[str], cols: list[str]) -> bool:
    """Fill in every cell that a margin equation with one unknown gives; True if any."""
    equations = [((r, TOTAL), [(r, c) for c in cols]) for r in [*rows, TOTAL]] + [
        ((TOTAL, c), [(r, c) for r in rows]) for c in [*cols, TOTAL]
    ]
    grew = False
    for total, parts in equations:
        unknown = [x for x in [total, *parts] if x not in values]
        if len(unknown) != 1:
            continue
        [x] = unknown
        if x == total:
            values[x] = sum(values[p] for p in parts)
        else:
            values[x] = values[total] - sum(values[p] for p in parts if p != x)
        grew = True
    return grew


def _attack(
    old: Mapping[Label, float | None], new: Mapping[Label, float | None]
) -> dict[Label, float]:
    """What subtracting the old publication from the new one gives away: the
    difference of every cell known in both (a row the old table does not have is 0 in
    it: that authority was not covered), the margins of the difference table and of
    each table, repeated until nothing more follows. Returns the known differences."""
    rows = sorted({r for r, _ in new if r != TOTAL})
    cols = sorted({c for _, c in new if c != TOTAL})
    o = {k: float(v) for k, v in old.items() if v is not None}
    o.update({k: 0.0 for k in new if k[0] not in {r for r, _ in old}})
    n = {k: float(v) for k, v in new.items() if v is not None}
    d: dict[Label, float] = {}
    while True:
        grew = _peel(o, rows, cols) | _peel(n, rows, cols)
        for k in set(o) & set(n):
            if k not in d:
                d[k] = n[k] - o[k]
                grew = True
        grew |= _peel(d, rows, cols)
        for k, v in d.items():
            if k in o and k not in n:
                n[k] = o[k] + v
                grew = True
            if k in n and k not in o:
                o[k] = n[k] - v
                grew = True
        if not grew:
            return d


def _small(differences: Mapping[Label, float]) -> dict[Label, float]:
    return {k: v for k, v in differences.items() if 0 < v < THRESHOLD}


def test_a_late_return_cannot_be_worked_out_by_subtracting_the_publications(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    first = _publish(tmp_path, "first", FIRST, site)
    # Everything is at least 10: all of the first table is published. (Read now: the
    # second publication replaces the files.)
    old = _published(first)
    assert old == _truth(FIRST)
    meta1 = json.loads(first.paths["json"].read_text())["metadata"]
    assert meta1["disclosure"]["differencing"]["earlier_tables"] == 0
    assert "no table had been published earlier in this series" in " ".join(meta1["notes"])

    second = _publish(tmp_path, "second", SECOND, site)
    new, status = _published(second), _status(second)
    truth = _truth(SECOND)
    # Dunmore × U1 (3) is the primary suppression of the new table.
    assert new[("Dunmore", "U1")] is None
    # Total × U1 would be 78 against 75 before: 3, Dunmore's, by subtraction. Withheld,
    # for differencing, and named so for the publisher (inside the TRE).
    assert truth[(TOTAL, "U1")] - _truth(FIRST)[(TOTAL, "U1")] == 3
    assert new[(TOTAL, "U1")] is None and status[(TOTAL, "U1")] == "suppress"
    withheld = second.differencing()
    assert [tuple(w["cell"]) for w in withheld] == [(TOTAL, "U1")]
    reason = withheld[0]["reason"]
    assert "Total × U1: 3 people, fewer than the threshold of 10" in reason
    assert f"'{SLUG} (year 2024)' (released 2026-01-15)" in reason
    assert "local_authority Dunmore" in reason

    # The published files say why, without the cell or the count.
    doc = json.loads(second.paths["json"].read_text())
    meta = doc["metadata"]
    notes = " ".join(meta["notes"])
    assert (
        f"1 cell is suppressed because, subtracted from the table '{SLUG} (year 2024)' "
        "(released 2026-01-15), it would give away a count of fewer than 10 children "
        "(disclosure by differencing)"
    ) in notes
    assert meta["disclosure"]["differencing"] == {
        "series": "cla_episodes",
        "ledger": "ledger/cla_episodes.jsonl",
        "earlier_tables": 1,
        "cells": 1,
        "checked_against": [f"the table '{SLUG} (year 2024)' (released 2026-01-15)"],
    }
    # the existing keys and notes are still there
    assert {"policy", "cells", "secondary_suppression", "check_notes"} <= set(meta["disclosure"])
    assert "Counts are not rounded." in notes
    for text in (second.paths["json"].read_text(), second.paths["html"].read_text()):
        assert "gives away" not in text and "3 children" not in text
    assert "disclosure by differencing" in second.paths["html"].read_text()
    header = second.paths["csv"].read_text().splitlines()[0]
    assert header == "year,local_authority,placement_type,value,status"

    # The two publications together: every difference that can be worked out is 0
    # or at least the threshold, and Dunmore × U1 stays unknown.
    differences = _attack(old, new)
    assert _small(differences) == {}
    assert (TOTAL, "U1") not in differences and ("Dunmore", "U1") not in differences
    # (what can be worked out: Dunmore's row total, 15, and the grand total's change)
    assert differences[("Dunmore", TOTAL)] == differences[(TOTAL, TOTAL)] == 15
    # what is published is the truth
    assert all(new[k] == truth[k] for k in new if new[k] is not None)

    # The ledger has both publications, first to last.
    entries = publication_ledger(site).entries("cla_episodes")
    assert [e.output for e in entries] == [f"{SLUG} (year 2024)"] * 2
    assert entries[1].values[entries[1].labels.index((TOTAL, "U1"))] is None
    assert second.to_dict()["differencing"]["recorded"] == 1


def test_without_the_ledger_the_second_table_would_give_the_late_return_away(
    tmp_path: Path,
) -> None:
    """A fresh folder is a new series with an empty ledger: the same second table,
    published there, withholds nothing for differencing, and subtracting the first
    publication from it gives Dunmore's 3 away (what the ledger prevents)."""
    first = _publish(tmp_path, "first", FIRST, tmp_path / "site")
    fresh = tmp_path / "fresh"
    assert publication_ledger(fresh).entries("cla_episodes") == []
    alone = _publish(tmp_path, "second", SECOND, fresh)
    assert alone.differencing() == []
    meta = json.loads(alone.paths["json"].read_text())["metadata"]
    assert meta["disclosure"]["differencing"]["earlier_tables"] == 0
    new = _published(alone)
    assert new[(TOTAL, "U1")] == 78
    assert _small(_attack(_published(first), new)) == {(TOTAL, "U1"): 3.0}
    assert len(publication_ledger(fresh).entries("cla_episodes")) == 1


def test_publishing_the_same_table_again_withholds_nothing_new(tmp_path: Path) -> None:
    site = tmp_path / "site"
    first = _published(_publish(tmp_path, "first", FIRST, site))
    again = _publish(tmp_path, "first-again", FIRST, site)
    assert _published(again) == first == _truth(FIRST)
    assert again.differencing() == []
    notes = " ".join(json.loads(again.paths["json"].read_text())["metadata"]["notes"])
    assert "checked against the 1 table published earlier in this series" in notes
    assert "no cell needed to be withheld" in notes
    # a table published before exactly so is not recorded twice
    assert again.to_dict()["differencing"]["recorded"] == 0
    assert len(publication_ledger(site).entries("cla_episodes")) == 1

    # The second table, published twice: the second time withholds what the first did.
    second = _publish(tmp_path, "second", SECOND, site)
    values, status = _published(second), _status(second)
    second_again = _publish(tmp_path, "second-again", SECOND, site)
    assert _published(second_again) == values
    assert _status(second_again) == status
    assert len(publication_ledger(site).entries("cla_episodes")) == 2


def test_a_table_goes_into_the_ledger_only_once_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fivesafes.collections.publish as charts  # the chart as the publication calls it

    def broken(*args: object, **kwargs: object) -> object:
        raise OSError("disk full")

    monkeypatch.setattr(charts, "table_chart", broken)
    site = tmp_path / "site"
    with pytest.raises(FivesafesError, match="not recorded in the publication ledger"):
        _publish(tmp_path, "first", FIRST, site)
    assert publication_ledger(site).entries("cla_episodes") == []
    assert not (site / f"{SLUG}.csv").exists()
    monkeypatch.undo()
    # published for real now: the first table in the series
    first = _publish(tmp_path, "first", FIRST, site)
    assert first.differencing() == []
    assert len(publication_ledger(site).entries("cla_episodes")) == 1
