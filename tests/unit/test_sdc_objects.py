"""Output objects built from microdata: counts, margins, contributors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fivesafes.outputs import FrequencyTable, MagnitudeTable, check, histogram, load_policy
from fivesafes.outputs.objects import TOTAL


def micro(n: int = 2000, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.integers(0, 5, n),
            "b": rng.choice(["x", "y", "z"], n),
            "c": rng.choice(["p", "q"], n),
            "pid": rng.integers(0, n // 2, n),
            "v": rng.gamma(2, 10, n),
        }
    )


def test_three_dimensional_counts_and_margins_match_pandas() -> None:
    df = micro()
    t = FrequencyTable.from_microdata(df, ["a", "b", "c"])
    assert t.size == 6 * 4 * 3
    lab = t.labels
    got = dict(zip(map(tuple, lab.to_numpy()), t.values, strict=True))
    expect = df.groupby(["a", "b", "c"]).size()
    for (a, b, c), n in expect.items():
        assert got[(str(a), b, c)] == n
    assert got[(TOTAL, TOTAL, TOTAL)] == len(df)
    assert got[("2", TOTAL, "q")] == ((df.a == 2) & (df.c == "q")).sum()
    lt = t.linear()
    lt.check()  # every margin is the sum of its parts
    assert len(lt.constraints) > 0


def test_person_counts_are_distinct_people() -> None:
    df = micro()
    t = FrequencyTable.from_microdata(df, ["b"], person="pid")
    got = dict(zip(t.labels["b"], t.values, strict=True))
    assert got["x"] == df[df.b == "x"].pid.nunique()
    assert got[TOTAL] == df.pid.nunique()
    assert t.notes  # people in several cells: the margin is not additive


def test_magnitude_top_contributions_match_naive() -> None:
    df = micro()
    t = MagnitudeTable.from_microdata(df, ["a", "b"], "v", person="pid", keep_top=3)
    per_person = df.groupby(["a", "b", "pid"]).v.sum()
    for i, (a, b) in enumerate(t.labels.itertuples(index=False)):
        if TOTAL in (a, b):
            continue
        s = per_person.loc[(int(a), b)].sort_values(ascending=False)
        assert np.allclose(t.top[i, :3], s.to_numpy()[:3])
        assert t.counts[i] == len(s)
        assert np.isclose(t.total[i], s.sum())
        assert np.isclose(t.values[i], s.sum())
    grand = int(np.flatnonzero((t.labels == TOTAL).all(axis=1).to_numpy())[0])
    top = df.groupby("pid").v.sum().sort_values(ascending=False).to_numpy()[:3]
    assert np.allclose(t.top[grand], top)


def test_mean_table_has_no_additive_constraints() -> None:
    t = MagnitudeTable.from_microdata(micro(), ["a"], "v", statistic="mean")
    assert t.cells().constraints == []


def test_hierarchy_nested_totals() -> None:
    df = pd.DataFrame(
        {
            "area": ["Leeds", "York", "North", "Bath", "South", "Total"],
            "n": [30, 20, 50, 40, 40, 90],
        }
    )
    t = FrequencyTable.from_long(
        df,
        ["area"],
        "n",
        hierarchies={"area": {"North": ["Leeds", "York"], "South": ["Bath"]}},
    )
    cons = {t_: sorted(p) for t_, p in t.constraints()}
    assert cons[2] == [0, 1]
    assert cons[4] == [3]
    assert cons[5] == [0, 1, 3]  # Total is the sum of the leaves, not of leaves and parents


def test_histogram_outer_bins_reviewed() -> None:
    h = histogram(np.arange(100.0), bins=5)
    result = check(h, load_policy("acro"))
    assert [v.status for v in result.verdicts[:5]] == ["review", "pass", "pass", "pass", "review"]


def test_a_large_crosstab_gets_a_verdict_for_every_cell_and_margin() -> None:
    """200 × 20 from 200,000 rows: every cell and margin (201 × 21) has a verdict.
    (Its speed is for benchmarks/bench_sdc.py: tests assert no timings.)"""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.integers(0, 200, 200_000), "b": rng.integers(0, 20, 200_000)})
    from fivesafes.outputs.primary import primary

    verdicts = primary(FrequencyTable.from_microdata(df, ["a", "b"]).cells(), load_policy("acro"))
    assert len(verdicts) == 201 * 21


def test_microdata_hierarchy_counts_parents_and_constraints_hold() -> None:
    df = micro()
    df["a"] = df["a"].astype(str)
    tree = {"low": ["0", "1"], "high": ["2", "3", "4"]}
    t = FrequencyTable.from_microdata(df, ["a", "b"], hierarchies={"a": tree})
    got = dict(zip(map(tuple, t.labels.to_numpy()), t.values, strict=True))
    assert got[("low", "x")] == ((df.a.isin(["0", "1"])) & (df.b == "x")).sum()
    assert got[("high", TOTAL)] == df.a.isin(["2", "3", "4"]).sum()
    lt = t.linear()
    lt.check()
    parents = {t_ for t_, _ in lt.constraints if t.labels.iloc[t_]["a"] in tree}
    assert len(parents) == 2 * 4  # each parent, for x, y, z and Total
