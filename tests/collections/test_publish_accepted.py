"""The standard tables read the accepted-collections file exactly as
docs/collections.md describes it (one table per collection, ``_providers``,
``_submissions``); children are counted at 31 March as the module says, worked
out by hand below."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from fivesafes.collections.publish_collections import accepted_records, publish_accepted
from fivesafes.demo.collections import publish_demo
from fivesafes.errors import FivesafesError
from fivesafes.outputs.policy import Policy

#: No rule at all, to see the counts themselves (tests only).
NO_RULES = Policy(
    name="test-no-rules",
    version="1",
    threshold=0,
    zeros=False,
    class_disclosure=False,
    p=None,
    n=None,
    k=None,
)

# (collection_year, episode_start, episode_end, placement_type)
EPISODES = [
    (2023, "2023-05-01", None, "U4"),  # open on 31 March 2024: counted
    (2023, "2023-04-10", "2024-03-31", "U4"),  # ended on 31 March: not looked after that day
    (2023, "2024-03-31", None, "K2"),  # started on 31 March: counted
    (2023, "2023-06-01", "2024-04-02", "U4"),  # ended after 31 March: counted
    (2022, "2022-05-01", None, "U1"),  # returned for 2022: counted at 31 March 2023 only
    (2022, "2022-04-02", "2022-09-30", "U1"),  # over before 31 March 2023
]
# By hand: 31 March 2024: U4 2, K2 1, total 3; 31 March 2023: U1 1, total 1.
EXPECTED = {
    (2024, "U4"): 2,
    (2024, "K2"): 1,
    (2024, "Total"): 3,
    (2023, "U1"): 1,
    (2023, "Total"): 1,
}


def _accepted(folder: Path) -> Path:
    """An accepted.duckdb with the documented tables and columns."""
    path = folder / "accepted.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE cla_episodes (provider VARCHAR, submission_id BIGINT, "
            "collection_year INTEGER, record_id UUID, sex VARCHAR, ethnicity VARCHAR, "
            "la_code VARCHAR, episode_start DATE, episode_end DATE, legal_status VARCHAR, "
            "placement_type VARCHAR, reason_for_entry VARCHAR, reason_for_leaving VARCHAR, "
            "birth_year SMALLINT, birth_month SMALLINT)"
        )
        for i, (year, start, end, placement) in enumerate(EPISODES):
            con.execute(
                "INSERT INTO cla_episodes VALUES ('X06000001', ?, ?, uuid(), 'F', 'WBRI', "
                "'X06000001', ?, ?, 'C2', ?, 'N1', NULL, 2012, 5)",
                [10 + (year == 2023), year, start, end, placement],
            )
            assert i >= 0
        con.execute("CREATE TABLE _providers (code VARCHAR, name VARCHAR)")
        con.execute("INSERT INTO _providers VALUES ('X06000001', 'Abermere')")
        con.execute(
            "CREATE TABLE _submissions (submission_id BIGINT, collection VARCHAR, "
            "provider VARCHAR, collection_year INTEGER, rows BIGINT, accepted_at TIMESTAMP)"
        )
        con.execute(
            "INSERT INTO _submissions VALUES (10, 'cla_episodes', 'X06000001', 2022, 2, now()),"
            " (11, 'cla_episodes', 'X06000001', 2023, 4, now())"
        )
    return path


def test_children_looked_after_at_31_march_by_hand(tmp_path: Path) -> None:
    records = accepted_records(_accepted(tmp_path))
    assert list(records) == ["cla_episodes"]
    pubs = publish_accepted(tmp_path, tmp_path / "site", policy=NO_RULES)
    [pub] = pubs
    rows = list(csv.DictReader(pub.paths["csv"].open()))
    got = {
        (int(r["year"]), r["placement_type"]): int(r["value"])
        for r in rows
        if r["local_authority"] == "Abermere" and r["value"] not in ("", "0")
    }
    assert got == EXPECTED
    meta = json.loads(pub.paths["json"].read_text())["metadata"]
    assert meta["coverage"] == "1 local authority; 31 March 2023 to 2024"
    assert meta["source"].endswith("1 local authority")
    # the words of the rule file's code list
    assert meta["labels"]["placement_type"]["U4"] == "Foster placement with other foster carer"


def test_under_acro_every_small_count_is_withheld(tmp_path: Path) -> None:
    _accepted(tmp_path)
    [pub] = publish_accepted(tmp_path / "accepted.duckdb", tmp_path / "site")
    assert all(v is None for v in pub.data["value"])  # all below 10 (or zero)
    assert "3" not in pub.paths["csv"].read_text().split("\n", 1)[1].split(",")


def test_no_accepted_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(FivesafesError, match="no accepted collections here"):
        publish_accepted(tmp_path, tmp_path / "site")


@pytest.mark.slow
def test_publish_demo_writes_tables_dashboard_and_index(tmp_path: Path) -> None:
    _accepted(tmp_path)
    result = publish_demo(
        tmp_path / "site", accepted=tmp_path, seed=3, release_date=date(2026, 1, 15)
    )
    assert all(Path(p).is_file() for p in result["paths"])
    index = Path(result["index"]).read_text()
    assert 'href="children-looked-after-at-31-march.html"' in index
    assert 'href="indicators/index.html"' in index
    assert result["indicators"]["areas"] == 42
    assert result["tables"][0]["slug"] == "children-looked-after-at-31-march"
