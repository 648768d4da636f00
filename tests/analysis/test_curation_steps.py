"""Curation steps: run in dependency order, re-run only when their inputs or code
change, and fail naming the step, keeping what was there before."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from fivesafes.analysis.curation.steps import STATE_TABLE, CurationError, Pipeline, Step


def _pipeline(y_sql: str = "SELECT k, v * 2 AS v2 FROM x") -> Pipeline:
    return Pipeline(
        [
            # listed out of order on purpose: the pipeline orders them by their inputs
            Step("double", "x doubled", ("x",), ("y",), sql=y_sql),
            Step(
                "big_a", "rows of a with v > 1", ("a",), ("x",), sql="SELECT * FROM a WHERE v > 1"
            ),
            Step("count_b", "rows of b", ("b",), ("z",), sql="SELECT count(*) AS n FROM b"),
            Step(
                "join",
                "y beside z",
                ("y", "z"),
                ("w",),
                function=lambda con: con.execute("SELECT * FROM y, z").df(),
            ),
        ]
    )


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect(str(tmp_path / "ws.duckdb"))
    c.execute("CREATE TABLE a AS SELECT * FROM (VALUES (1, 1), (2, 5), (3, 7)) t(k, v)")
    c.execute("CREATE TABLE b AS SELECT * FROM (VALUES ('p'), ('q')) t(c)")
    return c


def test_order_follows_inputs() -> None:
    order = _pipeline().order
    assert order.index("big_a") < order.index("double") < order.index("join")
    assert order.index("count_b") < order.index("join")


def test_first_run_runs_all_then_nothing(con: duckdb.DuckDBPyConnection) -> None:
    p = _pipeline()
    first = p.run(con)
    assert sorted(first.ran) == ["big_a", "count_b", "double", "join"]
    assert con.execute("SELECT * FROM w ORDER BY k").fetchall() == [(2, 10, 2), (3, 14, 2)]
    again = p.run(con)
    assert again.ran == []
    assert sorted(again.unchanged) == ["big_a", "count_b", "double", "join"]


def test_changed_input_reruns_only_dependent_steps(con: duckdb.DuckDBPyConnection) -> None:
    p = _pipeline()
    p.run(con)
    con.execute("INSERT INTO b VALUES ('r')")
    assert sorted(p.run(con).ran) == ["count_b", "join"]
    assert con.execute("SELECT DISTINCT n FROM w").fetchall() == [(3,)]
    con.execute("UPDATE a SET v = 9 WHERE k = 3")
    assert sorted(p.run(con).ran) == ["big_a", "double", "join"]
    assert p.run(con).ran == []


def test_input_change_that_leaves_an_output_equal_stops_there(
    con: duckdb.DuckDBPyConnection,
) -> None:
    p = _pipeline()
    p.run(con)
    con.execute("INSERT INTO a VALUES (4, 0)")  # filtered out by big_a: x is unchanged
    assert p.run(con).ran == ["big_a"]


def test_changed_code_reruns_the_step_and_what_follows(con: duckdb.DuckDBPyConnection) -> None:
    _pipeline().run(con)
    changed = _pipeline("SELECT k, v * 3 AS v2 FROM x")
    assert changed.run(con).ran == ["double", "join"]
    assert con.execute("SELECT v2 FROM w ORDER BY k").fetchall() == [(15,), (21,)]


def test_output_changed_or_dropped_outside_reruns(con: duckdb.DuckDBPyConnection) -> None:
    p = _pipeline()
    p.run(con)
    con.execute("DELETE FROM y WHERE k = 2")
    assert p.run(con).ran == ["double"]  # y restored as before: join's inputs are unchanged
    con.execute("DROP TABLE z")
    assert p.run(con).ran == ["count_b"]


def test_only_runs_a_step_and_its_upstream(con: duckdb.DuckDBPyConnection) -> None:
    assert _pipeline().run(con, only=["double"]).ran == ["big_a", "double"]


def test_state_is_kept_in_the_workspace(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    _pipeline().run(con)
    con.close()
    again = duckdb.connect(str(tmp_path / "ws.duckdb"))
    assert again.execute(f"SELECT count(*) FROM {STATE_TABLE}").fetchall() == [(4,)]
    assert _pipeline().run(again).ran == []


def test_failing_step_is_named_and_rolled_back(con: duckdb.DuckDBPyConnection) -> None:
    _pipeline().run(con)
    before = con.execute("SELECT * FROM y ORDER BY k").fetchall()
    broken = _pipeline("SELECT k, no_such_column FROM x")
    with pytest.raises(CurationError, match=r"step 'double' failed: .*no_such_column"):
        broken.run(con)
    assert con.execute("SELECT * FROM y ORDER BY k").fetchall() == before
    assert _pipeline().run(con).ran == []  # the state still describes the good run


def test_function_step_error_names_the_step(con: duckdb.DuckDBPyConnection) -> None:
    def boom(c: duckdb.DuckDBPyConnection) -> pd.DataFrame:
        raise ValueError("bad date in column x")

    p = Pipeline([Step("explode", "fails", ("a",), ("e",), function=boom)])
    with pytest.raises(CurationError, match=r"step 'explode' failed: bad date in column x"):
        p.run(con)
    assert "e" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}


def test_missing_input_names_the_step(con: duckdb.DuckDBPyConnection) -> None:
    p = Pipeline([Step("needs_c", "reads c", ("c",), ("d",), sql="SELECT * FROM c")])
    with pytest.raises(CurationError, match=r"step 'needs_c' reads c, not in the workspace"):
        p.run(con)


def test_identifier_columns_are_refused(con: duckdb.DuckDBPyConnection) -> None:
    p = Pipeline(
        [Step("leaky", "an identifier", ("a",), ("l",), sql="SELECT 'AB1 2CD' AS postcode")]
    )
    with pytest.raises(CurationError, match=r"step 'leaky'.*named like identifiers \(postcode\)"):
        p.run(con)


def test_undeclared_tables_are_refused(con: duckdb.DuckDBPyConnection) -> None:
    def two(c: duckdb.DuckDBPyConnection) -> None:
        c.execute("CREATE TABLE o1 AS SELECT 1 AS x")
        c.execute("CREATE TABLE o2 AS SELECT 2 AS x")

    p = Pipeline([Step("sneaky", "writes two", ("a",), ("o1",), function=two)])
    with pytest.raises(CurationError, match=r"step 'sneaky'.*does not declare: o2"):
        p.run(con)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            [
                Step("s1", "", ("t2",), ("t1",), sql="SELECT 1"),
                Step("s2", "", ("t1",), ("t2",), sql="SELECT 1"),
            ],
            "cycle",
        ),
        (
            [
                Step("s1", "", (), ("t",), sql="SELECT 1"),
                Step("s1", "", (), ("u",), sql="SELECT 1"),
            ],
            "two steps are named 's1'",
        ),
        (
            [
                Step("s1", "", (), ("t",), sql="SELECT 1"),
                Step("s2", "", (), ("t",), sql="SELECT 1"),
            ],
            "step 's2' writes 't', which step 's1' writes too",
        ),
    ],
)
def test_bad_pipelines(steps: list[Step], message: str) -> None:
    with pytest.raises(CurationError, match=message):
        Pipeline(steps)


def test_bad_step_definitions() -> None:
    with pytest.raises(CurationError, match="either sql or a function"):
        Step("s", "", ("a",), ("b",))
    with pytest.raises(CurationError, match="exactly one table"):
        Step("s", "", ("a",), ("b", "c"), sql="SELECT 1")
    with pytest.raises(CurationError, match="step name"):
        Step("bad name!", "", ("a",), ("b",), sql="SELECT 1")
