"""The synthetic twin on a small handmade workspace: schema, new persons, nothing
rare, joins across tables as in the real one, bad input refused.

The workspace: 400 persons; ``visits`` (2–6 rows each, yearly, a score that
drifts with age, a clinic code) for everyone, ``events`` (1–3 dated rows) for
about 40% of them; three persons hold a clinic code of their own (``RARE``,
many rows each), one a huge score.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fivesafes.cli.main import app
from fivesafes.data.twin import TWIN_TABLE, make_twin
from fivesafes.errors import FivesafesError
from fivesafes.outputs.policy import ACRO

PSEUDONYM = "person_pseudonym"


def _workspace(path: Path) -> Path:
    rng = np.random.default_rng(3)
    n = 400
    ids = [f"real{i:012d}" for i in range(n)]
    sex = rng.choice(["F", "M"], n)
    birth = rng.integers(1990, 2000, n)
    visits, events = [], []
    for i, pid in enumerate(ids):
        k = int(rng.integers(2, 7))
        start = int(birth[i]) + int(rng.integers(5, 8))
        level = rng.normal(50, 10)
        clinic = "RARE" if i < 3 else str(rng.choice(["C1", "C2", "C3"]))
        for j in range(15 if i < 3 else k):
            score = 10**6 if (i == 5 and j == 0) else level + 2 * j + rng.normal(0, 2)
            visits.append((pid, sex[i], start + j, clinic, float(score), int(birth[i])))
        if rng.random() < 0.4:
            day = date(int(birth[i]) + 15, 1, 1) + timedelta(days=int(rng.integers(0, 2000)))
            for _ in range(int(rng.integers(1, 4))):
                events.append((pid, sex[i], day, day + timedelta(days=30), int(birth[i])))
                day += timedelta(days=int(rng.integers(10, 400)))
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE visits (person_pseudonym VARCHAR, sex VARCHAR, visit_year BIGINT, "
        "clinic VARCHAR, score DOUBLE, birth_year SMALLINT)"
    )
    con.executemany("INSERT INTO visits VALUES (?, ?, ?, ?, ?, ?)", visits)
    con.execute(
        "CREATE TABLE events (person_pseudonym VARCHAR, sex VARCHAR, event_date DATE, "
        "end_date DATE, birth_year SMALLINT)"
    )
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", events)
    con.execute("CREATE TABLE places (code VARCHAR, name VARCHAR)")
    con.execute("INSERT INTO places VALUES ('C1', 'one'), ('C2', 'two')")
    con.execute(
        "CREATE TABLE _manifest (project VARCHAR NOT NULL, dataset VARCHAR NOT NULL, "
        "title VARCHAR, rows BIGINT NOT NULL, created_at TIMESTAMP NOT NULL, "
        "fivesafes_version VARCHAR NOT NULL)"
    )
    for t in ("visits", "events", "places"):
        con.execute(
            f"INSERT INTO _manifest SELECT 'p1', ?, ?, count(*), now()::TIMESTAMP, 'test' FROM {t}",
            [t, t],
        )
    con.execute("CREATE TABLE derived_by_curation AS SELECT 1 AS x")
    con.close()
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("twin")
    ws = _workspace(base / "workspace.duckdb")
    twin = base / "twin.duckdb"
    make_twin(ws, twin, policy=ACRO, seed=11)
    return ws, twin


def _read(path: Path, table: str) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.table(table).df()


def _schema(path: Path) -> dict[str, list[tuple[str, str]]]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "ORDER BY table_name, ordinal_position"
        ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for t, c, ty in rows:
        out.setdefault(t, []).append((c, ty))
    return out


def test_same_tables_columns_and_types_as_the_workspace(pair: tuple[Path, Path]) -> None:
    ws, twin = pair
    real, fake = _schema(ws), _schema(twin)
    assert set(fake) == {"visits", "events", "places", "_manifest", TWIN_TABLE}
    for t in ("visits", "events", "places", "_manifest"):
        assert fake[t] == real[t], t
    manifest = _read(twin, "_manifest").set_index("dataset")["rows"]
    assert manifest["visits"] == len(_read(twin, "visits"))
    assert _read(twin, TWIN_TABLE)["threshold"].item() == 10


def test_no_real_pseudonym_no_rare_value_and_no_extreme(pair: tuple[Path, Path]) -> None:
    ws, twin = pair
    real_ids = set(_read(ws, "visits")[PSEUDONYM]) | set(_read(ws, "events")[PSEUDONYM])
    with duckdb.connect(str(twin), read_only=True) as con:
        for (t,) in con.execute("SHOW TABLES").fetchall():
            frame = con.table(t).df()
            for col in frame.columns:
                values = set(frame[col].dropna().astype(str))
                assert not values & real_ids, (t, col)  # the attacker's search
    visits = _read(twin, "visits")
    assert len(visits) > 1000
    assert "RARE" not in set(visits["clinic"])  # three persons' code
    assert visits["score"].max() < 200  # one person's 10^6 is gone
    assert visits[PSEUDONYM].str.fullmatch(r"[a-z2-7]{16}").all()
    # Numbers are drawn again, not copied: hardly any score equals a real one.
    real_scores = set(_read(ws, "visits")["score"].round(6))
    assert visits["score"].round(6).isin(real_scores).mean() < 0.01


def test_reference_tables_are_copied(pair: tuple[Path, Path]) -> None:
    ws, twin = pair
    assert _read(twin, "places").equals(_read(ws, "places"))


def test_persons_join_across_tables_as_in_the_workspace(pair: tuple[Path, Path]) -> None:
    ws, twin = pair
    shares = []
    for path in (ws, twin):
        v, e = _read(path, "visits"), _read(path, "events")
        both = set(v[PSEUDONYM]) & set(e[PSEUDONYM])
        shares.append(len(both) / v[PSEUDONYM].nunique())
        # a person's sex and birth year agree across the two tables
        m = v.drop_duplicates(PSEUDONYM).merge(e.drop_duplicates(PSEUDONYM), on=PSEUDONYM)
        assert (m["sex_x"] == m["sex_y"]).all()
        assert (m["birth_year_x"] == m["birth_year_y"]).all()
    assert shares[0] == pytest.approx(0.4, abs=0.08)
    assert shares[1] == pytest.approx(shares[0], abs=0.08)


def test_time_runs_forward_within_a_person(pair: tuple[Path, Path]) -> None:
    _, twin = pair
    v = _read(twin, "visits").sort_values([PSEUDONYM, "visit_year"])
    per = v.groupby(PSEUDONYM)
    assert per.size().between(2, 6).mean() > 0.95
    gaps = per["visit_year"].diff().dropna()
    assert (gaps == 1).mean() > 0.9
    age = v["visit_year"] - v["birth_year"]
    assert age.min() >= 4 and age.max() <= 16
    # scores persist within a person as in the workspace (a drifting level)
    first = per["score"].first()
    last = per["score"].last()
    assert np.corrcoef(first, last)[0, 1] > 0.5
    e = _read(twin, "events")
    assert ((e["end_date"] - e["event_date"]).dt.days.abs() <= 60).mean() > 0.9


def test_seeded_twins_repeat_and_others_differ(pair: tuple[Path, Path], tmp_path: Path) -> None:
    ws, twin = pair
    make_twin(ws, tmp_path / "again.duckdb", policy=ACRO, seed=11)
    make_twin(ws, tmp_path / "other.duckdb", policy=ACRO, seed=12)
    paths = (twin, tmp_path / "again.duckdb", tmp_path / "other.duckdb")
    a, b, c = (_read(p, "visits") for p in paths)
    assert a.equals(b)
    assert not set(a[PSEUDONYM]) & set(c[PSEUDONYM])


def test_a_stricter_threshold_drops_more(pair: tuple[Path, Path], tmp_path: Path) -> None:
    from dataclasses import replace

    ws, _ = pair
    out = tmp_path / "strict.duckdb"
    make_twin(ws, out, policy=replace(ACRO, threshold=200), seed=1)
    visits = _read(out, "visits")
    real = _read(ws, "visits")
    kept = real.groupby("clinic")[PSEUDONYM].nunique()
    assert set(visits["clinic"].dropna()) <= set(kept[kept >= 200].index)


def test_not_a_workspace_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(FivesafesError, match=r"plain\.duckdb has no _manifest"):
        make_twin(path, tmp_path / "t.duckdb")
    with pytest.raises(FivesafesError, match="no workspace file"):
        make_twin(tmp_path / "missing.duckdb", tmp_path / "t.duckdb")
    with pytest.raises(FivesafesError, match="is the workspace itself"):
        make_twin(path, path)


def test_cli_writes_the_twin_and_says_so(pair: tuple[Path, Path], tmp_path: Path) -> None:
    ws, _ = pair
    out = tmp_path / "cli.duckdb"
    run = CliRunner().invoke(
        app, ["twin", "--workspace", str(ws), "--out", str(out), "--seed", "2", "--json"]
    )
    assert run.exit_code == 0, run.output
    summary = json.loads(run.output)
    assert summary["command"] == "twin" and summary["threshold"] == 10
    assert summary["rows"]["visits"] == len(_read(out, "visits"))
    assert summary["copied"] == ["places"]
    run = CliRunner().invoke(app, ["twin", "--workspace", str(tmp_path / "x"), "--out", "y"])
    assert isinstance(run.exception, FivesafesError)  # main() answers it with exit 2
    assert "no workspace file" in str(run.exception)
