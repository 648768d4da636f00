"""Moran's I and LISA on the synthetic world: the planted ASD hotspot is found.

Planted (docs/synthetic-world.md, "Schools"): the special-needs type ASD has 4
times its weight in the hotspot, the 6% of areas nearest a random centre
(``hotspot_area`` in truth/people.csv, by the area at school entry). So the
share of pupils with a need whose need is ASD is spatially clustered: global
Moran's I is positive and significant, and the hotspot areas are significant
high-high (HH) clusters of local Moran.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fivesafes.analysis.result import AnalysisResult
from fivesafes.analysis.spatial import moran, read_neighbours, read_values
from fivesafes.errors import FivesafesError, InputError
from fivesafes.outputs import FrequencyTable, load_policy


@pytest.fixture(scope="module")
def hotspot_result(asd_areas: tuple[pd.DataFrame, Path]) -> tuple[pd.DataFrame, AnalysisResult]:
    areas, pairs_path = asd_areas
    ids, values = read_values(areas, "area_code", "asd_share")
    nb = read_neighbours(pd.read_csv(pairs_path, dtype=str), ids)
    result = moran(
        ids,
        values,
        nb,
        permutations=999,
        seed=3,
        id_name="area_code",
        counts=areas["sen_pupils"].to_numpy(),
        value_name="asd_share",
        coords=areas[["x", "y"]].to_numpy(),
    )
    return areas, result


def test_hotspot_global_moran_is_significant(
    hotspot_result: tuple[pd.DataFrame, AnalysisResult],
) -> None:
    areas, result = hotspot_result
    s = result.summary
    assert s["areas"] == len(areas) >= 64
    assert s["expected_I"] == pytest.approx(-1 / (len(areas) - 1))
    assert s["I"] > 0.1
    assert s["p_sim"] <= 0.01  # (extreme + 1) / 1000
    assert s["z"] > 2.5


def test_lisa_hh_areas_cover_the_planted_hotspot(
    hotspot_result: tuple[pd.DataFrame, AnalysisResult], asd_areas: tuple[pd.DataFrame, Path]
) -> None:
    areas, result = hotspot_result
    pairs_path = asd_areas[1]
    local = result.table("local").merge(areas[["area_code", "hotspot"]], on="area_code")
    hot = local[local["hotspot"] == 1]
    assert len(hot) >= 3  # 6% of 64 areas
    # every planted hotspot area is a significant high-high cluster ...
    assert (hot["quadrant"] == "HH").all(), hot
    assert (hot["p_sim"] < 0.05).all(), hot
    # ... and the other significant HH areas are the hotspot's neighbours (their
    # neighbours' average includes the hotspot)
    hh = set(local.loc[(local["quadrant"] == "HH") & (local["p_sim"] < 0.05), "area_code"])
    pairs = pd.read_csv(pairs_path, dtype=str)
    ring = set(pairs.loc[pairs["area"].isin(hot["area_code"]), "neighbour"])
    assert hh <= set(hot["area_code"]) | ring, hh - set(hot["area_code"]) - ring
    assert local["quadrant"].isin(["HH", "LL", "HL", "LH"]).all()


def test_result_is_checkable_as_an_area_table(
    hotspot_result: tuple[pd.DataFrame, AnalysisResult], asd_areas: tuple[pd.DataFrame, Path]
) -> None:
    areas, result = hotspot_result
    pairs_path = asd_areas[1]
    outputs = result.outputs()
    assert set(outputs) == {"local", "moran_scatter", "lisa_map"}
    table = outputs["local"]
    assert isinstance(table, FrequencyTable) and table.kind == "area table"
    assert table.values.sum() == areas["sen_pupils"].sum()
    assert areas["sen_pupils"].min() >= 10  # every area above acro's threshold of 10
    checks = result.check(load_policy("acro"))
    assert checks["local"].status == "pass"
    for figure in ("moran_scatter", "lisa_map"):
        assert result.figures[figure].png.startswith(b"\x89PNG")
    # an area with 3 pupils behind its value is not released as it is
    ids, values = read_values(areas, "area_code", "asd_share")
    counts = areas["sen_pupils"].to_numpy().copy()
    counts[0] = 3
    nb = read_neighbours(pd.read_csv(pairs_path, dtype=str), ids)
    small = moran(ids, values, nb, permutations=9, seed=1, id_name="area_code", counts=counts)
    verdicts = {v.label[0]: v.status for v in small.check(load_policy("acro"))["local"].verdicts}
    assert verdicts[ids[0]] == "suppress"
    assert verdicts[ids[1]] == "pass"


def test_same_seed_same_p_values(asd_areas: tuple[pd.DataFrame, Path]) -> None:
    areas, pairs_path = asd_areas
    ids, values = read_values(areas, "area_code", "asd_share")
    nb = read_neighbours(pd.read_csv(pairs_path, dtype=str), ids)
    a = moran(ids, values, nb, permutations=99, seed=11)
    b = moran(ids, values, nb, permutations=99, seed=11)
    assert a.summary == b.summary
    pd.testing.assert_frame_equal(a.table("local"), b.table("local"))


def test_no_spatial_pattern_rejects_at_the_nominal_rate(
    asd_areas: tuple[pd.DataFrame, Path],
) -> None:
    """Values shuffled over the areas have no autocorrelation: over 60 shuffles the
    mean I is near E[I] = -1/(n-1) and p_sim < 0.05 about 5% of the time."""
    areas, pairs_path = asd_areas
    ids, values = read_values(areas, "area_code", "asd_share")
    nb = read_neighbours(pd.read_csv(pairs_path, dtype=str), ids)
    rng = np.random.default_rng(5)
    runs = [
        moran(ids, rng.permutation(values), nb, permutations=99, seed=k).summary for k in range(60)
    ]
    mean_i = np.mean([r["I"] for r in runs])
    assert mean_i == pytest.approx(runs[0]["expected_I"], abs=0.03)
    assert np.mean([r["p_sim"] < 0.05 for r in runs]) <= 0.15


AREAS = pd.DataFrame({"id": ["a", "b", "c", "d"], "v": ["1", "2", "3", "4"]})
PAIRS = pd.DataFrame(
    {"area": ["a", "b", "b", "c", "c", "d"], "neighbour": ["b", "a", "c", "b", "d", "c"]}
)


def test_unknown_area_in_pairs_names_file_row_field() -> None:
    ids, _ = read_values(AREAS, "id", "v", file="areas.csv")
    bad = pd.concat([PAIRS, pd.DataFrame({"area": ["d"], "neighbour": ["zz"]})])
    with pytest.raises(InputError) as exc:
        read_neighbours(bad.reset_index(drop=True), ids, file="pairs.csv")
    msg = str(exc.value)
    assert "pairs.csv, row 7" in msg and "field 'neighbour'" in msg and "'zz'" in msg


def test_island_is_refused_by_name() -> None:
    areas = pd.concat([AREAS, pd.DataFrame({"id": ["e"], "v": ["5"]})], ignore_index=True)
    ids, _ = read_values(areas, "id", "v", file="areas.csv")
    with pytest.raises(FivesafesError, match=r"pairs.csv: 1 area\(s\) have no neighbours.*: e"):
        read_neighbours(PAIRS, ids, file="pairs.csv")


def test_non_numeric_value_names_file_row_field() -> None:
    areas = AREAS.assign(v=["1", "2", "three", "4"])
    with pytest.raises(InputError) as exc:
        read_values(areas, "id", "v", file="areas.csv")
    msg = str(exc.value)
    assert "areas.csv, row 3" in msg and "field 'v'" in msg and "'three'" in msg


def test_self_pair_and_duplicate_area_refused() -> None:
    ids, _ = read_values(AREAS, "id", "v")
    self_pair = pd.concat([PAIRS, pd.DataFrame({"area": ["a"], "neighbour": ["a"]})])
    with pytest.raises(InputError, match="its own neighbour"):
        read_neighbours(self_pair.reset_index(drop=True), ids)
    with pytest.raises(InputError, match="appears twice"):
        read_values(AREAS.assign(id=["a", "b", "a", "d"]), "id", "v")


def test_asymmetric_pairs_are_used_as_given_with_a_note() -> None:
    ids, values = read_values(AREAS, "id", "v")
    nb = read_neighbours(PAIRS.drop(index=4), ids)  # c -> d dropped, d -> c kept
    assert nb.asymmetric == 1
    result = moran(ids, values, nb, permutations=9, seed=1)
    assert any("no reverse pair" in n for n in result.notes)


def test_values_and_neighbours_must_be_for_the_same_areas() -> None:
    ids, values = read_values(AREAS, "id", "v")
    nb = read_neighbours(PAIRS, ids)
    with pytest.raises(ValueError, match="other areas"):
        moran(ids[::-1], values, nb, permutations=9)
    with pytest.raises(ValueError, match="3 values for 4 areas"):
        moran(ids, values[:3], nb, permutations=9)
