"""Moran's I through fivesafes' neighbour-pairs route matches published values.

The datasets ship inside libpysal (libpysal.examples, offline). Their GAL files
are turned into the ``area,neighbour`` pairs table a user would give, and the
result of :func:`fivesafes.analysis.spatial.moran` (row-standardised weights) is
compared with the values published in esda's documentation (the docstrings of
``esda.moran.Moran`` and ``esda.moran.Moran_Local``, esda 2.x, which reproduce
GeoDa's):

- St Louis region homicide rates 1988-93 (``stl_hom.txt``, ``HR8893``, 78
  counties, ``stl.gal``): I = 0.244, E[I] = -0.012987012987012988,
  p_norm = 0.00027147862770937614.
- North Carolina SIDS rates 1974 (``sids2.dbf``, ``SIDR74``, 100 counties,
  ``sids2.gal``): I = 0.248, p_norm = 0.0001158330781489969.
- de Smith's 10-area example (``desmith.txt``, ``z``, ``desmith.gal``): local
  Moran quadrants q = [4, 4, 4, 2, 3, 3, 1, 4, 3, 3] (esda codes: 1 HH, 2 LH,
  3 LL, 4 HL).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fivesafes.analysis.spatial import QUADRANTS, moran, read_neighbours

libpysal = pytest.importorskip("libpysal")


def _pairs_and_values(
    gal: str, data: str, column: str
) -> tuple[list[str], np.ndarray, pd.DataFrame]:
    from libpysal.examples import get_path

    w = libpysal.io.open(get_path(gal)).read()
    f = libpysal.io.open(get_path(data))
    y = np.array(f.by_col(column), dtype=float)
    ids = [str(i) for i in w.id_order]
    pairs = pd.DataFrame(
        [(str(a), str(b)) for a in w.id_order for b in w.neighbors[a]],
        columns=["area", "neighbour"],
    )
    return ids, y, pairs


def test_st_louis_homicides_match_esda_documentation() -> None:
    ids, y, pairs = _pairs_and_values("stl.gal", "stl_hom.txt", "HR8893")
    result = moran(ids, y, read_neighbours(pairs, ids), permutations=999, seed=1)
    s = result.summary
    assert round(s["I"], 3) == 0.244
    assert s["expected_I"] == pytest.approx(-0.012987012987012988, rel=1e-12)
    assert s["p_norm"] == pytest.approx(0.00027147862770937614, rel=1e-6)
    assert s["p_sim"] < 0.01


def test_sids_1974_matches_esda_documentation() -> None:
    ids, y, pairs = _pairs_and_values("sids2.gal", "sids2.dbf", "SIDR74")
    s = moran(ids, y, read_neighbours(pairs, ids), permutations=99, seed=1).summary
    assert round(s["I"], 3) == 0.248
    assert s["p_norm"] == pytest.approx(0.0001158330781489969, rel=1e-6)


def test_de_smith_local_quadrants_match_esda_documentation() -> None:
    ids, y, pairs = _pairs_and_values("desmith.gal", "desmith.txt", "z")
    local = moran(ids, y, read_neighbours(pairs, ids), permutations=99, seed=10).table("local")
    expected = [QUADRANTS[q] for q in (4, 4, 4, 2, 3, 3, 1, 4, 3, 3)]
    assert local["quadrant"].tolist() == expected
    assert expected[:4] == ["HL", "HL", "HL", "LH"]


def test_wrapper_equals_esda_called_directly() -> None:
    """Same weights, same seed: the wrapper's I, z, p_sim and local statistics are
    esda's own (nothing lost or reordered in the pairs route)."""
    from esda.moran import Moran, Moran_Local
    from libpysal.examples import get_path

    ids, y, pairs = _pairs_and_values("stl.gal", "stl_hom.txt", "HR8893")
    result = moran(ids, y, read_neighbours(pairs, ids), permutations=999, seed=7)
    w = libpysal.io.open(get_path("stl.gal")).read()
    w.transform = "r"
    np.random.seed(7)
    mi = Moran(y, w, permutations=999)
    with pytest.warns(DeprecationWarning):  # esda: its default alternative will change
        lm = Moran_Local(y, w, permutations=999, seed=7)
    assert result.summary["I"] == pytest.approx(mi.I, rel=1e-12)
    assert result.summary["z"] == pytest.approx(mi.z_sim, rel=1e-12)
    assert result.summary["p_sim"] == pytest.approx(mi.p_sim)
    local = result.table("local")
    np.testing.assert_allclose(local["local_I"], lm.Is, rtol=1e-12)
    np.testing.assert_allclose(local["p_sim"], lm.p_sim)
