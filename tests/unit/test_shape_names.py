"""The studies' protocol names trajectory groups by shape: on the curves the
synthetic world plants (docs/synthetic-world.md: intercepts 63/51/40/55/37, slopes
0/0/+2.2/-2.4/0, curvatures 0/0/-0.05/-0.05/0) the names are the planted ones,
and on data with no shape at all (a twin) every group is still named."""

from __future__ import annotations

import numpy as np

from fivesafes.analysis.study_data import shape_names

T = np.arange(10.0)[:, None]


def test_the_planted_curves_get_their_planted_names() -> None:
    curves = (
        np.array([63, 51, 40, 55, 37.0])
        + np.array([0, 0, 2.2, -2.4, 0]) * T
        + np.array([0, 0, -0.05, -0.05, 0]) * T**2
    )
    assert shape_names(curves) == {
        1: "stable_high",
        2: "stable_middle",
        3: "rising",
        4: "declining",
        5: "stable_low",
    }


def test_flat_curves_still_name_every_group_once() -> None:
    for k in range(1, 8):
        names = shape_names(np.ones((10, k)) * np.arange(k))
        assert sorted(names) == list(range(1, k + 1))
        assert len(set(names.values())) == k
